// A reduced `npm run bench:scale` (10^3 and 10^4 products, 2,000 events each — 1,500 of them through the API, the
// rest bulk-loaded — one rep, no pipeline) against the real
// system it starts itself (gpu-tier + wrangler dev on free ports, a fresh D1 per size): the table and the JSON are
// produced and every figure is there — the throughputs, the search and recommend stages, workerd RSS, the worker
// isolate's V8 heap (through the inspector), D1 bytes per
// product and the cold-isolate figures positive; light and gpu stage timings present and ≥ 0 (workerd's clock only
// moves across I/O, so a CPU-only stage may read 0 ms) — with a log-log slope for each figure that has both ends.
// Timings are not asserted: they are what the bench prints.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { makeTempDir, REPO, startEdge, stop, WRANGLER_ENV } from "./harness.mjs";
import { serverTiming, slope } from "../../scripts/bench-scale-figures.mjs";

const execFileP = promisify(execFile);
const SIZES = [1000, 10000];

describe("bench:scale (reduced)", () => {
  it("parses Server-Timing and computes log-log slopes", () => {
    assert.deepEqual(serverTiming('retrieval;dur=12.5, light;dur=0, gpu;dur=31, total;dur=50;desc="total"'), {
      retrieval: 12.5,
      light: 0,
      gpu: 31,
      total: 50,
    });
    assert.equal(slope(10, 100, 1000, 10000), 1);
    assert.equal(slope(10, 10, 1000, 10000), 0);
    assert.equal(slope(0, 10, 1000, 10000), null);
  });

  it("prints a table per size and writes every figure as JSON", { timeout: 900_000 }, async () => {
    const out = path.join(makeTempDir("vitrine-scale-test-"), "scale.json");
    const { stdout } = await execFileP(
      process.execPath,
      [
        "scripts/bench-scale.mjs",
        "--products",
        SIZES.join(","),
        "--events",
        "2000",
        "--api-events",
        "1500",
        "--reps",
        "1",
        "--skip-pipeline",
        "--out",
        out,
      ],
      { cwd: REPO, env: { ...process.env, ...WRANGLER_ENV }, maxBuffer: 16 * 2 ** 20 },
    );
    for (const n of SIZES) assert.match(stdout, new RegExp(`── ${n.toLocaleString("en")} products`));
    assert.match(stdout, /log-log slope between sizes/);

    const report = JSON.parse(readFileSync(out, "utf8"));
    assert.deepEqual(
      report.sizes.map((f) => f.products),
      SIZES,
    );
    for (const f of report.sizes) {
      // the first 1,500 events through /v1/events, the rest written into the stopped edge's D1 file
      assert.deepEqual([f.events_via_api, f.events_bulk_loaded], [1500, 500], `${f.products}: events`);
      const positive = {
        ingest_products_per_s: f.ingest_products_per_s,
        ingest_events_per_s: f.ingest_events_per_s,
        workerd_rss_mb: f.workerd_rss_mb,
        isolate_heap_mb: f.isolate_heap_mb,
        d1_bytes_per_product: f.d1_bytes_per_product,
        cold_start_ms: f.cold_start_ms,
        cold_first_search_ms: f.cold_first_search_ms,
        cold_first_recommend_ms: f.cold_first_recommend_ms,
      };
      for (const cls of ["head", "torso", "tail"]) {
        const s = f.search[cls];
        assert.equal(s.errors, 0, `${f.products} search ${cls}: errors`);
        assert.equal(s.cacheHits, 0, `${f.products} search ${cls}: the cache must be bypassed`);
        positive[`search ${cls} retrieval p50`] = s.retrieval.p50;
        positive[`search ${cls} total p95`] = s.total.p95;
        for (const st of ["light", "gpu"]) assert.ok(s[st].p50 >= 0 && s[st].p95 >= 0, `search ${cls} ${st}`);
      }
      for (const mode of ["user", "item", "cart"]) {
        const r = f.recommend[mode];
        assert.equal(r.errors, 0, `${f.products} recommend ${mode}: errors`);
        positive[`recommend ${mode} total p50`] = r.total.p50;
        positive[`recommend ${mode} total p95`] = r.total.p95;
      }
      for (const [name, v] of Object.entries(positive))
        assert.ok(typeof v === "number" && v > 0, `${f.products} products: ${name} = ${v}`);
    }
    for (const label of [
      "ingest products/s",
      "D1 bytes / product",
      "workerd RSS MB (warm)",
      "worker isolate V8 heap MB (warm)",
      "search head total p50 ms",
    ]) {
      assert.equal(report.slopes[label].length, 1, label);
      assert.ok(Number.isFinite(report.slopes[label][0]), `${label}: slope ${report.slopes[label][0]}`);
    }
  });

  it(
    "catalog:import streams a file through the API and reports rejected lines with their line numbers",
    { timeout: 600_000 },
    async () => {
      const token = "scale-import-token";
      const edge = await startEdge({ vars: { ADMIN_TOKEN: token, RATE_LIMITS: "off" } });
      try {
        const dir = makeTempDir("vitrine-import-");
        const products = Array.from({ length: 1200 }, (_, i) =>
          JSON.stringify({ id: `p${i}`, title: `oak lamp ${i}`, price: 10 + i }),
        );
        products.splice(700, 0, "", JSON.stringify({ id: "bad", price: "x" })); // a blank line (skipped) and a bad one at line 702
        writeFileSync(path.join(dir, "products.ndjson"), products.join("\n") + "\n");
        const events = Array.from({ length: 1100 }, (_, i) =>
          JSON.stringify({ type: "purchase", user: `u${i % 40}`, productId: `p${i % 300}`, eventId: `e${i}` }),
        );
        writeFileSync(path.join(dir, "events.ndjson"), events.join("\n") + "\n");
        const { stdout } = await execFileP(
          process.execPath,
          [
            "scripts/catalog-import.mjs",
            "--store",
            "import-shop",
            "--create",
            "Import shop",
            path.join(dir, "products.ndjson"),
            "--events",
            path.join(dir, "events.ndjson"),
            "--url",
            edge.url,
            "--token",
            token,
            "--batch",
            "500",
          ],
          { cwd: REPO },
        );
        const summary = (what) => JSON.parse(new RegExp(`^${what} \\S+: (.*)$`, "m").exec(stdout)[1]);
        const p = summary("products");
        assert.equal(p.documents, 1201);
        assert.equal(p.accepted, 1200);
        assert.equal(p.rejected, 1);
        assert.equal(p.requests, 3);
        assert.match(stdout, /rejected \{"line":702,"id":"bad","error":"[^"]*price/);
        const e = summary("events");
        assert.deepEqual([e.documents, e.accepted, e.requests, e.rejected], [1100, 1100, 3, 0]);
        const stores = await (
          await fetch(`${edge.url}/admin/stores`, { headers: { authorization: `Bearer ${token}` } })
        ).json();
        const shop = stores.stores.find((st) => st.id === "import-shop");
        assert.equal(shop.products, 1200, JSON.stringify(shop));
      } finally {
        await stop(edge);
      }
    },
  );
});
