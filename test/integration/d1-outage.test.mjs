// D1 outage with the real processes: `wrangler dev` on its local D1, whose SQLite file another process holds under
// an exclusive lock (BEGIN EXCLUSIVE, python's sqlite3) while a mixed read load runs — searches and recommendations
// asked before the lock (stale answers), new ones (last-known-good list / 503) — then released.
// Asserts: 0 responses with status 500 (or any 5xx but the 503 catalog_unavailable) under the lock, /healthz
// degraded with d1 failing, /livez 200; after the release, fresh answers from D1 again. Prints the figures.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { prepareDb, RECS_SQL, startEdge, stopAll } from "./harness.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const LOCK_MS = Number(process.env.VITRINE_D1_LOCK_MS ?? 8_000);
const RECS_STORE = "online-retail";

/** The local D1 database file under a --persist-to dir (the largest .sqlite, as the acceptance check picks it). */
function d1File(persistTo) {
  const dir = path.join(persistTo, "v3/d1/miniflare-D1DatabaseObject");
  const files = readdirSync(dir)
    .filter((n) => n.endsWith(".sqlite") && !n.includes("metadata"))
    .map((n) => path.join(dir, n));
  return files.sort((a, b) => statSync(b).size - statSync(a).size)[0];
}

/** Another process holding the file under BEGIN EXCLUSIVE until it is told to release (a line on stdin). */
async function lockFile(file) {
  const code = [
    "import sqlite3, sys",
    "con = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)",
    'con.execute("BEGIN EXCLUSIVE")',
    'print("locked", flush=True)',
    "sys.stdin.readline()",
    'con.execute("ROLLBACK")',
    "con.close()",
  ].join("\n");
  const proc = spawn("python3", ["-c", code, file], { stdio: ["pipe", "pipe", "inherit"] });
  await new Promise((resolve, reject) => {
    proc.stdout.once("data", resolve);
    proc.once("exit", (c) => reject(new Error(`lock process exited ${c}`)));
  });
  return {
    release: () =>
      new Promise((resolve) => {
        proc.once("exit", resolve);
        proc.stdin.end("\n");
      }),
  };
}

async function ask(edge, p) {
  const t0 = performance.now();
  try {
    const res = await fetch(edge.url + p, { signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    let body = {};
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { path: p, status: res.status, ms: performance.now() - t0, cache: res.headers.get("x-vitrine-cache"), body };
  } catch (e) {
    return { path: p, status: 0, ms: performance.now() - t0, body: { error: String(e) } };
  }
}

const pct = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
};

describe("D1 read outage: the local D1 file under an exclusive lock", { timeout: 600_000 }, () => {
  let edge;
  let file;
  const seen = ["/v1/search?q=kettle&k=5", "/v1/search?q=coffee+mug&k=5", `/v1/recommend?store=${RECS_STORE}&k=5`];

  before(async () => {
    const dir = await prepareDb({ recs: RECS_SQL });
    edge = await startEdge({
      persistTo: dir,
      // GPU tier unreachable (closed port): answers are the light ranking, this test is about D1
      vars: { GPU_ENDPOINT_URL: "http://127.0.0.1:9", GPU_SECONDARY_ENDPOINT_URL: "http://127.0.0.1:9" },
    });
    file = d1File(dir);
    // the every-minute cron: the stores' last-known-good recommendation lists in KV
    await fetch(`${edge.url}/cdn-cgi/handler/scheduled?cron=*+*+*+*+*`, { signal: AbortSignal.timeout(120_000) });
    for (const p of seen) assert.equal((await ask(edge, p)).status, 200, p);
  });

  after(() => stopAll());

  it("serves stale / last-known-good / 503 under the lock, never a 500; healthz degraded; recovers after", async () => {
    const lock = await lockFile(file);
    const lockedAt = Date.now();
    const under = [];
    let n = 0;
    while (Date.now() - lockedAt < LOCK_MS) {
      n += 1;
      const batch = [
        ...seen,
        `/v1/search?q=new+query+${n}&k=5`,
        `/v1/recommend?store=${RECS_STORE}&user=17850&k=5`,
        `/v1/recommend?store=${RECS_STORE}&user=new-user-${n}&k=3`,
      ];
      under.push(...(await Promise.all(batch.map((p) => ask(edge, p)))));
    }
    const health = await ask(edge, "/healthz");
    const live = await ask(edge, "/livez");
    await lock.release();

    const counts = {};
    for (const r of under) counts[r.status] = (counts[r.status] ?? 0) + 1;
    const by = (f) => under.filter(f);
    const stale = by((r) => r.status === 200 && r.body.degradedReason?.includes("d1_unavailable"));
    console.log(
      `D1 locked ${LOCK_MS} ms: ${under.length} requests, statuses ${JSON.stringify(counts)}, ` +
        `${stale.length} stale/last-known-good (x-vitrine-cache ${[...new Set(stale.map((r) => r.cache))].join("/")}), ` +
        `latency p50 ${pct(
          under.map((r) => r.ms),
          0.5,
        ).toFixed(0)} ms, max ${Math.max(...under.map((r) => r.ms)).toFixed(0)} ms; ` +
        `healthz ${health.status} ${health.body.status} failing=${JSON.stringify(health.body.failing)}; livez ${live.status}`,
    );
    assert.equal(by((r) => r.status === 500).length, 0, "no 500 under the lock");
    const bad = by((r) => r.status === 0 || (r.status >= 500 && r.body.error !== "catalog_unavailable"));
    assert.deepEqual(
      bad.map((r) => `${r.path} ${r.status} ${JSON.stringify(r.body).slice(0, 120)}`),
      [],
    );
    for (const r of by((r) => r.status === 503)) assert.equal(r.body.error, "catalog_unavailable");
    // the answers asked before the lock are served stale (or fresh from the cache), never refused
    for (const r of by((r) => seen.includes(r.path))) assert.equal(r.status, 200, `${r.path} under the lock`);
    assert.equal(health.status, 200);
    assert.equal(health.body.status, "degraded");
    assert.ok(health.body.failing.includes("d1"), "healthz lists d1");
    assert.equal(live.status, 200);

    // released: within the breaker's cool-down (+ slack) a new search is answered from D1 again
    const releasedAt = Date.now();
    let fresh;
    while (Date.now() - releasedAt < 20_000) {
      fresh = await ask(edge, `/v1/search?q=teapot+${Date.now()}&k=5`);
      if (fresh.status === 200 && !fresh.body.degradedReason?.includes("d1_unavailable")) break;
      await sleep(250);
    }
    console.log(`after the release: answered from D1 again in ${Date.now() - releasedAt} ms (${fresh.status})`);
    assert.equal(fresh.status, 200);
    assert.ok(!fresh.body.degradedReason?.includes("d1_unavailable"));
    const healthAfter = await ask(edge, "/healthz");
    assert.ok(!healthAfter.body.failing.includes("d1"), "healthz: d1 ok again");
  });
});
