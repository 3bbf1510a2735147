// The regulator's dashboard (reviewers and admins): StatisticsService's figures as charts
// (Chart.js, loaded with this page only), each with its numbers in a table for those who do
// not see the chart.
import { useMemo, useState, type ReactNode } from "react";
import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  ArcElement,
  BarElement,
  CategoryScale,
  Chart as ChartJS,
  Legend,
  LinearScale,
  Tooltip,
} from "chart.js";
import { Bar, Doughnut } from "react-chartjs-2";
import { statistics } from "../api";
import { DossierStatus, EquipmentCategory } from "../gen/fleuve/homologation/v1/types_pb";
import { formatDateTime } from "../format";
import { ErrorNotice } from "./ErrorNotice";

ChartJS.register(ArcElement, BarElement, CategoryScale, LinearScale, Tooltip, Legend);

const COLOURS = ["#0b5cad", "#116329", "#b42318", "#7a4e00", "#6639ba", "#0e7490", "#57606a"];

/** A chart and the same numbers as a table, under one heading. */
function Figure({
  id,
  title,
  chart,
  rows,
}: {
  id: string;
  title: string;
  /** The chart, given its text alternative (react-chartjs-2 puts it on the canvas). */
  chart: (label: string) => ReactNode;
  rows: [string, string][];
}) {
  const { t } = useTranslation();
  return (
    <figure className="card chart" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{title}</h2>
      {chart(`${title}: ${rows.map(([k, v]) => `${k} ${v}`).join(", ")}`)}
      <details>
        <summary>{t("stats.data")}</summary>
        <table className="list" data-testid={id}>
          <tbody>
            {rows.map(([label, value]) => (
              <tr key={label}>
                <th scope="row">{label}</th>
                <td>{value}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

export default function Statistics() {
  const { t, i18n } = useTranslation();
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const period = useMemo(
    () =>
      from && to
        ? { startTime: timestampFromDate(new Date(`${from}T00:00:00Z`)), endTime: timestampFromDate(new Date(`${to}T00:00:00Z`)) }
        : undefined,
    [from, to],
  );
  const query = useQuery({
    queryKey: ["statistics", from, to],
    queryFn: () => statistics.getStatistics({ period, maxRejectionCauses: 10 }),
  });
  const number = (n: bigint | number) => new Intl.NumberFormat(i18n.language, { maximumFractionDigits: 1 }).format(n);
  const s = query.data;

  const byStatus = (s?.dossiers?.byStatus ?? []).map(
    (c) => [t(`status.${DossierStatus[c.status]}`, { defaultValue: DossierStatus[c.status] }), Number(c.count)] as const,
  );
  const byCategory = (s?.dossiers?.byCategory ?? []).map(
    (c) => [t(`category.${EquipmentCategory[c.category]}`, { defaultValue: EquipmentCategory[c.category] }), Number(c.count)] as const,
  );
  const byMonth = (s?.dossiers?.byMonth ?? []).map(
    (m) =>
      [
        new Intl.DateTimeFormat(i18n.language, { month: "short", year: "numeric", timeZone: "UTC" }).format(
          new Date(Date.UTC(m.year, m.month - 1, 1)),
        ),
        Number(m.count),
      ] as const,
  );
  const p = s?.processing;
  const timing = p
    ? ([
        [t("stats.withinDeadline"), Number(p.decidedWithinDeadline)],
        [t("stats.beyondDeadline"), Number(p.decidedBeyondDeadline)],
        [t("stats.openBeyond"), Number(p.openBeyondDeadline)],
      ] as const)
    : [];
  const d = s?.decisions;
  const decisions = d
    ? ([
        [t("status.APPROVED"), Number(d.approved)],
        [t("status.REJECTED"), Number(d.rejected)],
        [t("status.WITHDRAWN"), Number(d.withdrawn)],
      ] as const)
    : [];
  const bar = (rows: readonly (readonly [string, number])[], label: string) => ({
    labels: rows.map(([k]) => k),
    datasets: [{ label, data: rows.map(([, v]) => v), backgroundColor: COLOURS[0] }],
  });
  const options = {
    responsive: true,
    animation: false as const,
    plugins: { legend: { display: false } },
    scales: { y: { ticks: { precision: 0 } } },
  };

  return (
    <section>
      <h1>{t("stats.title")}</h1>
      <form className="inline" onSubmit={(e) => e.preventDefault()}>
        <div className="field">
          <label htmlFor="stats-from">{t("stats.from")}</label>
          <input id="stats-from" type="date" value={from} onChange={(e) => setFrom(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="stats-to">{t("stats.to")}</label>
          <input id="stats-to" type="date" value={to} onChange={(e) => setTo(e.target.value)} />
        </div>
      </form>
      {query.isError && <ErrorNotice error={query.error} />}
      {s && (
        <>
          <p className="muted">
            {t("stats.asOf", { when: formatDateTime(s.asOf), total: number(s.dossiers?.total ?? 0n) })}
          </p>
          <div className="cards">
            <Figure
              id="by-status"
              title={t("stats.byStatus")}
              chart={(label) => <Bar aria-label={label} data={bar(byStatus, t("stats.dossiers"))} options={options} />}
              rows={byStatus.map(([k, v]) => [k, number(v)])}
            />
            <Figure
              id="by-category"
              title={t("stats.byCategory")}
              chart={(label) =>
                <Doughnut aria-label={label}
                  data={{
                    labels: byCategory.map(([k]) => k),
                    datasets: [{ data: byCategory.map(([, v]) => v), backgroundColor: COLOURS }],
                  }}
                  options={{ responsive: true, animation: false }}
                />
              }
              rows={byCategory.map(([k, v]) => [k, number(v)])}
            />
            <Figure
              id="by-month"
              title={t("stats.byMonth")}
              chart={(label) => <Bar aria-label={label} data={bar(byMonth, t("stats.dossiers"))} options={options} />}
              rows={byMonth.map(([k, v]) => [k, number(v)])}
            />
            {p && (
              <Figure
                id="processing"
                title={t("stats.processing", { days: p.legalDeadlineDays })}
                chart={(label) => <Bar aria-label={label} data={bar(timing, t("stats.dossiers"))} options={options} />}
                rows={[
                  ...timing.map(([k, v]) => [k, number(v)] as [string, string]),
                  [t("stats.average"), t("stats.days", { n: number(p.averageDays) })],
                  [t("stats.p90"), t("stats.days", { n: number(p.p90Days) })],
                  [t("stats.open"), number(p.open)],
                ]}
              />
            )}
            {d && (
              <Figure
                id="decisions"
                title={t("stats.decisions")}
                chart={(label) => <Bar aria-label={label} data={bar(decisions, t("stats.dossiers"))} options={options} />}
                rows={[
                  ...decisions.map(([k, v]) => [k, number(v)] as [string, string]),
                  [t("stats.approvalRate"), `${number(d.approvalRate * 100)} %`],
                  ...d.rejectionCauses.map((c) => [c.reason, number(c.count)] as [string, string]),
                ]}
              />
            )}
            <Figure
              id="fees"
              title={t("stats.fees")}
              chart={(label) =>
                <Bar aria-label={label}
                  data={{
                    labels: (s.fees ?? []).map((f) => f.currency),
                    datasets: [
                      { label: t("stats.invoiced"), data: s.fees.map((f) => Number(f.invoiced?.amount ?? 0n)), backgroundColor: COLOURS[0] },
                      { label: t("stats.collected"), data: s.fees.map((f) => Number(f.collected?.amount ?? 0n)), backgroundColor: COLOURS[1] },
                      { label: t("stats.outstanding"), data: s.fees.map((f) => Number(f.outstanding?.amount ?? 0n)), backgroundColor: COLOURS[2] },
                    ],
                  }}
                  options={{ responsive: true, animation: false }}
                />
              }
              rows={s.fees.flatMap((f) => [
                [`${t("stats.invoiced")} (${f.currency})`, number(f.invoiced?.amount ?? 0n)],
                [`${t("stats.collected")} (${f.currency})`, number(f.collected?.amount ?? 0n)],
                [`${t("stats.outstanding")} (${f.currency})`, number(f.outstanding?.amount ?? 0n)],
              ] as [string, string][])}
            />
          </div>
        </>
      )}
    </section>
  );
}
