import { useState, type FormEvent, type ReactNode } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { dossiers, fieldErrors, identity } from "../api";
import { Role } from "../gen/fleuve/identity/v1/identity_pb";
import type { Dossier } from "../gen/fleuve/homologation/v1/query_service_pb";
import { DocumentKind, DossierStatus, ForeignScheme, PaymentStatus } from "../gen/fleuve/homologation/v1/types_pb";
import { useSession } from "../session";
import { ErrorNotice } from "./ErrorNotice";
import { kindName } from "./Documents";

/** One staff step: a titled form whose submission runs `run`, shows the server's refusal,
 * and refreshes the dossier and its history on success. */
function Step({
  id,
  title,
  submit,
  run,
  children,
  danger = false,
}: {
  id: string;
  title: string;
  submit: string;
  run: () => Promise<unknown>;
  children?: ReactNode;
  danger?: boolean;
}) {
  const queryClient = useQueryClient();
  const mutation = useMutation({
    mutationFn: run,
    onSuccess: () => queryClient.invalidateQueries({ predicate: (q) => ["dossier", "history", "dossiers", "queue"].includes(String(q.queryKey[0])) }),
  });
  const errors = fieldErrors(mutation.error);
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    mutation.mutate();
  };
  return (
    <form className="step" onSubmit={onSubmit} aria-labelledby={`${id}-title`} noValidate>
      <h3 id={`${id}-title`}>{title}</h3>
      {children}
      {mutation.isError && Object.keys(errors).length === 0 && <ErrorNotice error={mutation.error} />}
      {Object.entries(errors).map(([field, message]) => (
        <p key={field} className="field-error" role="alert">
          {message}
        </p>
      ))}
      <button type="submit" className={danger ? "danger" : undefined} disabled={mutation.isPending}>
        {submit}
      </button>
    </form>
  );
}

function TextField({ id, label, value, onChange, multiline = false }: {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  multiline?: boolean;
}) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {multiline ? (
        <textarea id={id} rows={3} value={value} onChange={(e) => onChange(e.target.value)} />
      ) : (
        <input id={id} value={value} onChange={(e) => onChange(e.target.value)} />
      )}
    </div>
  );
}

const REVIEW = [DossierStatus.SUBMITTED, DossierStatus.UNDER_REVIEW];
const SCHEMES = [ForeignScheme.CE, ForeignScheme.FCC];
const KINDS = [
  DocumentKind.TECHNICAL_DATASHEET,
  DocumentKind.TEST_REPORT,
  DocumentKind.DECLARATION_OF_CONFORMITY,
  DocumentKind.PHOTOS,
  DocumentKind.USER_MANUAL,
  DocumentKind.TRADE_REGISTER_EXTRACT,
];

/** The regulator's steps on a dossier, as the signed-in staff member's role and the dossier's
 * state allow; the server decides in the end (its refusal is shown as it says it). */
export function StaffActions({ dossier }: { dossier: Dossier }) {
  const { t, i18n } = useTranslation();
  const { session } = useSession();
  const admin = session?.role === Role.ADMIN;
  const assigned = dossier.reviewerId !== "" && dossier.reviewerId === session?.userId;
  const d = dossier;
  const common = { dossierId: d.dossierId, expectedVersion: d.version };
  const [paymentReference, setPaymentReference] = useState("");
  const [reviewerId, setReviewerId] = useState("");
  const [incompleteReason, setIncompleteReason] = useState("");
  const [missing, setMissing] = useState<DocumentKind[]>([]);
  const [scheme, setScheme] = useState<ForeignScheme>(ForeignScheme.CE);
  const [reference, setReference] = useState("");
  const [issuer, setIssuer] = useState("");
  const [laboratory, setLaboratory] = useState("");
  const [reportNumber, setReportNumber] = useState("");
  const [standards, setStandards] = useState("");
  const [passed, setPassed] = useState(true);
  const [favorable, setFavorable] = useState(true);
  const [comments, setComments] = useState("");
  const [validityYears, setValidityYears] = useState("5");
  const [reasons, setReasons] = useState("");

  const reviewers = useQuery({
    queryKey: ["reviewers"],
    queryFn: async () => (await identity.listUsers({ pageSize: 100 })).users.filter((u) => u.role === Role.REVIEWER),
    enabled: admin && REVIEW.includes(d.status),
    staleTime: 60_000,
  });

  const decided = [DossierStatus.APPROVED, DossierStatus.REJECTED, DossierStatus.WITHDRAWN, DossierStatus.DRAFT].includes(
    d.status,
  );
  if (decided) return null;
  const underReview = d.status === DossierStatus.UNDER_REVIEW;
  const invoice = d.invoice?.amount;

  return (
    <section className="actions" aria-labelledby="staff-title">
      <h2 id="staff-title">{t("staff.title")}</h2>
      <div className="steps">
        {admin && d.paymentStatus === PaymentStatus.NOT_INVOICED && (
          <Step id="invoice" title={t("staff.invoice")} submit={t("staff.invoiceSubmit")} run={() => dossiers.invoiceFee(common)} />
        )}
        {admin && d.paymentStatus === PaymentStatus.INVOICED && invoice && (
          <Step
            id="payment"
            title={t("staff.payment")}
            submit={t("staff.paymentSubmit")}
            run={() => dossiers.recordPayment({ ...common, paymentReference, amount: invoice })}
          >
            <p>
              {t("staff.invoiced", {
                number: d.invoice?.invoiceNumber,
                amount: new Intl.NumberFormat(i18n.language).format(invoice.amount),
                currency: invoice.currency,
              })}
            </p>
            <TextField id="payment-reference" label={t("staff.paymentReference")} value={paymentReference} onChange={setPaymentReference} />
          </Step>
        )}
        {admin && REVIEW.includes(d.status) && (
          <Step
            id="assign"
            title={t("staff.assign")}
            submit={t("staff.assignSubmit")}
            run={() => dossiers.assignReviewer({ ...common, reviewerId })}
          >
            <div className="field">
              <label htmlFor="reviewer">{t("staff.reviewer")}</label>
              <select id="reviewer" value={reviewerId} onChange={(e) => setReviewerId(e.target.value)}>
                <option value="">{t("staff.chooseReviewer")}</option>
                {reviewers.data?.map((u) => (
                  <option key={u.userId} value={u.userId}>
                    {u.displayName} ({u.email})
                  </option>
                ))}
              </select>
            </div>
          </Step>
        )}
        {(admin || assigned || d.reviewerId === "") && REVIEW.includes(d.status) && (
          <Step
            id="incomplete"
            title={t("staff.incomplete")}
            submit={t("staff.incompleteSubmit")}
            run={() => dossiers.declareIncomplete({ ...common, reason: incompleteReason, missingDocuments: missing })}
          >
            <TextField id="incomplete-reason" label={t("staff.reason")} value={incompleteReason} onChange={setIncompleteReason} multiline />
            <fieldset>
              <legend>{t("staff.missing")}</legend>
              {KINDS.map((k) => (
                <label key={k} className="check">
                  <input
                    type="checkbox"
                    checked={missing.includes(k)}
                    onChange={(e) => setMissing(e.target.checked ? [...missing, k] : missing.filter((m) => m !== k))}
                  />
                  {t(`documentKind.${kindName(k)}`)}
                </label>
              ))}
            </fieldset>
          </Step>
        )}
        {(admin || assigned) && underReview && (
          <Step
            id="foreign"
            title={t("staff.foreign")}
            submit={t("staff.foreignSubmit")}
            run={() => dossiers.recognizeForeignCertificate({ ...common, scheme, reference, issuer })}
          >
            <div className="field">
              <label htmlFor="scheme">{t("staff.scheme")}</label>
              <select id="scheme" value={scheme} onChange={(e) => setScheme(Number(e.target.value))}>
                {SCHEMES.map((s) => (
                  <option key={s} value={s}>
                    {ForeignScheme[s]}
                  </option>
                ))}
              </select>
            </div>
            <TextField id="foreign-reference" label={t("staff.reference")} value={reference} onChange={setReference} />
            <TextField id="foreign-issuer" label={t("staff.issuer")} value={issuer} onChange={setIssuer} />
          </Step>
        )}
        {(admin || assigned) && underReview && (
          <Step
            id="test-report"
            title={t("staff.testReport")}
            submit={t("staff.testReportSubmit")}
            run={() =>
              dossiers.recordTestReport({
                ...common,
                laboratory,
                reportNumber,
                standards: standards.split(",").map((s) => s.trim()).filter(Boolean),
                passed,
              })
            }
          >
            <TextField id="report-laboratory" label={t("documents.laboratory")} value={laboratory} onChange={setLaboratory} />
            <TextField id="report-number" label={t("staff.reportNumber")} value={reportNumber} onChange={setReportNumber} />
            <TextField id="report-standards" label={t("documents.standards")} value={standards} onChange={setStandards} />
            <label className="check">
              <input type="checkbox" checked={passed} onChange={(e) => setPassed(e.target.checked)} />
              {t("staff.passed")}
            </label>
          </Step>
        )}
        {assigned && underReview && !d.technicalOpinion && (
          <Step
            id="opinion"
            title={t("staff.opinion")}
            submit={t("staff.opinionSubmit")}
            run={() => dossiers.giveTechnicalOpinion({ ...common, favorable, comments })}
          >
            <fieldset>
              <legend>{t("staff.verdict")}</legend>
              <label className="check">
                <input type="radio" name="favorable" checked={favorable} onChange={() => setFavorable(true)} />
                {t("staff.favorable")}
              </label>
              <label className="check">
                <input type="radio" name="favorable" checked={!favorable} onChange={() => setFavorable(false)} />
                {t("staff.unfavorable")}
              </label>
            </fieldset>
            <TextField id="opinion-comments" label={t("staff.comments")} value={comments} onChange={setComments} multiline />
          </Step>
        )}
        {admin && underReview && (
          <Step
            id="approve"
            title={t("staff.approve")}
            submit={t("staff.approveSubmit")}
            run={() => dossiers.approveDossier({ ...common, validityYears: Number(validityYears) || 0 })}
          >
            <div className="field">
              <label htmlFor="validity">{t("staff.validity")}</label>
              <input
                id="validity"
                type="number"
                min={1}
                max={10}
                value={validityYears}
                onChange={(e) => setValidityYears(e.target.value)}
              />
            </div>
          </Step>
        )}
        {admin && REVIEW.includes(d.status) && (
          <Step
            id="reject"
            title={t("staff.reject")}
            submit={t("staff.rejectSubmit")}
            danger
            run={() => dossiers.rejectDossier({ ...common, reasons: reasons.split("\n").map((r) => r.trim()).filter(Boolean) })}
          >
            <TextField id="reject-reasons" label={t("staff.reasons")} value={reasons} onChange={setReasons} multiline />
          </Step>
        )}
      </div>
    </section>
  );
}
