import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import i18next from "i18next";

export function formatDate(ts: Timestamp | undefined): string {
  if (!ts) return "";
  return new Intl.DateTimeFormat(i18next.language, { dateStyle: "medium" }).format(timestampDate(ts));
}

export function formatDateTime(ts: Timestamp | undefined): string {
  if (!ts) return "";
  return new Intl.DateTimeFormat(i18next.language, { dateStyle: "medium", timeStyle: "short" }).format(
    timestampDate(ts),
  );
}

/** A frequency in kHz with the language's digit grouping: "880 000 kHz". */
export function formatKhz(khz: bigint): string {
  return `${new Intl.NumberFormat(i18next.language).format(khz)} kHz`;
}
