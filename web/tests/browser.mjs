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
