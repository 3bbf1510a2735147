// What a user does with the API docs: opens /docs of the edge in Chromium (Debian's, driven by
// playwright-core), opens "Test Request" on SearchCertificates and sends it. The call goes
// from the page through the edge to the service; prints one JSON line with the answer.
//
// Env: DOCS (the docs' URL), SCREENSHOT (optional PNG path).
import { chromium } from "playwright-core";

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const answered = page.waitForResponse((r) => r.url().includes("/v1/certificates:search"), { timeout: 60_000 });
  await page.goto(`${process.env.DOCS}#tag/certificateregistryservice`);
  await page.getByText("SearchCertificates").first().waitFor({ timeout: 60_000 });
  // The section's "Test Request" buttons, each under its operation's heading: SearchCertificates'.
  const buttons = page.getByRole("button", { name: /Test Request/ });
  const operations = await buttons.evaluateAll((all) =>
    all.map((button) => {
      for (let e = button.parentElement; e; e = e.parentElement) {
        const heading = e.querySelector("h3, h2");
        if (heading) return heading.textContent.trim();
      }
      return "";
    }),
  );
  const search = operations.indexOf("SearchCertificates");
  if (search < 0) throw new Error(`no Test Request for SearchCertificates among ${JSON.stringify(operations)}`);
  await buttons.nth(search).click();
  await page.getByRole("button", { name: /^Send/ }).first().click();
  const response = await answered;
  const body = await response.json();
  await page.waitForTimeout(500);
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
  console.log(JSON.stringify({ url: response.url(), status: response.status(), body }));
} finally {
  await browser.close();
}
