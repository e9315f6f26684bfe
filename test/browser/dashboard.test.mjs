// Browser test of the monitoring dashboard: `wrangler dev` (shared harness, no GPU tier: the edge degrades to the
// light ranking), some search traffic and feedback events, then headless Chromium logs in, loads /dashboard, and
// checks that every chart drew data (the release in canary's curves too), the tables filled, and the console stayed
// clean. Screenshot: test-artifacts/dashboard.png.
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { PYTHON, REPO, startEdge, stopAll } from "../integration/harness.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
// VITRINE_EDGE_URL (+ VITRINE_ADMIN_TOKEN) points the test at an edge that is already running instead.
const EXTERNAL = process.env.VITRINE_EDGE_URL;
const TOKEN = EXTERNAL ? (process.env.VITRINE_ADMIN_TOKEN ?? "") : "browser-test-admin-token";
const FALLBACK_QUERIES = [
  "running shoes",
  "usb c cable",
  "coffee maker",
  "wireless headphones",
  "yoga mat",
  "phone case",
];

/** Two-word queries taken from product titles of the prepared catalog, so searches find something. */
function catalogQueries(n) {
  const script = `
import sqlite3, re, sys
db = sqlite3.connect(sys.argv[1])
out = []
for (t,) in db.execute("SELECT title FROM products ORDER BY rowid LIMIT 400"):
    w = re.findall(r"[A-Za-z]{4,}", t)[:2]
    if len(w) == 2: out.append(" ".join(w).lower())
print("\\n".join(dict.fromkeys(out)))`;
  try {
    const text = execFileSync(PYTHON, ["-c", script, path.join(REPO, ".vitrine/catalog/catalog.sqlite")], {
      encoding: "utf8",
    });
    const qs = text.split("\n").filter(Boolean).slice(0, n);
    return qs.length ? qs : FALLBACK_QUERIES;
  } catch {
    return FALLBACK_QUERIES;
  }
}
const QUERIES = catalogQueries(10);

describe("monitoring dashboard in Chromium", { timeout: 600_000 }, () => {
  let edge;
  let browser;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install -y chromium`);
    edge = EXTERNAL
      ? { url: EXTERNAL.replace(/\/$/, ""), stop: async () => {} }
      : await startEdge({
          vars: {
            ADMIN_TOKEN: TOKEN,
            GPU_ENDPOINT_URL: "http://127.0.0.1:9",
            GPU_SECONDARY_ENDPOINT_URL: "http://127.0.0.1:9",
            GPU_DEADLINE_MS: "200",
          },
        });
    // a release in canary (50 %): the Releases section draws its canary vs baseline curves
    const rel = await fetch(`${edge.url}/admin/releases`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({
        kind: "heavy",
        version: "heavy-browser-canary",
        steps: [50],
        stepSeconds: 3600,
        gateReport: { note: "browser test" },
        startedBy: "browser-test",
      }),
    });
    assert.equal(rel.status, 201, await rel.text());
    for (let i = 0; i < 60; i++) {
      const q = QUERIES[i % QUERIES.length];
      const res = await fetch(`${edge.url}/v1/search?q=${encodeURIComponent(q)}&user=u${i % 9}`);
      const body = await res.json().catch(() => ({}));
      if (res.ok && body.requestId && Array.isArray(body.items) && body.items.length > 0) {
        const events = [
          {
            type: "impression",
            requestId: body.requestId,
            productId: String(body.items[0].id),
            position: 0,
            variant: body.variant,
            model: body.models?.heavy,
          },
        ];
        if (i % 3 === 0)
          events.push({
            type: "click",
            requestId: body.requestId,
            productId: String(body.items[0].id),
            position: 0,
            variant: body.variant,
            model: body.models?.heavy,
          });
        const ev = await fetch(`${edge.url}/v1/events`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ events }),
        });
        assert.equal(ev.status, 202, await ev.text());
      }
    }
    const unauth = await fetch(`${edge.url}/admin/metrics`);
    assert.equal(unauth.status, 401);
    assert.equal((await unauth.json()).error, "unauthorized");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
  });

  after(async () => {
    await browser?.close();
    await edge?.stop();
    stopAll();
  });

  it("logs in, renders charts with data, no console errors, saves a screenshot", async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1500 } });
    const problems = [];
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    page.on("requestfailed", (r) => problems.push(`requestfailed: ${r.url()}`));

    await page.goto(`${edge.url}/dashboard`);
    await page.fill("#token", TOKEN);
    await Promise.all([page.waitForURL(`${edge.url}/dashboard`), page.click("button[type=submit]")]);
    await page.waitForSelector("body[data-loaded]", { timeout: 60_000 });
    assert.equal(await page.getAttribute("body", "data-loaded"), "true", await page.textContent("#summary"));

    for (const id of ["chart-latency", "chart-rate", "chart-errors", "chart-cache"]) {
      const points = Number(await page.getAttribute(`#${id}`, "data-points"));
      assert.ok(points > 0, `${id} drew ${points} points`);
      assert.ok((await page.locator(`#${id} canvas`).count()) > 0, `${id} has a canvas`);
    }
    const summary = await page.textContent("#summary");
    assert.match(summary, /^\d+ requests/);
    assert.ok(Number(summary.split(" ")[0]) >= 60, summary);
    assert.ok((await page.locator("#variants tr").count()) >= 1);
    const impressions = await page.locator("#variants tr td:nth-child(3)").allTextContents();
    assert.ok(
      impressions.some((t) => Number(t) > 0),
      `impressions per variant: ${impressions}`,
    );
    assert.ok((await page.locator("#alerts li").count()) >= 1);
    const drift = await page.locator("#drift tbody tr").allTextContents();
    assert.ok(
      drift.some((t) => t.startsWith("light")),
      `score drift rows: ${drift}`,
    );

    for (const id of ["chart-release-latency", "chart-release-errors"]) {
      const points = Number(await page.getAttribute(`#${id}`, "data-points"));
      assert.ok(points > 0, `${id} drew ${points} points`);
    }
    const releases = await page.locator("#releases tbody tr").allTextContents();
    assert.ok(
      releases.some((t) => t.includes("heavy-browser-canary") && t.includes("canary")),
      `releases: ${releases}`,
    );

    // the store picker: every figure of one store. All the traffic above is search on the default store (esci).
    const pickStore = async (id) => {
      await page.selectOption("#store-picker select", id);
      await Promise.all([page.waitForURL(/\/dashboard\?/), page.click("#store-picker button")]);
      await page.waitForSelector("body[data-loaded]", { timeout: 60_000 });
      assert.equal(await page.getAttribute("body", "data-store"), id);
      return page.textContent("#summary");
    };
    const retail = await pickStore("online-retail");
    assert.match(retail, /^0 requests/, retail);
    const esci = await pickStore("esci");
    assert.ok(Number(esci.split(" ")[0]) >= 60, esci);

    const out = path.join(REPO, "test-artifacts");
    mkdirSync(out, { recursive: true });
    await page.screenshot({ path: path.join(out, "dashboard.png"), fullPage: true });
    assert.deepEqual(problems, []);
  });
});
