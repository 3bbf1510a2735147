import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { certificates, homologation } from "../api";
import { CertificateStatus } from "../gen/fleuve/homologation/v1/types_pb";
import { formatDate } from "../format";
import { Role, useSession } from "../session";
import { categoryName } from "./Dossiers";
import { ErrorNotice } from "./ErrorNotice";

type Action = "suspend" | "reinstate" | "revoke" | "renew";

/** A certificate's full view; admins suspend, reinstate, revoke and renew it. */
export function CertificatePage() {
  const { t } = useTranslation();
  const { number = "" } = useParams();
  const { session } = useSession();
  const queryClient = useQueryClient();
  const [text, setText] = useState("");
  const [years, setYears] = useState("5");
  const [action, setAction] = useState<Action | null>(null);
  const query = useQuery({
    queryKey: ["certificate", number],
    queryFn: async () => (await homologation.getCertificate({ certificateNumber: number })).certificate!,
    retry: false,
  });
  const c = query.data;
  const act = useMutation({
    mutationFn: async (which: Action) => {
      const common = { certificateNumber: number, expectedVersion: c!.version };
      switch (which) {
        case "suspend":
          return certificates.suspendCertificate({ ...common, reason: text });
        case "reinstate":
          return certificates.reinstateCertificate({ ...common, note: text });
        case "revoke":
          return certificates.revokeCertificate({ ...common, reason: text });
        case "renew":
          return certificates.renewCertificate({ ...common, validityYears: Number(years) || 0 });
      }
    },
    onSuccess: async () => {
      setAction(null);
      setText("");
      await queryClient.invalidateQueries({ queryKey: ["certificate", number] });
    },
  });
  if (query.isPending) return <p aria-live="polite">{t("dossiers.loading")}</p>;
  if (query.isError) return <ErrorNotice error={query.error} />;
  const status = CertificateStatus[c!.status];
  const admin = session?.role === Role.ADMIN;
  const allowed: Action[] =
    c!.status === CertificateStatus.ACTIVE
      ? ["suspend", "revoke", "renew"]
      : c!.status === CertificateStatus.SUSPENDED
        ? ["reinstate", "revoke"]
        : c!.status === CertificateStatus.EXPIRED
          ? ["renew"]
          : [];
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (action) act.mutate(action);
  };

  return (
    <section>
      <h1>{t("certificate.title", { number })}</h1>
      <p>
        <span className={`status status-${status.toLowerCase()}`} data-testid="certificate-status">
          {t(`certificateStatus.${status}`)}
        </span>{" "}
        {c!.statusReason && <span className="muted">{c!.statusReason}</span>}
      </p>
      <dl>
        <dt>{t("verify.brand")}</dt>
        <dd>{c!.equipment?.brand}</dd>
        <dt>{t("verify.model")}</dt>
        <dd>{c!.equipment?.model}</dd>
        <dt>{t("newDossier.category")}</dt>
        <dd>{t(`category.${categoryName(c!.equipment?.category)}`, { defaultValue: "" })}</dd>
        <dt>{t("verify.validFrom")}</dt>
        <dd>{formatDate(c!.validFrom)}</dd>
        <dt>{t("verify.validUntil")}</dt>
        <dd data-testid="valid-until">{formatDate(c!.validUntil)}</dd>
        <dt>{t("certificate.dossier")}</dt>
        <dd>
          <Link to={`/dossiers/${c!.dossierId}`}>{c!.dossierId}</Link>
        </dd>
      </dl>
      <p>
        <Link to={`/verify?number=${encodeURIComponent(number)}`}>{t("certificate.publicCheck")}</Link>
        {" · "}
        <Link to={`/certificates/${encodeURIComponent(number)}/print`}>{t("certificate.print")}</Link>
      </p>
      {admin && allowed.length > 0 && (
        <section className="actions" aria-labelledby="certificate-actions">
          <h2 id="certificate-actions">{t("certificate.actions")}</h2>
          <div className="row">
            {allowed.map((a) => (
              <button key={a} type="button" className={a === "revoke" ? "danger" : "secondary"} onClick={() => setAction(a)}>
                {t(`certificate.${a}`)}
              </button>
            ))}
          </div>
          {action && (
            <form onSubmit={submit} className="step">
              <h3>{t(`certificate.${action}`)}</h3>
              {action === "renew" ? (
                <div className="field">
                  <label htmlFor="renew-years">{t("staff.validity")}</label>
                  <input id="renew-years" type="number" min={1} max={10} value={years} onChange={(e) => setYears(e.target.value)} />
                </div>
              ) : (
                <div className="field">
                  <label htmlFor="certificate-text">{action === "reinstate" ? t("certificate.note") : t("staff.reason")}</label>
                  <input id="certificate-text" value={text} onChange={(e) => setText(e.target.value)} />
                </div>
              )}
              {act.isError && <ErrorNotice error={act.error} />}
              <div className="row">
                <button type="submit" className={action === "revoke" ? "danger" : undefined} disabled={act.isPending}>
                  {t("certificate.confirm")}
                </button>
                <button type="button" className="secondary" onClick={() => setAction(null)}>
                  {t("actions.cancel")}
                </button>
              </div>
            </form>
          )}
        </section>
      )}
    </section>
  );
}
