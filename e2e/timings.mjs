// Page timings at demo scale (scripts/bench-web): server time per page as a signed-in
// browser sees it (median of 25 requests after a warm-up), and the kanban's paint and
// load in headless Chromium, for a rep, a manager, the director and the admin (who also
// times the settings pages).
import { chromium } from "playwright-core";

const BASE = process.env.KAIROS_URL ?? "http://127.0.0.1:8080";
const PASSWORD = "kairos-demo-2026";
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox", "--disable-dev-shm-usage"] });
const results = {};
try {
  // The first link on a list page to a record of that list, e.g. /accounts/{id}.
  const firstRecord = async (page, list) => {
    await page.goto(`${BASE}${list}`);
    return page.$$eval(`a[href^='${list}/']`, (links, prefix) => links.map((a) => a.getAttribute("href")).find((h) => new RegExp(`^${prefix}/[0-9a-f-]{36}$`).test(h)), list);
  };
  for (const email of ["rep.sh1.1@demo.kairos", "manager.sh1@demo.kairos", "director@demo.kairos", "admin@demo.kairos"]) {
    const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
    const page = await context.newPage();
    await page.goto(`${BASE}/login`);
    await page.fill("#email", email);
    await page.fill("#password", PASSWORD);
    await Promise.all([page.waitForURL(`${BASE}/`), page.click("button[type=submit]")]);
    const kanban = [];
    for (let i = 0; i < 5; i++) {
      await page.goto(`${BASE}/pipeline`);
      kanban.push(await page.evaluate(() => {
        const nav = performance.getEntriesByType("navigation")[0];
        const fcp = performance.getEntriesByType("paint").find((p) => p.name === "first-contentful-paint");
        return { fcp: fcp ? fcp.startTime : null, dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd };
      }));
    }
    const median = (xs) => { const s = xs.filter((x) => x !== null).sort((a, b) => a - b); return s.length ? Math.round(s[Math.floor(s.length / 2)]) : null; };
    const anyDeal = await page.getAttribute(".card", "data-id");
    const records = [await firstRecord(page, "/accounts"), await firstRecord(page, "/contacts"), await firstRecord(page, "/leads")].filter(Boolean);
    const pages = ["/", "/pipeline", "/pipeline/board", "/opportunities", `/opportunities/${anyDeal}`, "/accounts", "/contacts", "/leads", ...records,
      "/approvals", "/inbox",
      "/reports?report=funnel", "/reports?report=conversion", "/reports?report=dwell", "/reports?report=win_rate", "/reports?report=loss_reasons",
      "/reports?report=forecast", "/reports?report=movement", "/reports?report=trend", "/reports?report=team", "/reports?report=forecast_accuracy",
      "/reports?report=lead_sources"];
    if (email.startsWith("admin")) {
      pages.push("/settings", "/settings/org", "/settings/targets", "/settings/processes", "/settings/webhooks");
      const process = await firstRecord(page, "/settings/processes");
      if (process) pages.push(process);
    }
    const server = {};
    for (const p of pages) {
      await context.request.get(BASE + p);
      const times = [];
      for (let i = 0; i < 25; i++) {
        const s = performance.now();
        const r = await context.request.get(BASE + p);
        if (r.status() !== 200) throw new Error(`${p}: ${r.status()}`);
        await r.body();
        times.push(performance.now() - s);
      }
      times.sort((a, b) => a - b);
      server[p.replace(anyDeal, "{id}").replace(/[0-9a-f-]{36}$/, "{id}")] = Math.round(times[12] * 10) / 10;
    }
    results[email] = { kanban_ms: { first_contentful_paint: median(kanban.map((k) => k.fcp)), dom_content_loaded: median(kanban.map((k) => k.dcl)), load: median(kanban.map((k) => k.load)) }, page_p50_ms: server };
    await context.close();
  }
  console.log(JSON.stringify(results, null, 2));
} finally {
  await browser.close();
}
