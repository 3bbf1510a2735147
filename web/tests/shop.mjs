// A shopper in the console, against a running `fleuve dev`: an order confirmed with its saga
// steps appearing live (WatchOrder over grpc-web), an order over the stock failing with the
// reason, a declined card showing the compensation, then the orders, account and payments.
// With MEASURE_ORDERS=n, n more orders measure the delay from a step's commit (the order's
// updated_at) to the page showing it. Prints one JSON line.
//
// Env: CONSOLE, APPLICANT_EMAIL, PASSWORD, MEASURE_ORDERS (default 0), ARTIFACTS (optional).
import { accessible, launch, newPage, screenshot, signIn } from "./browser.mjs";

const CONSOLE = process.env.CONSOLE.replace(/\/$/, "");
const out = { axe: {} };

async function order(page, product, quantity, card) {
  await page.goto(`${CONSOLE}/shop`);
  await page.getByRole("heading", { name: "Boutique" }).waitFor();
  await page.getByLabel(`Quantité de ${product}`).fill(String(quantity));
  await page.getByLabel("Carte de paiement").selectOption({ label: card });
  await page.getByRole("button", { name: "Commander" }).click();
  await page.getByTestId("order-status").waitFor();
}

async function ended(page, status) {
  await page.getByTestId("order-status").filter({ hasText: status }).waitFor({ timeout: 60_000 });
  const steps = await page.locator("[data-step]").evaluateAll((items) =>
    items.map((li) => ({ step: li.dataset.step, delayMs: li.dataset.delayMs === undefined ? null : Number(li.dataset.delayMs) })),
  );
  const failure = await page.getByTestId("order-failure").count() ? (await page.getByTestId("order-failure").textContent()).trim() : "";
  return { url: page.url(), steps, failure };
}

const browser = await launch();
try {
  const page = await newPage(browser);
  await page.goto(`${CONSOLE}/shop`);
  await signIn(page, process.env.APPLICANT_EMAIL);
  await page.getByRole("heading", { name: "Boutique" }).waitFor();
  await page.getByRole("cell", { name: "Ballpoint pen" }).waitFor();
  out.axe.shop = await accessible(page, "shop");
  await screenshot(page, "shop");

  await order(page, "Ballpoint pen", 2, "Carte valide (tok_visa_4242)");
  out.confirmed = await ended(page, "Confirmée");
  out.axe.order = await accessible(page, "order");
  await screenshot(page, "order-confirmed");

  await order(page, "Ink bottle", 5, "Carte valide (tok_visa_4242)");
  out.outOfStock = await ended(page, "Échouée");
  await screenshot(page, "order-out-of-stock");

  await order(page, "Ballpoint pen", 1, "Carte signalée, refusée (tok_flagged_0002)");
  out.declined = await ended(page, "Échouée");
  await page.getByText("Compensation effectuée").waitFor();
  await screenshot(page, "order-declined");

  await page.getByRole("link", { name: "Mes commandes" }).first().click();
  await page.getByRole("heading", { name: "Mes commandes" }).waitFor();
  await page.getByTestId("balance").waitFor();
  out.orders = await page.locator("table.list").first().locator("tbody tr").count();
  out.balance = (await page.getByTestId("balance").textContent()).replace(/\s/g, "");
  out.axe.orders = await accessible(page, "orders");
  await screenshot(page, "orders");

  // The live delay, over more confirmed orders.
  out.delays = out.confirmed.steps.map((s) => s.delayMs).filter((d) => d !== null);
  for (let i = 0; i < Number(process.env.MEASURE_ORDERS ?? 0); i++) {
    await order(page, "Ballpoint pen", 1, "Carte valide (tok_visa_4242)");
    const seen = await ended(page, "Confirmée");
    out.delays.push(...seen.steps.map((s) => s.delayMs).filter((d) => d !== null));
  }
  const sorted = [...out.delays].sort((a, b) => a - b);
  out.delayP95Ms = sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)] : null;
  out.problems = page.problems;
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
