// An operator in the console, against a running node (CONSOLE) where the notification
// consumer has parked a certificate event whose dossier it did not know: the dead letter is
// listed with its error; a redrive before the cause is fixed leaves it parked and says why;
// once the test has fixed the cause, a redrive applies it; a projection is rebuilt. Prints
// one JSON line.
//
// Env: CONSOLE, ADMIN_EMAIL, PASSWORD, ARTIFACTS (optional).
import { accessible, ask, doneAsking, launch, newPage, screenshot, signIn } from "./browser.mjs";

const CONSOLE = process.env.CONSOLE.replace(/\/$/, "");
const out = { axe: {} };
const browser = await launch();
try {
  const page = await newPage(browser);
  await page.goto(`${CONSOLE}/operations`);
  await signIn(page, process.env.ADMIN_EMAIL);
  await page.getByRole("heading", { name: "Exploitation", level: 1 }).waitFor();
  // The notification service's operations (one node here: it answers for every service).
  await page.getByLabel("Service").selectOption("notification");
  await page.getByLabel("Consommateur").selectOption({ label: "notification" });
  const row = page.locator("tr", { hasText: "CertificateIssued" });
  await row.waitFor();
  out.letterId = await row.getAttribute("data-letter");
  out.error = (await row.locator("td").nth(3).textContent()).trim();
  out.axe.operations = await accessible(page, "operations");
  await screenshot(page, "operations");

  // Too early: the cause is still there.
  await page.getByRole("button", { name: `Rejouer la lettre ${out.letterId}` }).click();
  const early = page.getByText(`Lettre ${out.letterId} toujours en attente`);
  await early.waitFor();
  out.early = (await early.textContent()).trim();

  // The cause fixed, the redrive applies it.
  await ask({ action: "fix-cause" });
  await page.getByRole("button", { name: `Rejouer la lettre ${out.letterId}` }).click();
  await page.getByText(`Lettre ${out.letterId} rejouée : l'enregistrement est appliqué.`).waitFor();
  await page.getByLabel("Statut", { exact: true }).selectOption({ label: "Rejouée" });
  await page.locator(`tr[data-letter="${out.letterId}"]`, { hasText: "Rejouée" }).waitFor();

  // A rebuild of the public registry, answered with what it replayed.
  await page.getByRole("button", { name: "Reconstruire certificate-registry" }).click();
  const rebuilt = page.getByText(/^certificate-registry reconstruite/);
  await rebuilt.waitFor({ timeout: 60_000 });
  out.rebuilt = (await rebuilt.textContent()).trim();
  out.progressUpdates = Number(await rebuilt.getAttribute("data-progress-updates"));
  await screenshot(page, "operations-after");
  out.problems = page.problems;
  console.log(JSON.stringify(out));
} finally {
  doneAsking();
  await browser.close();
}
