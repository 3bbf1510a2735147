// The operations page through the Envoy edge of a deployment where every service runs apart
// (CONSOLE is the edge's /console/): the admin picks each service and sees its own consumers,
// which only that service's process runs. Prints one JSON line.
//
// Env: CONSOLE, ADMIN_EMAIL, PASSWORD, ARTIFACTS (optional).
import { accessible, launch, newPage, screenshot, signIn } from "./browser.mjs";

const CONSOLE = process.env.CONSOLE.replace(/\/$/, "");
const NODES = [
  ["order", "order-saga"],
  ["stock", "stock"],
  ["billing", "billing"],
  ["statistics", "statistics"],
];
const out = { nodes: {} };
const browser = await launch();
try {
  const page = await newPage(browser);
  await page.goto(`${CONSOLE}/operations`);
  await signIn(page, process.env.ADMIN_EMAIL);
  await page.getByRole("heading", { name: "Exploitation", level: 1 }).waitFor();
  const projections = page.getByRole("region", { name: "Projections" });
  for (const [node, consumer] of NODES) {
    await page.getByLabel("Service").selectOption(node);
    await projections.getByRole("cell", { name: consumer, exact: true }).waitFor();
    out.nodes[node] = await projections.locator("tbody tr td:first-child").allTextContents();
  }
  out.axe = await accessible(page, "operations-edge");
  await screenshot(page, "operations-edge");
  out.problems = page.problems;
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
