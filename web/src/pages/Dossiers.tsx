import { useState } from "react";
import { Link, useSearchParams } from "react-router";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { homologation } from "../api";
import { DossierStatus, EquipmentCategory } from "../gen/fleuve/homologation/v1/types_pb";
import { formatDate } from "../format";
import { ErrorNotice } from "./ErrorNotice";
import { Role, useSession } from "../session";

const PAGE_SIZE = 20;
const STATUSES = [
  DossierStatus.DRAFT,
  DossierStatus.SUBMITTED,
  DossierStatus.INCOMPLETE,
  DossierStatus.UNDER_REVIEW,
  DossierStatus.APPROVED,
  DossierStatus.REJECTED,
  DossierStatus.WITHDRAWN,
];

export function statusName(status: DossierStatus): string {
  return DossierStatus[status] ?? "UNSPECIFIED";
}

export function categoryName(category: EquipmentCategory | undefined): string {
  return category === undefined ? "" : (EquipmentCategory[category] ?? "");
}

export function Dossiers() {
  const { t } = useTranslation();
  const { session } = useSession();
  const [params, setParams] = useSearchParams();
  const statusParam = params.get("status") ?? "";
  const status = STATUSES.find((s) => statusName(s) === statusParam) ?? DossierStatus.UNSPECIFIED;
  // The page tokens seen so far, for "previous"; reset when the filter changes.
  const [pages, setPages] = useState<{ filter: DossierStatus; tokens: string[] }>({ filter: status, tokens: [""] });
  const tokens = pages.filter === status ? pages.tokens : [""];
  const pageToken = tokens[tokens.length - 1];

  const query = useQuery({
    queryKey: ["dossiers", status, pageToken],
    queryFn: () => homologation.listDossiers({ status, pageSize: PAGE_SIZE, pageToken }),
    placeholderData: keepPreviousData,
  });

  const setStatus = (value: string) => {
    setPages({ filter: value ? STATUSES.find((s) => statusName(s) === value)! : DossierStatus.UNSPECIFIED, tokens: [""] });
    setParams(value ? { status: value } : {});
  };

  return (
    <section>
      <h1>{session?.role === Role.APPLICANT ? t("dossiers.mine") : t("dossiers.title")}</h1>
      <div className="toolbar">
        <label htmlFor="status-filter">{t("dossiers.filter")}</label>
        <select id="status-filter" value={statusParam} onChange={(e) => setStatus(e.target.value)}>
          <option value="">{t("dossiers.all")}</option>
          {STATUSES.map((s) => (
            <option key={s} value={statusName(s)}>
              {t(`status.${statusName(s)}`)}
            </option>
          ))}
        </select>
        {session?.role === Role.APPLICANT && (
          <Link className="button" to="/dossiers/new">
            {t("nav.newDossier")}
          </Link>
        )}
      </div>
      {query.isError && <ErrorNotice error={query.error} retry={() => query.refetch()} />}
      {query.isPending && <p aria-live="polite">{t("dossiers.loading")}</p>}
      {query.data &&
        (query.data.dossiers.length === 0 ? (
          <p>{t("dossiers.empty")}</p>
        ) : (
          <table className="list" aria-busy={query.isFetching}>
            <thead>
              <tr>
                <th scope="col">{t("dossiers.brand")}</th>
                <th scope="col">{t("dossiers.model")}</th>
                <th scope="col">{t("dossiers.category")}</th>
                <th scope="col">{t("dossiers.status")}</th>
                <th scope="col">{t("dossiers.created")}</th>
              </tr>
            </thead>
            <tbody>
              {query.data.dossiers.map((d) => (
                <tr key={d.dossierId}>
                  <td>
                    <Link to={`/dossiers/${d.dossierId}`}>{d.equipment?.brand}</Link>
                  </td>
                  <td>{d.equipment?.model}</td>
                  <td>{t(`category.${categoryName(d.equipment?.category)}`, { defaultValue: "" })}</td>
                  <td>
                    <span className={`status status-${statusName(d.status).toLowerCase()}`}>
                      {t(`status.${statusName(d.status)}`)}
                    </span>
                  </td>
                  <td>{formatDate(d.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
      <nav className="pager" aria-label={t("dossiers.page", { n: tokens.length })}>
        <button
          type="button"
          disabled={tokens.length <= 1}
          onClick={() => setPages({ filter: status, tokens: tokens.slice(0, -1) })}
        >
          {t("dossiers.previous")}
        </button>
        <span>{t("dossiers.page", { n: tokens.length })}</span>
        <button
          type="button"
          disabled={!query.data?.nextPageToken || query.isPlaceholderData}
          onClick={() => setPages({ filter: status, tokens: [...tokens, query.data!.nextPageToken] })}
        >
          {t("dossiers.next")}
        </button>
      </nav>
    </section>
  );
}
