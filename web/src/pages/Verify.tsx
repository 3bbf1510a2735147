import { useState, type FormEvent } from "react";
import { useSearchParams } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { Code, ConnectError } from "@connectrpc/connect";
import { useTranslation } from "react-i18next";
import { registry } from "../api";
import { CertificateStatus } from "../gen/fleuve/homologation/v1/types_pb";
import { formatDate } from "../format";
import { checkSeal } from "../seal";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ErrorNotice } from "./ErrorNotice";

/** Public: anyone checks a certificate by its number (no sign-in). */
export function Verify() {
  const { t } = useTranslation();
  const [params, setParams] = useSearchParams();
  const seal = params.get("seal") ?? "";
  const sealCheck = useQuery({ queryKey: ["seal", seal], queryFn: () => checkSeal(seal), enabled: seal !== "", retry: false });
  const sealed = sealCheck.data?.kind === "authentic" ? sealCheck.data.payload : null;
  const number = params.get("number") ?? sealed?.sub ?? "";
  const [typed, setTyped] = useState(number);
  const query = useQuery({
    queryKey: ["verify", number],
    queryFn: () => registry.verifyCertificate({ certificateNumber: number }),
    enabled: number !== "",
    retry: false,
  });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setParams(typed.trim() ? { number: typed.trim() } : {});
  };
  const notFound = query.error instanceof ConnectError && query.error.code === Code.NotFound;
  const c = query.data?.certificate;

  return (
    <section className="narrow">
      <h1>{t("verify.title")}</h1>
      <form onSubmit={submit} className="inline">
        <div className="field">
          <label htmlFor="certificate-number">{t("verify.number")}</label>
          <input
            id="certificate-number"
            value={typed}
            onChange={(e) => setTyped(e.target.value)}
            placeholder="ARPCE-HOM-2026-000001"
          />
        </div>
        <button type="submit">{t("verify.submit")}</button>
      </form>
      {seal && sealCheck.data && (
        <div
          className={sealCheck.data.kind === "authentic" ? "verdict valid" : "verdict invalid"}
          role="status"
          data-testid="seal"
        >
          <h2>{t(`verify.seal.${sealCheck.data.kind}`)}</h2>
          {sealCheck.data.kind === "forged" && <p>{t(`verify.seal.why.${sealCheck.data.reason}`)}</p>}
          {sealed && (
            <p>
              {t("verify.seal.says", {
                number: sealed.sub,
                brand: sealed.brand,
                model: sealed.model,
                until: formatDate(timestampFromDate(new Date(sealed.valid_until * 1000))),
              })}
            </p>
          )}
        </div>
      )}
      {sealCheck.isError && <ErrorNotice error={sealCheck.error} />}
      {notFound && (
        <p className="error" role="alert">
          {t("verify.notFound")}
        </p>
      )}
      {query.isError && !notFound && <ErrorNotice error={query.error} />}
      {query.data && c && (
        <div className={query.data.valid ? "verdict valid" : "verdict invalid"} role="status">
          <h2>{query.data.valid ? t("verify.valid") : t("verify.invalid")}</h2>
          <dl>
            <dt>{t("verify.number")}</dt>
            <dd>{c.certificateNumber}</dd>
            <dt>{t("verify.brand")}</dt>
            <dd>{c.brand}</dd>
            <dt>{t("verify.model")}</dt>
            <dd>{c.model}</dd>
            <dt>{t("verify.status")}</dt>
            <dd>{t(`certificateStatus.${CertificateStatus[c.status]}`, { defaultValue: "" })}</dd>
            <dt>{t("verify.validFrom")}</dt>
            <dd>{formatDate(c.validFrom)}</dd>
            <dt>{t("verify.validUntil")}</dt>
            <dd>{formatDate(c.validUntil)}</dd>
          </dl>
        </div>
      )}
    </section>
  );
}
