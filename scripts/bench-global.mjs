// npm run bench:global — what a far storefront sees, before and after nearest-region routing (README "Global traffic").
//
// Three local gpu-tiers stand for us-east-1, eu-central-1 and ap-southeast-2, each behind a delay proxy on loopback
// that holds requests and answers for half the round trip from the caller's colo (test/integration/global-sim.mjs:
// the edge's own table of published inter-region pings). One `wrangler dev` edge per routing mode sends search and
// recommend traffic labelled with the colos IAD, FRA, SYD, GRU, NRT (the trusted x-vitrine-colo header, on for this
// bench only). Phases, in one run:
//   fixed     GPU_ROUTING=fixed: every colo tries us-east-1, then eu-central-1, then ap-southeast-2 (the old order)
//   nearest   GPU_ROUTING=nearest: nearest region by estimated round trip, budgets that count the network
//   killed    nearest, with the KILL region's gpu-tier killed (default us-east-1, nearest for IAD and GRU)
// Per colo: share heavy-ranked, end-to-end p50/p95, the GPU stage's p50/p95 (Server-Timing), regions used, reasons.
//
// Time dilation: the budget (GPU_DEADLINE_MS 150 ms, GPU_MIN_COMPUTE_MS 20 ms) assumes GPU compute — a few ms
// for 10 documents whose product term states are cached. The tiers here compute on two shared CPU cores: about
// 80-150 ms for 10 catalogue documents alone (the `vitrine_gpu_inference_seconds` this bench prints per phase), as
// long as the whole budget. So the simulation runs slowed down by BENCH_TIME_SCALE (default 6): every round trip the
// proxies add, the edge's GPU budget and minimum compute, and the round-trip table the edge starts from
// (GPU_RTT_TABLE, the same published figures) are multiplied by it, which keeps what each colo can reach the same as
// in production with a GPU tier `scale` times faster than this CPU. Times in the table are as measured (scaled).
// Before measuring, each tier finishes its catalogue term-cache precompute and is warmed directly.
// Env: BENCH_TIME_SCALE, BENCH_GPU_DEADLINE_MS (150) and BENCH_MIN_COMPUTE_MS (20) before scaling, BENCH_REQUESTS
// (per colo and phase, default 24: two thirds search, one third recommend), BENCH_CONCURRENCY (default 3), BENCH_KILL,
// BENCH_DB_DIR (a D1 state prepared earlier with the catalogue and recs tables, reused), BENCH_SHARED_TIER=1 (one
// gpu-tier behind the three proxies, for a machine too small for three; the kill then refuses connections at the
// region's proxy).
import { cpSync, readFileSync } from "node:fs";
import path from "node:path";
import { catalogQueries, pct } from "../test/integration/load.mjs";
import {
  askFrom,
  COLOS,
  precomputed,
  pool,
  recsUsers,
  regionsVar,
  rttOf,
  rttTable,
  startRegions,
} from "../test/integration/global-sim.mjs";
import { makeTempDir, prepareDb, RECS_SQL, REPO, startEdge, stopAll } from "../test/integration/harness.mjs";

const N = Number(process.env.BENCH_REQUESTS ?? 24);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 3);
const SCALE = Number(process.env.BENCH_TIME_SCALE ?? 6);
const DEADLINE_MS = Number(process.env.BENCH_GPU_DEADLINE_MS ?? 150) * SCALE;
const MIN_COMPUTE_MS = Number(process.env.BENCH_MIN_COMPUTE_MS ?? 20) * SCALE;
const KILL = process.env.BENCH_KILL ?? "us-east-1";
const SHARED = process.env.BENCH_SHARED_TIER === "1";
const STORE = "online-retail";

const log = (...a) => console.error("[bench:global]", ...a);

function copyOf(dir) {
  const copy = makeTempDir("vitrine-global-d1-");
  cpSync(dir, copy, { recursive: true });
  return copy;
}

function traffic(edge, phase, queries, users, n) {
  const tasks = [];
  for (let i = 0; i < n; i++)
    for (const colo of COLOS) {
      // distinct queries per phase and colo: no answer comes from the response cache
      const path =
        i % 3 === 2
          ? `/v1/recommend?store=${STORE}&user=${encodeURIComponent(users[(i + colo.length) % users.length])}&k=10`
          : `/v1/search?q=${encodeURIComponent(queries[(i * COLOS.length + COLOS.indexOf(colo)) % queries.length])}&k=10&user=${phase}-${colo}-${i}`;
      tasks.push(() => askFrom(edge, colo, path));
    }
  return pool(tasks, CONCURRENCY);
}

/**
 * Each gpu-tier warmed directly (not through the edge, so no breaker sees a cold tier's first calls time out): search
 * invocations of LIGHT_TOP_M documents and recommend invocations of RECS_TOP_M candidates, in turn, until the tier's
 * own timing settles; returns its warm inference time (ms, median of the last rounds) per task.
 */
async function warmTier(url, users) {
  const reg = path.join(REPO, ".vitrine/registry");
  const current = JSON.parse(readFileSync(path.join(reg, "current.json"), "utf8"));
  const tables = JSON.parse(readFileSync(path.join(reg, "recs-light", current["recs-light"], "tables.json"), "utf8"));
  const items = Object.keys(tables.items ?? {}).slice(0, 200);
  const docs = Array.from({ length: 10 }, (_, i) => ({
    id: `warm-${i}`,
    title: `black leather wallet ${i} slim bifold`,
    description: "A slim bifold wallet in black leather with eight card slots and a coin pocket.",
  }));
  const now = tables.now ?? Date.now() / 1000;
  const bodies = {
    search: (i) => ({ query: `wallet ${i}`, documents: docs, model: current.heavy }),
    recommend: (i) => ({
      task: "recommend",
      store: STORE,
      sequence: (tables.history[users[i % users.length]] ?? []).slice(-20).map(([id, , ts]) => ({ id, ts })),
      candidates: items.slice((i * 20) % 180, ((i * 20) % 180) + 20),
      now,
      model: current["recs-heavy"],
    }),
  };
  const out = {};
  for (const [task, body] of Object.entries(bodies)) {
    const ms = [];
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`${url}/invocations`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body(i)),
      });
      const answer = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(`warm-up ${task} on ${url}: ${res.status} ${JSON.stringify(answer).slice(0, 300)}`);
      ms.push(answer.timing_ms?.total ?? NaN);
    }
    out[task] = pct(ms.slice(-6), 50);
  }
  return out;
}

/** The tier's inference so far: seconds and batches per task (its /metrics); null when it does not answer. */
async function inference(url) {
  try {
    const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    const out = { search: { s: 0, n: 0 }, recommend: { s: 0, n: 0 } };
    for (const [, kind, labels, v] of text.matchAll(/^vitrine_gpu_inference_seconds_(sum|count)\{(.*)\} (\S+)$/gm)) {
      const task = /task="(\w+)"/.exec(labels)?.[1];
      if (out[task]) out[task][kind === "sum" ? "s" : "n"] += Number(v);
    }
    return out;
  } catch {
    return null;
  }
}

/** Mean inference ms per batch and task of each region's tier between two `inference` readings. */
function computeBetween(regions, before, after) {
  const out = {};
  regions.forEach((r, i) => {
    if (!before[i] || !after[i]) return;
    const per = (t) => {
      const n = after[i][t].n - before[i][t].n;
      return n > 0 ? `${(((after[i][t].s - before[i][t].s) / n) * 1000).toFixed(0)} ms ×${n}` : "-";
    };
    out[r.region] = `search ${per("search")}, recommend ${per("recommend")}`;
  });
  return out;
}

function summarise(phase, results) {
  const rows = [];
  for (const colo of COLOS) {
    // an answer with no GPU stage (nothing to re-rank: no candidates) is neither heavy nor degraded: left out
    const all = results.filter((r) => r.colo === colo);
    const rs = all.filter((r) => r.region !== "" || r.reason.includes("gpu_"));
    const regions = {};
    const reasons = {};
    for (const r of rs) {
      if (r.region) regions[r.region] = (regions[r.region] ?? 0) + 1;
      if (r.reason) reasons[r.reason] = (reasons[r.reason] ?? 0) + 1;
    }
    const gpu = rs.map((r) => r.gpuMs).filter(Number.isFinite);
    const ms = rs.map((r) => r.ms);
    rows.push({
      phase,
      colo,
      n: rs.length,
      heavy: rs.filter((r) => r.heavy && r.region !== "").length / Math.max(1, rs.length),
      non2xx: all.filter((r) => r.status >= 500).length,
      p50: pct(ms, 50),
      p95: pct(ms, 95),
      gpu50: pct(gpu, 50),
      gpu95: pct(gpu, 95),
      regions,
      reasons,
    });
  }
  return rows;
}

function printTable(rows) {
  const fmt = (o) =>
    Object.entries(o)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k}×${v}`)
      .join(" ") || "-";
  const head = [
    "phase",
    "colo",
    "n (GPU stage)",
    "heavy",
    "5xx",
    "p50 ms",
    "p95 ms",
    "gpu p50",
    "gpu p95",
    "regions used",
    "degraded",
  ];
  const lines = rows.map((r) => [
    r.phase,
    r.colo,
    String(r.n),
    `${(r.heavy * 100).toFixed(1)}%`,
    String(r.non2xx),
    r.p50.toFixed(0),
    r.p95.toFixed(0),
    Number.isFinite(r.gpu50) ? r.gpu50.toFixed(0) : "-",
    Number.isFinite(r.gpu95) ? r.gpu95.toFixed(0) : "-",
    fmt(r.regions),
    fmt(r.reasons),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  console.log(row(head));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const l of lines) console.log(row(l));
}

async function main() {
  const table = await rttTable();
  log(`simulated round trips (ms, published; the proxies add them ×${SCALE}), colo → region:`);
  for (const colo of COLOS)
    log(
      `  ${colo}`,
      ["us-east-1", "eu-central-1", "ap-southeast-2"].map((r) => `${r} ${rttOf(table, colo, r).toFixed(0)}`).join(", "),
    );
  const queries = catalogQueries(400);
  const users = recsUsers(40);
  // BENCH_DB_DIR: a D1 state prepared before (catalogue + recs tables: loading recs.sql takes minutes on a busy box)
  // (copied: every run starts with no learned round trips in metrics_geo)
  const dir = process.env.BENCH_DB_DIR ? copyOf(process.env.BENCH_DB_DIR) : await prepareDb({ recs: RECS_SQL });
  log("starting three gpu-tiers behind delay proxies …");
  const regions = await startRegions({ table, shared: SHARED, scale: SCALE });
  const heavy = JSON.parse(readFileSync(path.join(REPO, ".vitrine/registry/current.json"), "utf8")).heavy;
  const tiers = SHARED ? regions.slice(0, 1) : regions;
  for (const [r, p] of (await Promise.all(tiers.map((r) => precomputed(r.gpu.url, heavy)))).map((p, i) => [
    tiers[i],
    p,
  ]))
    log(
      `  ${SHARED ? "shared tier" : r.region}: catalogue term cache ${p.done}/${p.total} products (waited ${p.seconds.toFixed(0)} s)`,
    );
  for (const r of regions) {
    if (SHARED && r !== regions[0]) continue;
    const warm = await warmTier(r.gpu.url, users);
    log(
      `  ${SHARED ? "shared tier" : r.region} warm: search ${warm.search.toFixed(0)} ms, recommend ${warm.recommend.toFixed(0)} ms (the tier's own time, alone)`,
    );
  }
  const vars = (routing) => ({
    GPU_REGIONS: regionsVar(regions),
    GPU_ROUTING: routing,
    GPU_TRUST_COLO_HEADER: "on",
    GPU_DEADLINE_MS: String(DEADLINE_MS),
    GPU_MIN_COMPUTE_MS: String(MIN_COMPUTE_MS),
    GPU_RTT_TABLE: JSON.stringify(
      Object.fromEntries(
        COLOS.map((colo) => [
          colo,
          Object.fromEntries(regions.map((r) => [r.region, Math.round(rttOf(table, colo, r.region) * SCALE)])),
        ]),
      ),
    ),
    LIGHT_TOP_M: "10",
    RECS_TOP_M: "20",
    CACHE_TTL_S: "0",
    DEGRADED_CACHE_TTL_S: "0",
    RATE_LIMITS: "off",
  });
  const rows = [];
  const compute = {}; // phase → region → the tier's mean inference per batch
  const tierUrls = () => (SHARED ? regions.slice(0, 1) : regions);
  const measured = async (phase, run) => {
    const before = await Promise.all(tierUrls().map((r) => inference(r.gpu.url)));
    const results = await run();
    compute[phase] = computeBetween(tierUrls(), before, await Promise.all(tierUrls().map((r) => inference(r.gpu.url))));
    return summarise(phase, results);
  };
  let offset = 0;
  for (const routing of ["fixed", "nearest"]) {
    log(`edge with GPU_ROUTING=${routing} …`);
    const edge = await startEdge({ persistTo: dir, vars: vars(routing) });
    // warm-up (not counted): ONNX sessions, the gpu-tiers' first calls, the first learned round trips
    await traffic(edge, `warm-${routing}`, queries.slice(300), users, 2);
    const q = queries.slice(offset);
    offset += N * COLOS.length;
    rows.push(...(await measured(routing, () => traffic(edge, routing, q, users, N))));
    if (routing === "nearest") {
      const victim = regions.find((r) => r.region === KILL);
      log(`killing ${KILL} …`);
      // with one shared tier the region goes away at its front door (connection refused), else its tier dies
      if (SHARED) await victim.proxy.stop();
      else victim.gpu.kill("SIGKILL");
      rows.push(
        ...(await measured(`nearest, ${KILL} killed`, () => traffic(edge, "killed", queries.slice(offset), users, N))),
      );
    }
    await edge.stop();
  }
  console.log(
    `\nbench:global — time scale ×${SCALE}: GPU stage budget ${DEADLINE_MS} ms, min compute ${MIN_COMPUTE_MS} ms, round trips ×${SCALE}; ${N} requests per colo and phase (search 2:1 recommend), concurrency ${CONCURRENCY}\n`,
  );
  printTable(rows);
  console.log(
    `\nthe tiers' own inference per batch (mean ms × batches; ${SHARED ? "one shared tier" : "per region"}):`,
  );
  for (const [phase, byRegion] of Object.entries(compute))
    for (const [region, line] of Object.entries(byRegion))
      console.log(`  ${phase.padEnd(26)} ${region.padEnd(15)} ${line}`);
  for (const r of regions) if (!(SHARED && r.region === KILL)) await r.proxy.stop();
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
