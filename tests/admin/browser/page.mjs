// Drives the admin page in headless Chromium: sign in, see the dead
// letter, save a screenshot, press its Replay button.
//
// Run by tests/admin/page.rs, which serves a receiver and its admin router
// and passes: ADMIN_URL, ADMIN_TOKEN, DEAD_ID, SCREENSHOT, CHROMIUM.
// Prints one JSON line on success; exits non-zero with the reason otherwise.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const { ADMIN_URL, ADMIN_TOKEN, DEAD_ID, SCREENSHOT, CHROMIUM } = process.env;
for (const [name, value] of Object.entries({ ADMIN_URL, ADMIN_TOKEN, DEAD_ID, SCREENSHOT, CHROMIUM })) {
  if (!value) throw new Error(`${name} is not set`);
}

const profile = mkdtempSync(join(tmpdir(), "hookwarden-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1440, height: 900 },
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

const problems = [];
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    // The first navigation is answered 401 (the sign-in page): expected.
    if (message.type() === "error" && !message.text().includes("status of 401")) {
      problems.push(`console error: ${message.text()}`);
    }
  });

  // Without the token: a 401 whose page asks for it.
  const first = await page.goto(`${ADMIN_URL}/admin`);
  if (first.status() !== 401) throw new Error(`GET /admin without a token answered ${first.status()}`);
  await page.locator("#signin").waitFor({ state: "visible" });

  // A wrong token is refused and nothing is shown.
  await page.fill("#token", "not-the-admin-token-at-all");
  await page.click("#signin-button");
  await page.locator("#signin-error", { hasText: "refused" }).waitFor();
  if (await page.locator("#app").isVisible()) throw new Error("the app shows with a wrong token");

  // The right one.
  await page.fill("#token", ADMIN_TOKEN);
  await page.click("#signin-button");
  await page.locator("#app").waitFor({ state: "visible" });
  const row = page.locator(`#dead-letters tbody tr[data-id="${DEAD_ID}"]`);
  await row.waitFor();
  const rowText = await row.innerText();
  if (!rowText.includes("invoice.finalized")) throw new Error(`dead letter row: ${rowText}`);

  // Let a few polls draw the charts, then take the picture.
  await page.locator("#chart-rejections [data-code]").first().waitFor({ timeout: 30_000 });
  await page.locator("#chart-flow [data-code='accepted']").waitFor();
  await page.waitForTimeout(15_000);
  const counts = {
    accepted: await page.locator("#c-accepted").innerText(),
    dead: await page.locator("#c-dead").innerText(),
    times: await page.locator("#c-times").innerText(),
    recent: await page.locator("#deliveries tbody tr").count(),
    rejectionCodes: await page.locator("#chart-rejections [data-code]").evaluateAll((nodes) => nodes.map((n) => n.dataset.code)),
  };
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  // Replay it.
  await row.locator("button.replay").click();
  await page.locator("#toast", { hasText: `Replayed ${DEAD_ID}` }).waitFor();

  // The body of a delivery opens on click.
  await page.locator(`#deliveries tbody tr`).first().click();
  await page.locator("#detail").waitFor({ state: "visible" });
  const detailBody = await page.locator("#detail-body").innerText();
  if (!detailBody.includes('"type"')) throw new Error(`detail body: ${detailBody}`);

  if (problems.length) throw new Error(problems.join("\n"));
  console.log(JSON.stringify({ ok: true, replayed: DEAD_ID, ...counts }));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
