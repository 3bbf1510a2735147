import { Link } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { homologation } from "../api";
import { formatDate } from "../format";
import { categoryName, statusName } from "./Dossiers";
import { ErrorNotice } from "./ErrorNotice";

/** The signed-in reviewer's dossiers under review, oldest first. */
export function Queue() {
  const { t } = useTranslation();
  const query = useQuery({
    queryKey: ["queue"],
    queryFn: async () => (await homologation.getReviewerQueue({ pageSize: 100 })).dossiers,
  });
  return (
    <section>
      <h1>{t("queue.title")}</h1>
      {query.isError && <ErrorNotice error={query.error} />}
      {query.data &&
        (query.data.length === 0 ? (
          <p>{t("queue.empty")}</p>
        ) : (
          <table className="list">
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
              {query.data.map((d) => (
                <tr key={d.dossierId}>
                  <td>
                    <Link to={`/dossiers/${d.dossierId}`}>{d.equipment?.brand}</Link>
                  </td>
                  <td>{d.equipment?.model}</td>
                  <td>{t(`category.${categoryName(d.equipment?.category)}`, { defaultValue: "" })}</td>
                  <td>{t(`status.${statusName(d.status)}`)}</td>
                  <td>{formatDate(d.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
    </section>
  );
}
