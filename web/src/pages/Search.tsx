import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { registry } from "../api";
import { CertificateStatus } from "../gen/fleuve/homologation/v1/types_pb";
import { formatDate } from "../format";
import { ErrorNotice } from "./ErrorNotice";

/** Public: certificates by brand and/or model prefix (SearchCertificates), every status. */
export function Search() {
  const { t } = useTranslation();
  const [params, setParams] = useSearchParams();
  const brand = params.get("brand") ?? "";
  const model = params.get("model") ?? "";
  const [typed, setTyped] = useState({ brand, model });
  const query = useQuery({
    queryKey: ["search", brand, model],
    queryFn: () => registry.searchCertificates({ brand, model, pageSize: 50 }),
    enabled: brand !== "" || model !== "",
    retry: false,
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const next: Record<string, string> = {};
    if (typed.brand.trim()) next.brand = typed.brand.trim();
    if (typed.model.trim()) next.model = typed.model.trim();
    setParams(next);
  };
  return (
    <section>
      <h1>{t("search.title")}</h1>
      <form onSubmit={submit} className="inline">
        <div className="field">
          <label htmlFor="search-brand">{t("verify.brand")}</label>
          <input id="search-brand" value={typed.brand} onChange={(e) => setTyped({ ...typed, brand: e.target.value })} />
        </div>
        <div className="field">
          <label htmlFor="search-model">{t("verify.model")}</label>
          <input id="search-model" value={typed.model} onChange={(e) => setTyped({ ...typed, model: e.target.value })} />
        </div>
        <button type="submit">{t("search.submit")}</button>
      </form>
      {query.isError && <ErrorNotice error={query.error} />}
      {query.data &&
        (query.data.certificates.length === 0 ? (
          <p>{t("search.none")}</p>
        ) : (
          <table className="list" data-testid="search-results">
            <thead>
              <tr>
                <th scope="col">{t("verify.number")}</th>
                <th scope="col">{t("verify.brand")}</th>
                <th scope="col">{t("verify.model")}</th>
                <th scope="col">{t("verify.status")}</th>
                <th scope="col">{t("verify.validUntil")}</th>
              </tr>
            </thead>
            <tbody>
              {query.data.certificates.map((c) => (
                <tr key={c.certificateNumber}>
                  <td>
                    <Link to={`/verify?number=${encodeURIComponent(c.certificateNumber)}`}>{c.certificateNumber}</Link>
                  </td>
                  <td>{c.brand}</td>
                  <td>{c.model}</td>
                  <td>{t(`certificateStatus.${CertificateStatus[c.status]}`, { defaultValue: "" })}</td>
                  <td>{formatDate(c.validUntil)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
    </section>
  );
}
