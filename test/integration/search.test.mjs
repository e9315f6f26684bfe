// End-to-end: real gpu-tier + `wrangler dev` on the prepared catalog. The heavy stage answers (degraded:false),
// then the gpu-tier is killed and the edge answers 200 with the light ranking (degraded:true) within the deadline.
// A second edge, pointed at a socket that accepts but never answers, shows the deadline abort (gpu_timeout).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort, oneGpuVars, prepareDb, PYTHON, REPO, startEdge, startGpu, stopAll } from "./harness.mjs";

// CPU inference of the cross-encoder: generous; the 150 ms default is for a GPU endpoint.
const DEADLINE_MS = Number(process.env.VITRINE_IT_DEADLINE_MS ?? 30_000);
const HANG_DEADLINE_MS = 400;

/** A few real words from the prepared catalog, so the queries match something whatever the source is. */
function catalogQueries(n) {
  const script = `
import sqlite3, re, sys
db = sqlite3.connect(sys.argv[1])
out = []
for (t,) in db.execute("SELECT title FROM products ORDER BY rowid LIMIT 400"):
    w = [x for x in re.findall(r"[A-Za-z]{4,}", t)][:2]
    if len(w) == 2: out.append(" ".join(w).lower())
print("\\n".join(dict.fromkeys(out)))`;
  const text = execFileSync(PYTHON, ["-c", script, path.join(REPO, ".vitrine/catalog/catalog.sqlite")], {
    encoding: "utf8",
  });
  return text.split("\n").filter(Boolean).slice(0, n);
}

function parseServerTiming(h) {
  const out = {};
  for (const part of (h ?? "").split(",")) {
    const m = part.trim().match(/^([\w-]+)(?:;.*?dur=([\d.]+))?/);
    if (m) out[m[1]] = Number(m[2] ?? NaN);
  }
  return out;
}

async function timed(url, init) {
  const t0 = performance.now();
  const res = await fetch(url, init);
  const body = await res.json();
  return { res, body, ms: performance.now() - t0, timing: parseServerTiming(res.headers.get("server-timing")) };
}

describe("search path end to end", { timeout: 600_000 }, () => {
  let gpu;
  let edge;
  let hangEdge;
  let hangServer;
  let queries;

  before(async () => {
    queries = catalogQueries(12);
    assert.ok(queries.length >= 6, "catalog gives queries");
    const dir = await prepareDb();
    // VITRINE_IT_REGISTRY: serve another registry (e.g. a tiny heavy model) instead of .vitrine/registry
    gpu = await startGpu(process.env.VITRINE_IT_REGISTRY ? { registry: process.env.VITRINE_IT_REGISTRY } : {});
    edge = await startEdge({
      persistTo: dir,
      vars: oneGpuVars(gpu, DEADLINE_MS),
    });
    // a GPU endpoint that accepts connections and never answers
    hangServer = createServer(() => {});
    const hangPort = await freePort();
    await new Promise((r) => hangServer.listen(hangPort, "127.0.0.1", r));
    const hangUrl = `http://127.0.0.1:${hangPort}`;
    hangEdge = await startEdge({
      persistTo: dir,
      vars: {
        GPU_ENDPOINT_URL: hangUrl,
        GPU_SECONDARY_ENDPOINT_URL: hangUrl,
        GPU_DEADLINE_MS: String(HANG_DEADLINE_MS),
      },
    });
  });

  after(async () => {
    await edge?.stop();
    await hangEdge?.stop();
    await gpu?.stop();
    hangServer?.close();
    stopAll();
  });

  it("healthz reports models and a reachable GPU tier", async () => {
    const { res, body } = await timed(`${edge.url}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(body.gpu.reachable, true);
    assert.ok(body.models.light.length >= 1);
  });

  it("ranks with heavy scores (degraded:false) and reports stage timings", async () => {
    const timings = [];
    for (const q of queries.slice(0, 4)) {
      const r = await timed(`${edge.url}/v1/search?q=${encodeURIComponent(q)}&k=20&user=it-user`);
      assert.equal(r.res.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.degraded, false, `degraded: ${r.body.degradedReason}`);
      assert.ok(r.body.items.length > 0, `no hits for ${q}`);
      assert.ok(
        r.body.items.slice(0, Math.min(r.body.items.length, 20)).some((i) => typeof i.scores.heavy === "number"),
      );
      assert.equal(r.res.headers.get("x-vitrine-cache"), "MISS");
      for (const s of ["retrieval", "light", "gpu", "total"]) assert.ok(s in r.timing, `Server-Timing has ${s}`);
      timings.push({ q, wall: Math.round(r.ms), ...r.timing });
    }
    const hit = await timed(`${edge.url}/v1/search?q=${encodeURIComponent(queries[0])}&k=20&user=it-user`);
    assert.equal(hit.res.headers.get("x-vitrine-cache"), "HIT");
    timings.push({ q: `${queries[0]} (cache hit)`, wall: Math.round(hit.ms), ...hit.timing });
    console.log("stage timings (ms):", JSON.stringify(timings, null, 1));
  });

  it("reranks exactly the caller's candidates, every one heavy-scored", async () => {
    const pool = await timed(`${edge.url}/v1/search?q=${encodeURIComponent(queries[4])}&k=60`);
    const ids = pool.body.items.map((i) => i.id);
    assert.ok(ids.length > 0);
    const r = await timed(`${edge.url}/v1/rerank`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: queries[4], candidates: ids }),
    });
    assert.equal(r.res.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.degraded, false);
    assert.deepEqual(r.body.items.map((i) => i.id).sort(), [...ids].sort());
    assert.ok(r.body.items.every((i) => typeof i.scores.heavy === "number"));
    console.log(`rerank of ${ids.length} candidates: ${Math.round(r.ms)} ms`, JSON.stringify(r.timing));
  });

  it("degrades to the light ranking (200) within the deadline when the gpu-tier dies", async () => {
    gpu.kill("SIGKILL");
    await new Promise((r) => gpu.proc.once("exit", r));
    const r = await timed(`${edge.url}/v1/search?q=${encodeURIComponent(queries[5])}&k=20`);
    assert.equal(r.res.status, 200);
    assert.equal(r.body.degraded, true);
    assert.match(r.body.degradedReason, /^gpu_/);
    assert.ok(r.body.items.length > 0);
    assert.ok(r.ms < DEADLINE_MS + 100, `answered in ${r.ms} ms`);
    console.log(
      `degraded (gpu killed): ${Math.round(r.ms)} ms, reason ${r.body.degradedReason}`,
      JSON.stringify(r.timing),
    );
  });

  it("aborts a hanging GPU call at the deadline (gpu_timeout)", async () => {
    const warm = await timed(`${hangEdge.url}/v1/search?q=${encodeURIComponent(queries[6])}&k=20`); // first call loads ORT
    assert.equal(warm.res.status, 200);
    const r = await timed(`${hangEdge.url}/v1/search?q=${encodeURIComponent(queries[7])}&k=20`);
    assert.equal(r.res.status, 200);
    assert.equal(r.body.degraded, true);
    assert.match(r.body.degradedReason, /gpu_(timeout|circuit_open|no_budget)/);
    assert.ok(r.timing.gpu <= HANG_DEADLINE_MS + 100, `gpu stage ${r.timing.gpu} ms`);
    assert.ok(
      r.ms < HANG_DEADLINE_MS + 100 + (r.timing.retrieval ?? 0) + (r.timing.light ?? 0) + 200,
      `answered in ${r.ms} ms`,
    );
    console.log(
      `degraded (hanging gpu, deadline ${HANG_DEADLINE_MS} ms): ${Math.round(r.ms)} ms`,
      JSON.stringify(r.timing),
    );
  });
});
