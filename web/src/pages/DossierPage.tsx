import { Link, useParams } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { homologation } from "../api";
import { DossierStatus, PaymentStatus } from "../gen/fleuve/homologation/v1/types_pb";
import { formatKhz } from "../format";
import { isStaff, Role, useSession } from "../session";
import { History } from "./History";
import { StaffActions } from "./StaffActions";
import { ApplicantActions } from "./DossierActions";
import { Documents } from "./Documents";
import { ErrorNotice } from "./ErrorNotice";
import { categoryName, statusName } from "./Dossiers";

export function DossierPage() {
  const { t } = useTranslation();
  const { dossierId = "" } = useParams();
  const { session } = useSession();
  const query = useQuery({
    queryKey: ["dossier", dossierId],
    queryFn: () => homologation.getDossier({ dossierId }),
    retry: false,
  });

  if (query.isPending) return <p aria-live="polite">{t("dossiers.loading")}</p>;
  if (query.isError)
    return (
      <section>
        <h1>{t("dossier.title", { id: dossierId })}</h1>
        <ErrorNotice error={query.error} />
        <p>
          <Link to="/dossiers">{t("dossier.back")}</Link>
        </p>
      </section>
    );
  const d = query.data.dossier!;
  const mayEdit =
    session?.role === Role.APPLICANT && [DossierStatus.DRAFT, DossierStatus.INCOMPLETE].includes(d.status);
  const e = d.equipment;
  return (
    <section>
      <p>
        <Link to="/dossiers">{t("dossier.back")}</Link>
      </p>
      <h1>
        {e?.brand} {e?.model}
      </h1>
      <p>
        <span className={`status status-${statusName(d.status).toLowerCase()}`} data-testid="dossier-status">
          {t(`status.${statusName(d.status)}`)}
        </span>{" "}
        <span className="muted">{t("dossier.title", { id: d.dossierId })}</span>
      </p>
      {d.incompleteReason && (
        <p className="notice">
          <strong>{t("dossier.incompleteReason")}</strong> 
          {d.incompleteReason}
        </p>
      )}
      <div className="cards">
        <div className="card">
          <h2>{t("dossier.equipment")}</h2>
          <dl>
            <dt>{t("newDossier.category")}</dt>
            <dd>{t(`category.${categoryName(e?.category)}`, { defaultValue: "" })}</dd>
            <dt>{t("dossier.bands")}</dt>
            <dd>
              <ul>
                {e?.frequencyBands.map((b, i) => (
                  <li key={i}>
                    {formatKhz(b.lowerKhz)} – {formatKhz(b.upperKhz)}
                  </li>
                ))}
              </ul>
            </dd>
            {e && e.characteristics.length > 0 && (
              <>
                <dt>{t("dossier.characteristics")}</dt>
                <dd>
                  <ul>
                    {e.characteristics.map((c, i) => (
                      <li key={i}>
                        {c.name}
                        {c.value && ` : ${c.value}`}
                      </li>
                    ))}
                  </ul>
                </dd>
              </>
            )}
          </dl>
        </div>
        <div className="card">
          <h2>{t("dossier.payment")}</h2>
          <p>{t(`payment.${PaymentStatus[d.paymentStatus]}`, { defaultValue: "" })}</p>
          {d.certificateNumber && (
            <>
              <h2>{t("dossier.certificate")}</h2>
              <p>
                <Link to={`/certificates/${encodeURIComponent(d.certificateNumber)}`}>{d.certificateNumber}</Link>
              </p>
            </>
          )}
        </div>
      </div>
      <Documents dossier={d} editable={mayEdit} />
      {session?.role === Role.APPLICANT && <ApplicantActions dossier={d} />}
      {isStaff(session?.role) && <StaffActions dossier={d} />}
      <History dossierId={d.dossierId} />
    </section>
  );
}
