// What a user waits for in the console (`fleuve bench console` runs this against a started
// `fleuve dev` holding many dossiers): the time from navigating to the dossier list until its
// first row's link can be clicked, and the delay from each saga step's commit to the order
// page showing it. Prints one JSON line.
//
// Env: CONSOLE, APPLICANT_EMAIL, PASSWORD, LOADS (default 5), ORDERS (default 50).
import { launch, newPage, orderEnded, percentile, placeOrder, signIn } from "./browser.mjs";

const CONSOLE = process.env.CONSOLE.replace(/\/$/, "");
const out = { listMs: [], delays: [] };
const browser = await launch();
try {
  const page = await newPage(browser);
  await page.goto(`${CONSOLE}/dossiers`);
  await signIn(page, process.env.APPLICANT_EMAIL);
  await page.getByRole("heading", { name: "Les dossiers de mon organisation" }).waitFor();
  for (let i = 0; i < Number(process.env.LOADS ?? 5); i++) {
    // A full load each time (the bundle from the browser's cache, as a returning user has it).
    const started = Date.now();
    await page.goto(`${CONSOLE}/dossiers`);
    const first = page.locator("table.list tbody tr a").first();
    await first.waitFor();
    await first.click({ trial: true });
    out.listMs.push(Date.now() - started);
  }
  for (let i = 0; i < Number(process.env.ORDERS ?? 50); i++) {
    await placeOrder(page, CONSOLE, "Ballpoint pen", 1, "Carte valide (tok_visa_4242)");
    const seen = await orderEnded(page, "Confirmée");
    out.delays.push(...seen.steps.map((s) => s.delayMs).filter((d) => d !== null));
  }
  out.listMedianMs = percentile(out.listMs, 0.5);
  out.listMaxMs = Math.max(...out.listMs);
  out.delayP50Ms = percentile(out.delays, 0.5);
  out.delayP95Ms = percentile(out.delays, 0.95);
  out.problems = page.problems;
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
