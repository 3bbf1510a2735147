import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { orders, stock } from "../api";
import { ErrorNotice } from "./ErrorNotice";

/** The demo payment provider decides by the card token (see the billing service). */
const CARDS = [
  { token: "tok_visa_4242", key: "shop.cardOk" },
  { token: "tok_flagged_0002", key: "shop.cardDeclined" },
  { token: "tok_insufficient_9995", key: "shop.cardNoFunds" },
];

export function formatMoney(amount: bigint | number, currency: string, language: string): string {
  return `${new Intl.NumberFormat(language).format(amount)} ${currency}`;
}

/** The catalogue, a cart and the order: PlaceOrder with an idempotency key kept until it
 * succeeds (a retry after a lost answer places the same order, not a second one). */
export function Shop() {
  const { t, i18n } = useTranslation();
  const navigate = useNavigate();
  const [cart, setCart] = useState<Record<string, number>>({});
  const [card, setCard] = useState(CARDS[0].token);
  const [idempotencyKey, setIdempotencyKey] = useState(() => crypto.randomUUID());
  const products = useQuery({
    queryKey: ["products"],
    queryFn: async () => (await stock.listProducts({ pageSize: 100 })).products,
  });
  const priced = (products.data ?? []).filter((p) => p.price);
  const lines = priced
    .filter((p) => (cart[p.productId] ?? 0) > 0)
    .map((p) => ({ productId: p.productId, quantity: cart[p.productId], unitPrice: p.price!.amount }));
  const total = lines.reduce((sum, l) => sum + BigInt(l.quantity) * l.unitPrice, 0n);
  const place = useMutation({
    mutationFn: () => orders.placeOrder({ idempotencyKey, lines, currency: "XAF", paymentToken: card }),
    onSuccess: (response) => {
      setIdempotencyKey(crypto.randomUUID());
      setCart({});
      navigate(`/orders/${response.order!.orderId}`);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (lines.length > 0) place.mutate();
  };

  return (
    <section>
      <h1>{t("shop.title")}</h1>
      {products.isError && <ErrorNotice error={products.error} />}
      <form onSubmit={submit}>
        <table className="list">
          <thead>
            <tr>
              <th scope="col">{t("shop.product")}</th>
              <th scope="col">{t("shop.price")}</th>
              <th scope="col">{t("shop.available")}</th>
              <th scope="col">{t("shop.quantity")}</th>
            </tr>
          </thead>
          <tbody>
            {priced.map((p) => (
              <tr key={p.productId}>
                <td>{p.name}</td>
                <td>{formatMoney(p.price!.amount, p.price!.currency, i18n.language)}</td>
                <td>{p.available.toString()}</td>
                <td>
                  <input
                    type="number"
                    min={0}
                    className="quantity"
                    aria-label={t("shop.quantityOf", { name: p.name })}
                    value={cart[p.productId] ?? 0}
                    onChange={(e) => setCart({ ...cart, [p.productId]: Math.max(0, Number(e.target.value) || 0) })}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <div className="row checkout">
          <div className="field">
            <label htmlFor="card">{t("shop.card")}</label>
            <select id="card" value={card} onChange={(e) => setCard(e.target.value)}>
              {CARDS.map((c) => (
                <option key={c.token} value={c.token}>
                  {t(c.key)}
                </option>
              ))}
            </select>
          </div>
          <p className="total">{t("shop.total", { total: formatMoney(total, "XAF", i18n.language) })}</p>
          <button type="submit" disabled={lines.length === 0 || place.isPending}>
            {t("shop.order")}
          </button>
        </div>
        {place.isError && <ErrorNotice error={place.error} />}
      </form>
    </section>
  );
}
