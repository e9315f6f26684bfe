#!/usr/bin/env node
// `npm run bench:scale -- --products 10000,100000,1000000 [--events N]` — vitrine's cost curves against store size,
// measured through the running system (README "Scale"). For each size, on a fresh local D1 (migrations only):
//   1. a synthetic store (`python -m vitrine_gpu recs synthetic-scale`: Zipf vocabulary, brands, categories, long
//      descriptions; 10 purchase events per product unless --events; power-law users and items; a head/torso/tail
//      query mix) streamed to NDJSON
//   2. the real system: the gpu-tier + `wrangler dev` on free ports (test/integration/harness.mjs), response cache off
//   3. the store created and imported through the API (`catalog:import`'s code): products/s, events/s; one cron run
//      builds its live recommendation tables
//   4. the store's recs pipeline (`recs time-store` on the D1 file: `pipeline recs --store`'s steps, wall time and
//      peak RSS per step, a scratch registry; --skip-pipeline skips it)
//   5. search p50/p95 per stage (retrieval, light, gpu, total: the edge's Server-Timing) over the query mix, and
//      recommend p50/p95 (known users, item pages, carts), --reps times each after one warm-up pass
//   6. workerd RSS after the warm-up (ps), D1 bytes per product (the database file's growth over the import / N),
//      then `wrangler dev` restarted on the same state: cold start (spawn → /healthz) and the first search and
//      recommend of the fresh isolate
// Prints one table per size and the log-log slope of each figure between consecutive sizes; writes everything as
// JSON (--out, default .vitrine/bench/scale-<time>.json). --keep keeps the D1 state dirs and generated files;
// --reuse DIR (one size) measures the requests again on a store --keep kept, without generating or importing;
// --edge-var NAME=VALUE (repeatable) sets an edge var for the run, e.g. SEARCH_FIRST_PASS_MAX=2000.
//   npm run bench:scale -- [--products 10000,100000] [--events N] [--api-events N] [--reps 5] [--skip-pipeline] [--keep]
//                          [--out F]
// --api-events N: only each size's first N events go through /v1/events (the rate is measured on them); the rest are
//   written into the stopped edge's D1 file as the route leaves them (`recs load-events`), so a 10^7-event store does
//   not take the API an hour to fill.
import { execFile } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { parseArgs } from "node:util";
import {
  PYTHON,
  REPO,
  SEED_SQL,
  makeTempDir,
  oneGpuVars,
  prepareDb,
  startEdge,
  startGpu,
  stopAll,
} from "../test/integration/harness.mjs";
import { p50p95, slope, stageFigures, serverTiming } from "./bench-scale-figures.mjs";
import { importEvents, importProducts } from "./catalog-import.mjs";

const execFileP = promisify(execFile);
const { values } = parseArgs({
  options: {
    products: { type: "string", default: "10000,100000,1000000" },
    events: { type: "string" },
    "events-per-product": { type: "string", default: "10" },
    "api-events": { type: "string" },
    reps: { type: "string", default: "5" },
    seed: { type: "string", default: "7" },
    "skip-pipeline": { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
    out: { type: "string" },
    reuse: { type: "string" },
    "edge-var": { type: "string", multiple: true, default: [] },
  },
});
const SIZES = values.products.split(",").map((s) => Number(s.replace(/_/g, "")));
if (SIZES.some((n) => !Number.isInteger(n) || n < 100)) {
  console.error("--products: comma-separated sizes, each an integer ≥ 100");
  process.exit(2);
}
if (values.reuse && SIZES.length !== 1) {
  console.error("--reuse DIR measures one kept store: give its one size with --products");
  process.exit(2);
}
const REPS = Math.max(1, Number(values.reps));
/** --edge-var K=V: more `wrangler dev` vars (e.g. SEARCH_FIRST_PASS_MAX=2000), over the bench's own */
const EDGE_VARS = Object.fromEntries(
  (values["edge-var"] ?? []).map((kv) => {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(kv);
    if (!m) {
      console.error(`--edge-var ${kv}: expected NAME=VALUE`);
      process.exit(2);
    }
    return [m[1], m[2]];
  }),
);
const TOKEN = "bench-scale-admin";
const DEADLINE_MS = 2000;
const D1_DIR = ["v3", "d1", "miniflare-D1DatabaseObject"];
const T0 = performance.now();
const log = (msg) =>
  console.error(`[bench:scale] ${((performance.now() - T0) / 1000).toFixed(0).padStart(5)} s  ${msg}`);

// ---- figures ---------------------------------------------------------------------------------------------------

async function timedGet(url) {
  const t0 = performance.now();
  const res = await fetch(url);
  const body = await res.json().catch(() => undefined);
  const clientMs = performance.now() - t0;
  return {
    status: res.status,
    body,
    clientMs,
    stages: serverTiming(res.headers.get("server-timing")),
    cache: res.headers.get("x-vitrine-cache"),
  };
}

// ---- the system ------------------------------------------------------------------------------------------------

function d1Bytes(persistTo) {
  const dir = path.join(persistTo, ...D1_DIR);
  if (!existsSync(dir)) return 0;
  return readdirSync(dir)
    .filter((f) => f !== "metadata.sqlite" && /\.sqlite(-wal)?$/.test(f))
    .reduce((s, f) => s + statSync(path.join(dir, f)).size, 0);
}

function d1File(persistTo) {
  const dir = path.join(persistTo, ...D1_DIR);
  const files = readdirSync(dir).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite");
  return path.join(dir, files.sort((a, b) => statSync(path.join(dir, b)).size - statSync(path.join(dir, a)).size)[0]);
}

/** RSS (MB) of the workerd processes of a `wrangler dev` process group (detached: its pgid is its pid). */
async function workerdRssMb(edge) {
  const { stdout } = await execFileP("ps", ["-eo", "pgid=,rss=,comm="]);
  let kb = 0;
  for (const line of stdout.split("\n")) {
    const [pgid, rss, comm] = line.trim().split(/\s+/);
    if (Number(pgid) === edge.proc.pid && comm?.startsWith("workerd")) kb += Number(rss);
  }
  return kb / 1024;
}

async function python(args, timeoutMs = 3 * 3600_000) {
  const { stdout } = await execFileP("nice", ["-n", "10", PYTHON, "-m", "vitrine_gpu", ...args], {
    cwd: REPO,
    env: { ...process.env, PYTHONPATH: path.join(REPO, "gpu-tier") },
    timeout: timeoutMs,
    maxBuffer: 256 * 2 ** 20,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1));
}

/** The ids the measurement asks for: users and items that bought (from the head of the events file), 3-item carts. */
function sampleIds(eventsFile, n = 30) {
  // the file's first 4 MiB only (a 10^7-event file is longer than a string may be)
  const buf = Buffer.alloc(4 * 2 ** 20);
  const fd = openSync(eventsFile, "r");
  const got = readSync(fd, buf, 0, buf.length, 0);
  closeSync(fd);
  const head = buf
    .subarray(0, got)
    .toString("utf8")
    .split("\n")
    .slice(0, -1)
    .map((l) => JSON.parse(l));
  const users = [...new Set(head.map((e) => e.user))].slice(0, n);
  const items = [...new Set(head.map((e) => e.productId))].slice(0, n);
  const carts = Array.from({ length: n }, (_, k) => [
    items[k % items.length],
    items[(k + 7) % items.length],
    items[(k + 13) % items.length],
  ]);
  return { users, items, carts };
}

// ---- one size --------------------------------------------------------------------------------------------------

/**
 * Creates the size's store through the API and fills it: products, events (the first --api-events through the API,
 * the rest bulk-loaded into the stopped edge's D1 file), one live-tables cron run, the pipeline's steps unless
 * --skip-pipeline. Records the figures in `fig`; a bulk load stops the edge and starts it again with `restart()`.
 */
async function fillStore({ n, store, events, dataDir, persistTo, fig, edge, restart }) {
  let t0;
  const put = await fetch(`${edge.url}/admin/stores/${store}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: `scale ${n}` }),
  });
  if (put.status !== 201 && put.status !== 200) throw new Error(`PUT store → ${put.status}`);
  log(`${n}: importing products`);
  const imp = await importProducts({
    url: edge.url,
    token: TOKEN,
    store,
    file: path.join(dataDir, "products.ndjson"),
    batch: 5000,
    concurrency: 2,
  });
  if (imp.accepted !== n)
    throw new Error(
      `products: ${imp.accepted} of ${n} accepted (${JSON.stringify(imp.rejectedSample.slice(0, 3))} ${JSON.stringify(imp.failedBatches.slice(0, 3))})`,
    );
  fig.ingest_products_per_s = imp.perSecond;
  log(`${n}: importing events`);
  const eventsFile = path.join(dataDir, "events.ndjson");
  const viaApi = Math.min(events, values["api-events"] ? Number(values["api-events"]) : events);
  const ev = await importEvents({ url: edge.url, store, file: eventsFile, concurrency: 2, upTo: viaApi });
  if (ev.failedBatches.length || ev.rejected)
    throw new Error(
      `events: ${JSON.stringify(ev.failedBatches.slice(0, 2))} ${JSON.stringify(ev.rejectedSample.slice(0, 2))}`,
    );
  fig.ingest_events_per_s = ev.perSecond;
  fig.events_via_api = ev.accepted;
  if (viaApi < events) {
    // the rest as /v1/events would leave them, written into the stopped edge's D1 file (`recs load-events`)
    log(`${n}: bulk-loading events ${viaApi + 1}–${events} into D1's file (edge stopped)`);
    await edge.stop();
    t0 = performance.now();
    const bulk = await python([
      "recs",
      "load-events",
      eventsFile,
      "--db",
      d1File(persistTo),
      "--store",
      store,
      "--skip",
      String(viaApi),
    ]);
    fig.events_bulk_loaded = bulk.events;
    fig.bulk_load_s = (performance.now() - t0) / 1000;
    edge = await restart();
  }
  t0 = performance.now();
  const cron = await fetch(`${edge.url}/cdn-cgi/handler/scheduled?cron=${encodeURIComponent("* * * * *")}`);
  await cron.arrayBuffer();
  fig.live_tables_cron_ms = performance.now() - t0;

  if (!values["skip-pipeline"]) {
    log(`${n}: pipeline recs --store steps (recs time-store)`);
    try {
      const p = await python(["recs", "time-store", "--db", d1File(persistTo), "--store", store]);
      fig.pipeline = p;
      fig.pipeline_wall_s = p.wall_s;
      fig.pipeline_peak_rss_mb = p.peak_rss_mb;
    } catch (err) {
      fig.pipeline = {
        error: String(err.stderr ?? err.message)
          .split("\n")
          .filter(Boolean)
          .slice(-3)
          .join(" | "),
      };
      log(`${n}: pipeline failed: ${fig.pipeline.error}`);
    }
  }
}

async function measureSize(n, gpu) {
  const store = `scale-${n}`;
  const reuse = values.reuse ? path.resolve(values.reuse) : undefined;
  const work = reuse ?? makeTempDir(`vitrine-scale-${n}-`);
  const events = values.events ? Number(values.events) : n * Number(values["events-per-product"]);
  const fig = { products: n, events, store };
  log(`${n} products, ${events} events: ${reuse ? `re-measuring the store kept in ${reuse}` : "generating"}`);
  let t0 = performance.now();
  const gen = reuse
    ? { reused: reuse }
    : await python([
        "recs",
        "synthetic-scale",
        path.join(work, "data"),
        "--products",
        String(n),
        "--events",
        String(events),
        "--store",
        store,
        "--seed",
        values.seed,
      ]);
  fig.generate_s = (performance.now() - t0) / 1000;
  const dataDir = path.join(work, "data");
  const queries = JSON.parse(readFileSync(path.join(dataDir, "queries.json"), "utf8"));

  // a D1 with the migrations (and the registry's seed experiment) only: the store is all that is in it
  const bare = path.join(work, "empty.sql");
  if (!reuse) writeFileSync(bare, "SELECT 1;\n");
  const persistTo = reuse
    ? path.join(work, "state")
    : await prepareDb({ dir: path.join(work, "state"), catalog: bare, seed: SEED_SQL });
  const bytesBefore = d1Bytes(persistTo);
  const vars = oneGpuVars(gpu, DEADLINE_MS, {
    ADMIN_TOKEN: TOKEN,
    RATE_LIMITS: "off",
    CACHE_TTL_S: "0",
    DEGRADED_CACHE_TTL_S: "0",
    ...EDGE_VARS,
  });
  let edge = await startEdge({ persistTo, vars });
  try {
    // the store through the API (skipped when --reuse measures a kept one again)
    // (a restart replaces `edge` here, so the `finally` below stops the one running)
    const restart = async () => (edge = await startEdge({ persistTo, vars }));
    if (!reuse) await fillStore({ n, store, events, dataDir, persistTo, fig, edge, restart });

    log(`${n}: measuring search and recommend`);
    const ids = sampleIds(path.join(dataDir, "events.ndjson"));
    const searchUrl = (q) => `${edge.url}/v1/search?store=${store}&q=${encodeURIComponent(q)}&k=20`;
    const recUrls = {
      user: ids.users.map((u) => `/v1/recommend?store=${store}&user=${encodeURIComponent(u)}&k=20`),
      item: ids.items.map((i) => `/v1/recommend?store=${store}&item=${encodeURIComponent(i)}&k=20`),
      cart: ids.carts.map((c) => `/v1/recommend?store=${store}&cart=${c.map(encodeURIComponent).join(",")}&k=20`),
    };
    for (const qs of Object.values(queries)) for (const q of qs) await timedGet(searchUrl(q)); // warm-up
    for (const urls of Object.values(recUrls)) for (const u of urls.slice(0, 5)) await timedGet(edge.url + u);
    const stages = ["retrieval", "light", "gpu", "total"];
    fig.search = {};
    for (const [cls, qs] of Object.entries(queries)) {
      const answers = [];
      for (let r = 0; r < REPS; r++) for (const q of qs) answers.push(await timedGet(searchUrl(q)));
      fig.search[cls] = stageFigures(answers, stages);
      fig.search[cls].hits = p50p95(answers.map((a) => a.body?.items?.length ?? 0));
    }
    fig.recommend = {};
    for (const [mode, urls] of Object.entries(recUrls)) {
      const answers = [];
      for (let r = 0; r < Math.max(1, Math.ceil(REPS / 2)); r++)
        for (const u of urls) answers.push(await timedGet(edge.url + u));
      fig.recommend[mode] = stageFigures(answers, stages);
    }
    fig.workerd_rss_mb = await workerdRssMb(edge);
    const heap = await edge.heapUsage().catch((e) => log(`${n}: no heap figure (${e.message})`));
    if (heap) fig.isolate_heap_mb = heap.usedSize / 2 ** 20;

    log(`${n}: restarting wrangler dev (cold isolate)`);
    await edge.stop();
    if (!reuse) fig.d1_bytes_per_product = (d1Bytes(persistTo) - bytesBefore) / n;
    t0 = performance.now();
    await restart();
    fig.cold_start_ms = performance.now() - t0;
    fig.cold_first_search_ms = (await timedGet(searchUrl(queries.head[0]))).clientMs;
    fig.cold_first_recommend_ms = (await timedGet(edge.url + recUrls.user[0])).clientMs;
  } finally {
    await edge.stop();
    if (values.keep || reuse) log(`${n}: kept ${work} (generator: ${JSON.stringify(gen)})`);
    else rmSync(work, { recursive: true, force: true });
  }
  return fig;
}

// ---- the report ------------------------------------------------------------------------------------------------

/** The figures compared across sizes: [label, value of a size's record]. */
const ROWS = [
  ["ingest products/s", (f) => f.ingest_products_per_s],
  ["ingest events/s", (f) => f.ingest_events_per_s],
  ["live tables cron ms", (f) => f.live_tables_cron_ms],
  ...["head", "torso", "tail"].flatMap((c) =>
    ["retrieval", "light", "gpu", "total"].flatMap((s) => [
      [`search ${c} ${s} p50 ms`, (f) => f.search?.[c]?.[s]?.p50],
      [`search ${c} ${s} p95 ms`, (f) => f.search?.[c]?.[s]?.p95],
    ]),
  ),
  ...["user", "item", "cart"].flatMap((m) => [
    [`recommend ${m} total p50 ms`, (f) => f.recommend?.[m]?.total?.p50],
    [`recommend ${m} total p95 ms`, (f) => f.recommend?.[m]?.total?.p95],
  ]),
  ["workerd RSS MB (warm)", (f) => f.workerd_rss_mb],
  ["worker isolate V8 heap MB (warm)", (f) => f.isolate_heap_mb],
  ["D1 bytes / product", (f) => f.d1_bytes_per_product],
  ["cold start ms (spawn → /healthz)", (f) => f.cold_start_ms],
  ["cold first search ms", (f) => f.cold_first_search_ms],
  ["cold first recommend ms", (f) => f.cold_first_recommend_ms],
  ["pipeline wall s", (f) => f.pipeline_wall_s],
  ["pipeline peak RSS MB", (f) => f.pipeline_peak_rss_mb],
];

const fmt = (x) => (x === undefined || x === null ? "—" : x >= 100 ? Math.round(x).toLocaleString("en") : x.toFixed(2));

function report(figs) {
  for (const f of figs) {
    console.log(
      `\n── ${f.products.toLocaleString("en")} products, ${f.events.toLocaleString("en")} events (store ${f.store})` +
        (f.events_bulk_loaded
          ? ` — ${f.events_via_api.toLocaleString("en")} through /v1/events, ${f.events_bulk_loaded.toLocaleString("en")} bulk-loaded in ${fmt(f.bulk_load_s)} s`
          : ""),
    );
    for (const [label, get] of ROWS) console.log(`  ${label.padEnd(36)} ${fmt(get(f)).padStart(12)}`);
    for (const [what, g] of [...Object.entries(f.search ?? {}), ...Object.entries(f.recommend ?? {})])
      if (g.degraded || g.errors)
        console.log(`  ${what}: ${g.errors} errors, ${g.degraded} degraded ${JSON.stringify(g.degradedReasons)}`);
    for (const s of f.pipeline?.steps ?? [])
      console.log(
        `  pipeline: ${s.step.padEnd(40)} ${fmt(s.wall_s).padStart(8)} s ${fmt(s.peak_rss_mb).padStart(8)} MB`,
      );
    if (f.pipeline?.error) console.log(`  pipeline: failed — ${f.pipeline.error}`);
  }
  const slopes = {};
  if (figs.length > 1) {
    console.log(`\n── log-log slope between sizes (1 = linear in the catalogue, 0 = flat)`);
    console.log(
      `  ${"figure".padEnd(36)} ${figs
        .slice(1)
        .map((f, k) => `${figs[k].products}→${f.products}`.padStart(16))
        .join("")}`,
    );
    for (const [label, get] of ROWS) {
      const row = figs.slice(1).map((f, k) => slope(get(figs[k]), get(f), figs[k].products, f.products));
      slopes[label] = row;
      console.log(`  ${label.padEnd(36)} ${row.map((s) => (s === null ? "—" : s.toFixed(2)).padStart(16)).join("")}`);
    }
  }
  return slopes;
}

const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, load ${os.loadavg()[0].toFixed(1)}`;
log(
  `sizes ${SIZES.join(", ")} on ${machine}${values["edge-var"]?.length ? `, edge vars ${values["edge-var"].join(" ")}` : ""}`,
);
const gpu = await startGpu();
const figs = [];
const out =
  values.out ?? path.join(REPO, ".vitrine", "bench", `scale-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
mkdirSync(path.dirname(out), { recursive: true });
const save = (/** @type {object} */ slopes) =>
  writeFileSync(
    out,
    JSON.stringify(
      { machine, at: new Date().toISOString(), reps: REPS, edgeVars: EDGE_VARS, sizes: figs, slopes },
      null,
      1,
    ) + "\n",
  );
try {
  // each size is written as soon as it is measured: a later size that fails keeps the earlier ones
  for (const n of SIZES) {
    figs.push(await measureSize(n, gpu));
    save({});
  }
} finally {
  await gpu.stop();
}
const slopes = report(figs);
save(slopes);
console.log(`\nJSON: ${out}`);
stopAll();
