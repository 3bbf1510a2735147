import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { operations, orders } from "../api";
import {
  DeadLetterStatus,
  type DeadLetter,
  type RebuildProjectionResponse,
} from "../gen/fleuve/ops/v1/operations_pb";
import { OrderStatus } from "../gen/fleuve/order/v1/types_pb";
import { formatDateTime } from "../format";
import { ErrorNotice } from "./ErrorNotice";

const STATUSES = [DeadLetterStatus.PARKED, DeadLetterStatus.REDRIVEN, DeadLetterStatus.DISCARDED];
const RUNNING = [OrderStatus.PENDING, OrderStatus.AWAITING_STOCK, OrderStatus.AWAITING_PAYMENT, OrderStatus.COMPENSATING];

/** The services that run the operations API, as the edge routes them (`x-fleuve-node`). */
const NODES = ["homologation", "statistics", "notification", "order", "stock", "billing"];

/** Call options sending a service's operations calls to it through the edge. */
function onNode(node: string) {
  return node ? { headers: { "x-fleuve-node": node } } : {};
}

/** Operations (admin): dead letters, projections, sagas; of the service chosen when each
 * service runs on its own (behind the edge), of the one node otherwise. */
export function Operations() {
  const { t } = useTranslation();
  const [node, setNode] = useState("");
  return (
    <section>
      <h1>{t("ops.title")}</h1>
      <div className="toolbar">
        <label>
          {t("ops.node")}{" "}
          <select value={node} onChange={(e) => setNode(e.target.value)}>
            <option value="">{t("ops.defaultNode")}</option>
            {NODES.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
      </div>
      <p className="hint">{t("ops.scope")}</p>
      <DeadLetters node={node} />
      <Projections node={node} />
      <Sagas />
    </section>
  );
}

function DeadLetters({ node }: { node: string }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [consumer, setConsumer] = useState("");
  const [status, setStatus] = useState<DeadLetterStatus>(DeadLetterStatus.PARKED);
  const [discarding, setDiscarding] = useState<bigint | null>(null);
  const [reason, setReason] = useState("");
  const projections = useQuery({
    queryKey: ["projections", node],
    queryFn: () => operations.listProjections({}, onNode(node)),
  });
  const letters = useQuery({
    queryKey: ["dead-letters", node, consumer, status],
    queryFn: () => operations.listDeadLetters({ consumer, status, pageSize: 100 }, onNode(node)),
  });
  const refresh = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: ["dead-letters"] }),
      queryClient.invalidateQueries({ queryKey: ["projections"] }),
    ]);
  const redrive = useMutation({
    mutationFn: (id: bigint) => operations.redriveDeadLetters({ target: { case: "id", value: id } }, onNode(node)),
    onSettled: refresh,
  });
  const discard = useMutation({
    mutationFn: (id: bigint) => operations.discardDeadLetter({ id, reason }, onNode(node)),
    onSuccess: async () => {
      setDiscarding(null);
      setReason("");
      await refresh();
    },
  });
  const outcome = redrive.data?.outcomes[0];

  const onDiscard = (event: FormEvent) => {
    event.preventDefault();
    if (discarding !== null) discard.mutate(discarding);
  };

  return (
    <section aria-labelledby="dead-letters-title">
      <h2 id="dead-letters-title">{t("ops.deadLetters")}</h2>
      <div className="toolbar">
        <label htmlFor="dl-consumer">{t("ops.consumer")}</label>
        <select id="dl-consumer" value={consumer} onChange={(e) => setConsumer(e.target.value)}>
          <option value="">{t("ops.allConsumers")}</option>
          {projections.data?.projections.map((p) => (
            <option key={p.name} value={p.name}>
              {p.name}
            </option>
          ))}
        </select>
        <label htmlFor="dl-status">{t("ops.status")}</label>
        <select id="dl-status" value={status} onChange={(e) => setStatus(Number(e.target.value))}>
          <option value={DeadLetterStatus.UNSPECIFIED}>{t("ops.allStatuses")}</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {t(`ops.letter.${DeadLetterStatus[s]}`)}
            </option>
          ))}
        </select>
      </div>
      {letters.isError && <ErrorNotice error={letters.error} />}
      {redrive.isError && <ErrorNotice error={redrive.error} />}
      {outcome && (
        <p role="status" className={outcome.redriven ? "ok" : "error"}>
          {outcome.redriven
            ? t("ops.redriven", { id: outcome.id.toString() })
            : t("ops.stillParked", { id: outcome.id.toString(), error: outcome.error })}
        </p>
      )}
      {letters.data &&
        (letters.data.deadLetters.length === 0 ? (
          <p>{t("ops.noLetters")}</p>
        ) : (
          <table className="list" data-testid="dead-letters">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">{t("ops.consumer")}</th>
                <th scope="col">{t("ops.record")}</th>
                <th scope="col">{t("ops.error")}</th>
                <th scope="col">{t("ops.status")}</th>
                <th scope="col">
                  <span className="visually-hidden">{t("documents.actions")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {letters.data.deadLetters.map((l: DeadLetter) => (
                <tr key={l.id.toString()} data-letter={l.id.toString()}>
                  <td>{l.id.toString()}</td>
                  <td>{l.consumer}</td>
                  <td>
                    {l.headers["event_type"] ?? "?"} — {l.topic}[{l.partition}]@{l.offset.toString()}
                    <div className="muted">
                      {t("ops.key")} {l.key}
                      {l.correlationId && ` · ${t("ops.correlation")} ${l.correlationId}`}
                    </div>
                  </td>
                  <td>
                    {l.error}
                    <div className="muted">
                      {t("ops.attempts", { count: l.attempts })} · {formatDateTime(l.createdAt)}
                    </div>
                  </td>
                  <td>
                    {t(`ops.letter.${DeadLetterStatus[l.status]}`)}
                    {l.resolution && <div className="muted">{l.resolution}</div>}
                  </td>
                  <td>
                    {l.status === DeadLetterStatus.PARKED && (
                      <div className="row">
                        <button
                          type="button"
                          onClick={() => redrive.mutate(l.id)}
                          disabled={redrive.isPending}
                          aria-label={t("ops.redriveNamed", { id: l.id.toString() })}
                        >
                          {t("ops.redrive")}
                        </button>
                        <button
                          type="button"
                          className="secondary"
                          onClick={() => setDiscarding(l.id)}
                          aria-label={t("ops.discardNamed", { id: l.id.toString() })}
                        >
                          {t("ops.discard")}
                        </button>
                      </div>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
      {discarding !== null && (
        <form onSubmit={onDiscard} className="step">
          <h3>{t("ops.discardTitle", { id: discarding.toString() })}</h3>
          <div className="field">
            <label htmlFor="discard-reason">{t("ops.discardReason")}</label>
            <input id="discard-reason" value={reason} onChange={(e) => setReason(e.target.value)} />
          </div>
          {discard.isError && <ErrorNotice error={discard.error} />}
          <div className="row">
            <button type="submit" className="danger" disabled={discard.isPending}>
              {t("ops.confirmDiscard")}
            </button>
            <button type="button" className="secondary" onClick={() => setDiscarding(null)}>
              {t("actions.cancel")}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

interface Progress {
  name: string;
  replayed: bigint;
  position: bigint;
  lastPosition: bigint;
  updates: number;
  done: RebuildProjectionResponse | null;
}

/** The node's projections; a rebuild streams its progress (StreamRebuildProjection). */
function Projections({ node }: { node: string }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const projections = useQuery({
    queryKey: ["projections", node],
    queryFn: () => operations.listProjections({}, onNode(node)),
  });
  const [progress, setProgress] = useState<Progress | null>(null);
  const rebuild = useMutation({
    mutationFn: async (name: string) => {
      setProgress({ name, replayed: 0n, position: 0n, lastPosition: 0n, updates: 0, done: null });
      for await (const step of operations.streamRebuildProjection({ name }, onNode(node))) {
        setProgress((p) => ({
          name,
          replayed: step.replayedEvents,
          position: step.done ? (p?.lastPosition ?? 0n) : step.position,
          lastPosition: step.done ? (p?.lastPosition ?? 0n) : step.lastPosition,
          updates: (p?.updates ?? 0) + 1,
          done: step.done ?? null,
        }));
      }
    },
    onSettled: () => queryClient.invalidateQueries({ queryKey: ["projections"] }),
  });
  const p = progress;
  return (
    <section aria-labelledby="projections-title">
      <h2 id="projections-title">{t("ops.projections")}</h2>
      {projections.isError && <ErrorNotice error={projections.error} />}
      {rebuild.isError && <ErrorNotice error={rebuild.error} />}
      {p && !p.done && (
        <div role="status" aria-live="polite" className="rebuild-progress">
          <label htmlFor="rebuild-progress">{t("ops.rebuilding", { name: p.name })}</label>
          <progress
            id="rebuild-progress"
            max={Number(p.lastPosition) || 1}
            value={Number(p.position)}
          />
          <span>{t("ops.replayedSoFar", { replayed: p.replayed.toString() })}</span>
        </div>
      )}
      {p?.done && (
        <p role="status" className="ok" data-progress-updates={p.updates}>
          {t("ops.rebuilt", {
            name: p.done.name,
            replayed: p.done.replayedEvents.toString(),
            caughtUp: p.done.caughtUpEvents.toString(),
            seconds: p.done.elapsedSeconds.toFixed(2),
          })}
        </p>
      )}
      <table className="list">
        <thead>
          <tr>
            <th scope="col">{t("ops.projection")}</th>
            <th scope="col">{t("ops.topics")}</th>
            <th scope="col">{t("ops.applied")}</th>
            <th scope="col">{t("ops.parked")}</th>
            <th scope="col">
              <span className="visually-hidden">{t("documents.actions")}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {projections.data?.projections.map((row) => (
            <tr key={row.name}>
              <td>{row.name}</td>
              <td>{row.topics.join(", ")}</td>
              <td>{row.appliedEvents.toString()}</td>
              <td>{row.parkedDeadLetters.toString()}</td>
              <td>
                {row.rebuildable && (
                  <button
                    type="button"
                    className="secondary"
                    disabled={rebuild.isPending}
                    onClick={() => rebuild.mutate(row.name)}
                    aria-label={t("ops.rebuildNamed", { name: row.name })}
                  >
                    {t("ops.rebuild")}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Sagas() {
  const { t } = useTranslation();
  const running = useQuery({
    queryKey: ["sagas"],
    queryFn: async () => {
      const pages = await Promise.all(RUNNING.map((status) => orders.listOrders({ status, pageSize: 100 })));
      return pages.flatMap((p) => p.orders);
    },
    refetchInterval: 5_000,
  });
  return (
    <section aria-labelledby="sagas-title">
      <h2 id="sagas-title">{t("ops.sagas")}</h2>
      {running.isError && <ErrorNotice error={running.error} />}
      {running.data &&
        (running.data.length === 0 ? (
          <p>{t("ops.noSagas")}</p>
        ) : (
          <table className="list">
            <thead>
              <tr>
                <th scope="col">{t("ops.order")}</th>
                <th scope="col">{t("ops.status")}</th>
                <th scope="col">{t("ops.deadline")}</th>
              </tr>
            </thead>
            <tbody>
              {running.data.map((o) => (
                <tr key={o.orderId}>
                  <td>{o.orderId}</td>
                  <td>{t(`orderStatus.${OrderStatus[o.status]}`)}</td>
                  <td>{formatDateTime(o.stepDeadline)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
    </section>
  );
}
