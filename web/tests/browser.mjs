// What every console test needs: Debian's Chromium driven by playwright-core (browser
// downloads do not work here), an accessibility check with axe-core, screenshots as artifacts.
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** A fresh browser context (its own sessionStorage: one tab's session) and page. */
export async function newPage(browser, { locale = "fr-FR" } = {}) {
  // bypassCSP: axe is injected as an inline script, which the console's policy forbids.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale, bypassCSP: true });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && !/status of 4\d\d/.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  page.problems = problems;
  return page;
}

/** axe-core on the page as it is: serious and critical violations fail the test. */
export async function accessible(page, name) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")) }));
  });
  const blocking = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  if (blocking.length > 0) throw new Error(`${name}: accessibility violations ${JSON.stringify(blocking)}`);
  return result.length;
}

export async function screenshot(page, name) {
  if (process.env.ARTIFACTS) await page.screenshot({ path: `${process.env.ARTIFACTS}/${name}.png`, fullPage: true });
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

let input = null;
const lines = [];
const waiters = [];

/** Asks the test driving this script to do `action` (a JSON object on a line starting with
 * "ACT "), and resolves with its answer line once it has. */
export function ask(action) {
  if (!input) {
    input = createInterface({ input: process.stdin });
    input.on("line", (line) => {
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    });
  }
  console.log(`ACT ${JSON.stringify(action)}`);
  return new Promise((resolve) => {
    const line = lines.shift();
    if (line !== undefined) resolve(line);
    else waiters.push(resolve);
  });
}

/** Lets the process end once the script is done with `ask`. */
export function doneAsking() {
  input?.close();
}

/** Signs in on the console's sign-in page (French labels). */
export async function signIn(page, email, password = process.env.PASSWORD) {
  await page.getByLabel("Adresse e-mail").fill(email);
  await page.getByLabel("Mot de passe").fill(password);
  await page.getByRole("button", { name: "Se connecter" }).click();
}

/** A small PDF whose text is `title` (the server checks the %PDF- signature and the digest). */
export function pdf(title) {
  return Buffer.from(`%PDF-1.7\n1 0 obj << /Title (${title}) >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n`);
}

/** A 1×1 PNG. */
export const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);

/** The four mandatory documents, as the upload form takes them. */
export function mandatoryDocuments(prefix) {
  return [
    ["Fiche technique", { name: `${prefix}-fiche-technique.pdf`, mimeType: "application/pdf", buffer: pdf(`${prefix} fiche technique`) }],
    ["Déclaration de conformité", { name: `${prefix}-declaration.pdf`, mimeType: "application/pdf", buffer: pdf(`${prefix} déclaration`) }],
    ["Extrait du RCCM", { name: `${prefix}-rccm.pdf`, mimeType: "application/pdf", buffer: pdf(`${prefix} RCCM`) }],
    ["Photos", { name: `${prefix}-photo.png`, mimeType: "image/png", buffer: PNG }],
  ];
}

/** Uploads `file` as a document of `kind` on the open dossier page and waits for its row. */
export async function uploadDocument(page, kind, file) {
  await page.getByLabel("Type de document").selectOption({ label: kind });
  await page.getByLabel("Fichier", { exact: true }).setInputFiles(file);
  await page.getByRole("button", { name: "Envoyer" }).click();
  await page.getByRole("cell", { name: file.name }).first().waitFor();
}

/** Places an order in the shop (French labels) and waits for its page. */
export async function placeOrder(page, consoleUrl, product, quantity, card) {
  await page.goto(`${consoleUrl}/shop`);
  await page.getByRole("heading", { name: "Boutique" }).waitFor();
  await page.getByLabel(`Quantité de ${product}`).fill(String(quantity));
  await page.getByLabel("Carte de paiement").selectOption({ label: card });
  await page.getByRole("button", { name: "Commander" }).click();
  await page.getByTestId("order-status").waitFor();
}

/** Waits for the open order page to show `status`; returns its steps (with the delay from
 * each step's commit to the page, for the steps seen live) and the failure text. */
export async function orderEnded(page, status) {
  await page.getByTestId("order-status").filter({ hasText: status }).waitFor({ timeout: 60_000 });
  const steps = await page.locator("[data-step]").evaluateAll((items) =>
    items.map((li) => ({ step: li.dataset.step, delayMs: li.dataset.delayMs === undefined ? null : Number(li.dataset.delayMs) })),
  );
  const failure = (await page.getByTestId("order-failure").count())
    ? (await page.getByTestId("order-failure").textContent()).trim()
    : "";
  return { url: page.url(), steps, failure };
}

export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)] : null;
}
