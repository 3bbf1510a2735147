import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import type { TFunction } from "i18next";
import { homologation } from "../api";
import type { HistoryEntry } from "../gen/fleuve/homologation/v1/query_service_pb";
import { formatDateTime } from "../format";
import { ErrorNotice } from "./ErrorNotice";
import { kindName } from "./Documents";

/** What one event adds to the line that names it. */
function detail(entry: HistoryEntry, t: TFunction): string {
  const e = entry.event?.event;
  switch (e?.case) {
    case "documentAttached":
      return `${t(`documentKind.${kindName(e.value.document?.kind ?? 0)}`)} — ${e.value.document?.fileName ?? ""}`;
    case "declaredIncomplete":
      return e.value.reason;
    case "completed":
      return e.value.note;
    case "feeInvoiced":
      return `${e.value.invoice?.invoiceNumber} — ${e.value.invoice?.amount?.amount} ${e.value.invoice?.amount?.currency}`;
    case "paymentRecorded":
      return e.value.payment?.reference ?? "";
    case "testReportRecorded":
      return `${e.value.report?.laboratory} ${e.value.report?.reportNumber}`;
    case "foreignCertificateRecognized":
      return `${e.value.certificate?.reference} (${e.value.certificate?.issuer})`;
    case "technicalOpinionGiven":
      return `${e.value.opinion?.favorable ? t("staff.favorable") : t("staff.unfavorable")} — ${e.value.opinion?.comments}`;
    case "approved":
      return e.value.certificateNumber;
    case "rejected":
      return e.value.reasons.join("; ");
    case "withdrawn":
      return e.value.reason;
    default:
      return "";
  }
}

/** The dossier's events, oldest first: who did what, when. */
export function History({ dossierId }: { dossierId: string }) {
  const { t } = useTranslation();
  const query = useQuery({
    queryKey: ["history", dossierId],
    queryFn: async () => (await homologation.getDossierHistory({ dossierId })).entries,
  });
  return (
    <section aria-labelledby="history-title">
      <h2 id="history-title">{t("history.title")}</h2>
      {query.isError && <ErrorNotice error={query.error} />}
      <ol className="timeline">
        {query.data?.map((entry) => (
          <li key={entry.metadata?.eventId} data-event={entry.event?.event.case}>
            <time dateTime={entry.metadata?.recordedAt ? new Date(Number(entry.metadata.recordedAt.seconds) * 1000).toISOString() : undefined}>
              {formatDateTime(entry.metadata?.recordedAt)}
            </time>
            <strong>{t(`history.event.${entry.event?.event.case ?? "unknown"}`, { defaultValue: entry.metadata?.eventType })}</strong>
            <span className="muted">{detail(entry, t)}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}
