/* global document -- page.evaluate callbacks run in the page */
// Browser test of the monitoring dashboard: `wrangler dev` (shared harness, no GPU tier: the edge degrades to the
// light ranking), some search traffic and feedback events, then headless Chromium logs in, loads /dashboard, and
// checks that every chart drew data (the release in canary's curves too) with gaps where a step has none, the tables
// filled (a rate its impressions cannot carry shows n/a with its counts), a long release reason stays inside its
// panel, a picked store shows only its releases and score drift, and the console stayed clean; then the experiments
// section creates, reweights and ends an experiment (and shows the 409 of a store's surface under a canary).
// Screenshot: test-artifacts/dashboard.png.
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

/** An admin API call with the bearer token (a JSON body makes it a POST). */
function admin(edge, path, body, method = body === undefined ? "GET" : "POST") {
  return fetch(`${edge.url}${path}`, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** A new page signed in to the dashboard, and the problems its console and network report. */
async function signedIn(browser, edge) {
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
  return { page, problems };
}

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
    // a variant with 4 purchases over 1 impression: its conversion is no rate (n/a with its counts)
    const lonely = await fetch(`${edge.url}/v1/events`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        events: [
          { type: "impression", productId: "P-lonely", variant: "lonely", model: "m" },
          ...[1, 2, 3, 4].map((i) => ({ type: "purchase", productId: `P-lonely-${i}`, variant: "lonely", model: "m" })),
        ],
      }),
    });
    assert.equal(lonely.status, 202, await lonely.text());
    // refused releases: a long reason on the default store, a short one on online-retail (the store picker's check)
    for (const [store, version, reason] of [
      [
        "esci",
        "heavy-long-reason",
        "the offline gate refused it: " + "nDCG@10 below production by 0.0123; ".repeat(40),
      ],
      ["online-retail", "heavy-retail-refused", "refused on the retail store"],
    ]) {
      const res = await admin(edge, "/admin/releases", {
        kind: "heavy",
        store,
        version,
        steps: [50],
        stepSeconds: 60,
        gateReport: {},
        startedBy: "browser-test",
        status: "refused",
        reason,
      });
      assert.equal(res.status, 201, await res.text());
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
    const { page, problems } = await signedIn(browser, edge);
    assert.equal(await page.getAttribute("body", "data-loaded"), "true", await page.textContent("#summary"));

    for (const id of ["chart-latency", "chart-rate", "chart-errors", "chart-cache"]) {
      const points = Number(await page.getAttribute(`#${id}`, "data-points"));
      assert.ok(points > 0, `${id} drew ${points} points`);
      assert.ok((await page.locator(`#${id} canvas`).count()) > 0, `${id} has a canvas`);
    }
    // a step with no data is a gap, never a line drawn across it
    for (const id of ["chart-latency", "chart-rate", "chart-errors", "chart-cache", "chart-ctr"])
      assert.equal(await page.getAttribute(`#${id}`, "data-span-gaps"), "false", `${id} joins across missing steps`);
    const summary = await page.textContent("#summary");
    assert.match(summary, /^\d+ requests/);
    assert.ok(Number(summary.split(" ")[0]) >= 60, summary);
    assert.ok((await page.locator("#variants tr").count()) >= 1);
    const impressions = await page.locator("#variants tr td:nth-child(3)").allTextContents();
    assert.ok(
      impressions.some((t) => Number(t) > 0),
      `impressions per variant: ${impressions}`,
    );
    // rates: a number in [0, 1] with its interval, or n/a with the counts its denominator cannot carry
    const rates = await page.locator("#variants td.ctr, #variants td.conversion").allTextContents();
    assert.ok(rates.length >= 2, `rate cells: ${rates}`);
    for (const t of rates) {
      const m = /^(n\/a \(\d+\/\d+\)|([01]\.\d{3}) \[)/.exec(t);
      assert.ok(m && (m[2] === undefined || Number(m[2]) <= 1), `rate cell ${JSON.stringify(t)}`);
    }
    const lonelyRow = page.locator("#variants tr", { hasText: "lonely" });
    assert.equal(await lonelyRow.locator("td.conversion").textContent(), "n/a (4/1)");
    assert.equal(await lonelyRow.locator("td.ctr").textContent(), "n/a (0/1)");
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
    // the long reason stays inside the Releases panel (ellipsis; the whole text in the cell's title)
    const overflow = await page.evaluate(() => {
      const sec = document.getElementById("release");
      const table = document.getElementById("releases");
      return { section: sec.clientWidth, table: table.scrollWidth, page: document.documentElement.scrollWidth };
    });
    assert.ok(
      overflow.table <= overflow.section,
      `releases table ${overflow.table}px in a ${overflow.section}px panel`,
    );
    assert.ok(overflow.page <= 1400, `page ${overflow.page}px wide`);
    const longReason = page.locator("#releases tr", { hasText: "heavy-long-reason" }).locator("td.reason");
    assert.match(await longReason.getAttribute("title"), /nDCG@10 below production by 0\.0123; .*0\.0123; $/);

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
    // the releases panel and the score drift are the picked store's alone
    const retailReleases = (await page.locator("#releases tbody tr").allTextContents()).join(" | ");
    assert.match(retailReleases, /heavy-retail-refused/);
    assert.doesNotMatch(retailReleases, /heavy-browser-canary|heavy-long-reason/);
    assert.deepEqual(await page.locator("#drift tbody tr").allTextContents(), ["no scores recorded"]);
    const esci = await pickStore("esci");
    assert.ok(Number(esci.split(" ")[0]) >= 60, esci);

    const out = path.join(REPO, "test-artifacts");
    mkdirSync(out, { recursive: true });
    await page.screenshot({ path: path.join(out, "dashboard.png"), fullPage: true });
    assert.deepEqual(problems, []);
  });

  it("the experiments section creates, reweights and ends an experiment", async () => {
    const { page, problems } = await signedIn(browser, edge);
    await page.waitForSelector("#experiments[data-ready=true]", { timeout: 60_000 });
    const settled = () => page.waitForSelector("#experiments[data-ready=true]", { timeout: 60_000 });
    const act = async (click) => {
      await page.evaluate(() => (document.getElementById("experiments").dataset.ready = "false"));
      await click();
      await settled();
      return page.textContent("#experiment-status");
    };

    // create: online-retail's search (no canary there), the form's two variants at weight 1 and a third one added
    const form = page.locator("#experiment-create");
    await form.locator("select[name=store]").selectOption("online-retail");
    await form.locator("select[name=surface]").selectOption("search");
    await page.click("#experiment-add-variant");
    await form.locator("tr.variant").nth(2).locator("input[name=weight]").fill("2");
    await form.locator("input[name=reason]").fill("browser test");
    assert.equal(await act(() => form.locator("button[type=submit]").click()), "created an experiment");
    const block = page.locator(".experiment[data-active=true]", { hasText: "online-retail search" });
    assert.equal(await block.count(), 1);
    const id = await block.getAttribute("data-id");
    const read = async () =>
      (await (await admin(edge, "/admin/experiments?store=online-retail")).json()).experiments.find((e) => e.id === id);
    assert.deepEqual(
      (await read()).variants.map((v) => [v.name, v.weight]),
      [
        ["control", 1],
        ["treatment", 1],
        ["variant-3", 2],
      ],
    );

    // reweight
    await block.locator("tr[data-variant=treatment] input").fill("3");
    assert.equal(await act(() => block.locator("button.reweight").click()), `reweighted ${id}`);
    assert.equal((await read()).variants.find((v) => v.name === "treatment").weight, 3);
    assert.equal(await page.inputValue(`.experiment[data-id="${id}"] tr[data-variant=treatment] input`), "3");

    // a second experiment on the same store's surface is refused, and says why
    const again = await act(() => form.locator("button[type=submit]").click());
    assert.match(again, /^experiment_active: experiment .* is active on the search of store online-retail/);
    assert.equal(await page.getAttribute("#experiment-status", "class"), "error");
    // esci's search runs a release's canary: refused with the 409 that names it
    await form.locator("select[name=store]").selectOption("esci");
    assert.match(await act(() => form.locator("button[type=submit]").click()), /^release_in_progress: release rel-/);

    // end
    assert.equal(await act(() => page.locator(`.experiment[data-id="${id}"] button.end`).click()), `ended ${id}`);
    assert.equal(await page.getAttribute(`.experiment[data-id="${id}"]`, "data-active"), "false");
    assert.equal((await read()).active, false);
    const changes = (await (await admin(edge, `/admin/experiments/${encodeURIComponent(id)}/changes`)).json()).changes;
    assert.deepEqual(
      changes.map((c) => [c.action, c.actor]),
      [
        ["create", "dashboard"],
        ["reweight", "dashboard"],
        ["end", "dashboard"],
      ],
    );
    // the refusals above show in the page, not as console errors of the page's own (their 409 responses aside)
    assert.deepEqual(
      problems.filter((p) => !/status of 409/.test(p)),
      [],
    );
  });
});
