import { useEffect, useState } from "react";
import { Link, useParams } from "react-router";
import { useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { errorMessage, orders } from "../api";
import { FailureCode, OrderStatus } from "../gen/fleuve/order/v1/types_pb";
import type { Order } from "../gen/fleuve/order/v1/order_service_pb";
import { formatMoney } from "./Shop";

interface Seen {
  status: OrderStatus;
  /** When the page received it; null for a step passed before the page opened. */
  at: Date | null;
  /** Milliseconds from the step's commit (the order's updated_at) to its arrival here. */
  delayMs: number | null;
}

/** The steps an order has necessarily gone through before reaching its current state: shown
 * (without a time) when the page opens after they happened. */
const PATH = [OrderStatus.PENDING, OrderStatus.AWAITING_STOCK, OrderStatus.AWAITING_PAYMENT];

function before(order: Order): OrderStatus[] {
  const index = PATH.indexOf(order.status);
  if (index >= 0) return PATH.slice(0, index);
  switch (order.status) {
    case OrderStatus.CONFIRMED:
    case OrderStatus.COMPENSATING:
      return PATH;
    case OrderStatus.FAILED:
      switch (order.failure?.code) {
        case FailureCode.OUT_OF_STOCK:
        case FailureCode.STOCK_CHECK_TIMED_OUT:
          return PATH.slice(0, 2);
        case FailureCode.PAYMENT_DECLINED:
        case FailureCode.PAYMENT_TIMED_OUT:
          return [...PATH, OrderStatus.COMPENSATING];
        default:
          return [OrderStatus.PENDING];
      }
    default:
      return [OrderStatus.PENDING];
  }
}

const TERMINAL = [OrderStatus.CONFIRMED, OrderStatus.FAILED, OrderStatus.CANCELLED];

/** One order, followed live: WatchOrder (a grpc-web server stream) sends the order at every
 * step of its saga until it ends; each step appears as it is committed. */
export function OrderPage() {
  const { t, i18n } = useTranslation();
  const { orderId = "" } = useParams();
  const queryClient = useQueryClient();
  const [order, setOrder] = useState<Order | null>(null);
  const [steps, setSteps] = useState<Seen[]>([]);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    const abort = new AbortController();
    setSteps([]);
    (async () => {
      try {
        for await (const update of orders.watchOrder({ orderId }, { signal: abort.signal })) {
          const next = update.order!;
          setOrder(next);
          const at = new Date();
          const committed = next.updatedAt ? timestampDate(next.updatedAt).getTime() : null;
          setSteps((seen) => {
            if (seen.length > 0 && seen[seen.length - 1].status === next.status) return seen;
            const step = { status: next.status, at, delayMs: committed === null ? null : at.getTime() - committed };
            if (seen.length > 0) return [...seen, step];
            // Steps passed before the stream opened, shown without a time.
            return [...before(next).map((status) => ({ status, at: null, delayMs: null })), step];
          });
          if (TERMINAL.includes(next.status)) {
            void queryClient.invalidateQueries({ queryKey: ["orders"] });
            void queryClient.invalidateQueries({ queryKey: ["account"] });
          }
        }
      } catch (e) {
        if (!abort.signal.aborted) setError(e);
      }
    })();
    return () => abort.abort();
  }, [orderId, queryClient]);

  const status = order ? OrderStatus[order.status] : "";
  return (
    <section>
      <p>
        <Link to="/orders">{t("orders.back")}</Link>
      </p>
      <h1>{t("orders.one", { id: orderId })}</h1>
      {error !== null && (
        <p className="error" role="alert">
          {errorMessage(error)}
        </p>
      )}
      {order && (
        <>
          <p>
            <span className={`status status-${status.toLowerCase()}`} data-testid="order-status">
              {t(`orderStatus.${status}`)}
            </span>{" "}
            {order.total && formatMoney(order.total.amount, order.total.currency, i18n.language)}
          </p>
          <ol className="timeline" aria-live="polite" data-testid="saga-steps">
            {steps.map((s) => (
              <li key={s.status} data-step={OrderStatus[s.status]} data-delay-ms={s.delayMs ?? undefined}>
                <time>{s.at ? s.at.toLocaleTimeString(i18n.language) : "—"}</time>
                <strong>{t(`orderStatus.${OrderStatus[s.status]}`)}</strong>
                <span className="muted">{t(`orders.stepHint.${OrderStatus[s.status]}`, { defaultValue: "" })}</span>
              </li>
            ))}
          </ol>
          {order.failure && order.status === OrderStatus.FAILED && (
            <div className="error" role="alert" data-testid="order-failure">
              <strong>{t(`orders.failure.${FailureCode[order.failure.code]}`, { defaultValue: t("orders.failed") })}</strong>
              <p>{order.failure.reason}</p>
              {order.failure.compensationConfirmed && <p>{t("orders.compensated")}</p>}
            </div>
          )}
          <table className="list">
            <thead>
              <tr>
                <th scope="col">{t("shop.product")}</th>
                <th scope="col">{t("shop.quantity")}</th>
                <th scope="col">{t("shop.price")}</th>
              </tr>
            </thead>
            <tbody>
              {order.lines.map((l) => (
                <tr key={l.productId}>
                  <td>{l.productId}</td>
                  <td>{l.quantity}</td>
                  <td>{formatMoney(l.unitPrice, order.total?.currency ?? "", i18n.language)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
