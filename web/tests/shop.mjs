// A shopper in the console, against a running `fleuve dev`: an order confirmed with its saga
// steps appearing live (WatchOrder over grpc-web), an order over the stock failing with the
// reason, a declined card showing the compensation, then the orders, account and payments.
// With MEASURE_ORDERS=n, n more orders measure the delay from a step's commit (the order's
// updated_at) to the page showing it. Prints one JSON line.
//
// Env: CONSOLE, APPLICANT_EMAIL, PASSWORD, MEASURE_ORDERS (default 0), ARTIFACTS (optional).
import { accessible, launch, newPage, orderEnded, percentile, placeOrder, screenshot, signIn } from "./browser.mjs";

const CONSOLE = process.env.CONSOLE.replace(/\/$/, "");
const out = { axe: {} };

const browser = await launch();
try {
  const page = await newPage(browser);
  await page.goto(`${CONSOLE}/shop`);
  await signIn(page, process.env.APPLICANT_EMAIL);
  await page.getByRole("heading", { name: "Boutique" }).waitFor();
  await page.getByRole("cell", { name: "Ballpoint pen" }).waitFor();
  out.axe.shop = await accessible(page, "shop");
  await screenshot(page, "shop");

  await placeOrder(page, CONSOLE, "Ballpoint pen", 2, "Carte valide (tok_visa_4242)");
  out.confirmed = await orderEnded(page, "Confirmée");
  out.axe.order = await accessible(page, "order");
  await screenshot(page, "order-confirmed");

  await placeOrder(page, CONSOLE, "Ink bottle", 5, "Carte valide (tok_visa_4242)");
  out.outOfStock = await orderEnded(page, "Échouée");
  await screenshot(page, "order-out-of-stock");

  await placeOrder(page, CONSOLE, "Ballpoint pen", 1, "Carte signalée, refusée (tok_flagged_0002)");
  out.declined = await orderEnded(page, "Échouée");
  await page.getByText("Compensation effectuée").waitFor();
  await screenshot(page, "order-declined");

  await page.getByRole("link", { name: "Mes commandes" }).first().click();
  await page.getByRole("heading", { name: "Mes commandes" }).waitFor();
  await page.getByTestId("balance").waitFor();
  // The list loads after the heading: wait for the three orders placed above to be listed.
  await page.locator("table.list").first().locator("tbody tr").nth(2).waitFor();
  out.orders = await page.locator("table.list").first().locator("tbody tr").count();
  out.balance = (await page.getByTestId("balance").textContent()).replace(/\s/g, "");
  out.axe.orders = await accessible(page, "orders");
  await screenshot(page, "orders");

  // The live delay, over more confirmed orders.
  out.delays = out.confirmed.steps.map((s) => s.delayMs).filter((d) => d !== null);
  for (let i = 0; i < Number(process.env.MEASURE_ORDERS ?? 0); i++) {
    await placeOrder(page, CONSOLE, "Ballpoint pen", 1, "Carte valide (tok_visa_4242)");
    const seen = await orderEnded(page, "Confirmée");
    out.delays.push(...seen.steps.map((s) => s.delayMs).filter((d) => d !== null));
  }
  out.delayP95Ms = percentile(out.delays, 0.95);
  out.problems = page.problems;
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
