import { Link } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { billing, orders } from "../api";
import { ChargeStatus } from "../gen/fleuve/billing/v1/types_pb";
import { OrderStatus } from "../gen/fleuve/order/v1/types_pb";
import { formatDateTime } from "../format";
import { useSession } from "../session";
import { ErrorNotice } from "./ErrorNotice";
import { formatMoney } from "./Shop";

/** My orders, my account and my charges. */
export function Orders() {
  const { t, i18n } = useTranslation();
  const { session } = useSession();
  const mine = useQuery({ queryKey: ["orders"], queryFn: async () => (await orders.listOrders({ pageSize: 50 })).orders });
  const account = useQuery({
    queryKey: ["account", session?.userId],
    queryFn: () => billing.getAccount({ customerId: session!.userId }),
    retry: false,
  });
  const charges = useQuery({
    queryKey: ["account", "charges", session?.userId],
    queryFn: async () => (await billing.listCharges({ pageSize: 50 })).charges,
  });
  const a = account.data?.account;
  return (
    <section>
      <h1>{t("orders.title")}</h1>
      {mine.isError && <ErrorNotice error={mine.error} />}
      {mine.data && (mine.data.length === 0 ? <p>{t("orders.none")}</p> : (
        <table className="list">
          <thead>
            <tr>
              <th scope="col">{t("orders.order")}</th>
              <th scope="col">{t("orders.status")}</th>
              <th scope="col">{t("orders.total")}</th>
              <th scope="col">{t("orders.placed")}</th>
            </tr>
          </thead>
          <tbody>
            {mine.data.map((o) => (
              <tr key={o.orderId}>
                <td>
                  <Link to={`/orders/${o.orderId}`}>{o.orderId}</Link>
                </td>
                <td>{t(`orderStatus.${OrderStatus[o.status]}`)}</td>
                <td>{o.total && formatMoney(o.total.amount, o.total.currency, i18n.language)}</td>
                <td>{formatDateTime(o.placedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
      <h2>{t("orders.account")}</h2>
      {account.isError && <ErrorNotice error={account.error} />}
      {a && (
        <dl>
          <dt>{t("orders.balance")}</dt>
          <dd data-testid="balance">{formatMoney(a.balance, a.currency, i18n.language)}</dd>
          <dt>{t("orders.availableFunds")}</dt>
          <dd>{formatMoney(a.available, a.currency, i18n.language)}</dd>
        </dl>
      )}
      <h2>{t("orders.charges")}</h2>
      {charges.isError && <ErrorNotice error={charges.error} />}
      {charges.data && (charges.data.length === 0 ? <p>{t("orders.noCharges")}</p> : (
        <table className="list">
          <thead>
            <tr>
              <th scope="col">{t("orders.order")}</th>
              <th scope="col">{t("orders.amount")}</th>
              <th scope="col">{t("orders.status")}</th>
              <th scope="col">{t("orders.when")}</th>
            </tr>
          </thead>
          <tbody>
            {charges.data.map((c) => (
              <tr key={c.chargeId}>
                <td>{c.orderId}</td>
                <td>{c.amount && formatMoney(c.amount.amount, c.amount.currency, i18n.language)}</td>
                <td>
                  {t(`orders.charge.${ChargeStatus[c.status]}`, { defaultValue: ChargeStatus[c.status] })}
                  {c.declineDetail && <div className="muted">{c.declineDetail}</div>}
                </td>
                <td>{formatDateTime(c.chargedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
    </section>
  );
}
