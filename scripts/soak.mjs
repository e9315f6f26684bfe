#!/usr/bin/env node
// Chaos soak: `npm run soak -- --minutes N` (loopback only, bounded).
//
// Starts its own two gpu-tiers (primary + secondary region, as the drills see them) and `wrangler dev` on free
// ports (test/integration/harness.mjs), drives a mixed load (search, rerank, feedback events, recommend when
// /v1/recommend answers non-404, and a few deliberate 400s) while it runs, in order: a healthy phase; the primary
// killed (SIGKILL) and restarted; the primary frozen (SIGSTOP … SIGCONT: a real stall, hedging must cover it); the
// secondary killed and restarted; the metrics flush to D1 failing (the metrics_flush_fail drill: the isolate's
// pending payloads meet a failing D1 batch and must stay buffered); both regions killed, then restarted; the D1
// database file held under an exclusive lock for a few seconds (D1 down: events go to the durable buffer, reads answer
// what the D1 read path answers — 2xx or 503, never 500); recovery.
// Then it reconciles against the D1 rollups (GET /admin/metrics, live traffic):
//   - requests sent == requests counted, per route and status class (no loss, no double count)
//   - events posted == events rolled up, per type
//   - events accepted (202) == events in D1 (the default store's event_count grew by exactly that many, read from the
//     SQLite file once the durable buffer drained)
//   - 0 non-2xx other than the deliberate 400s, 0 transport errors
//   - degraded answers only while no GPU endpoint was up (plus a recovery grace after the first one is back)
// and prints p50/p99 per phase and the workerd and gpu-tier RSS at start and end. Exit status 1 on any mismatch.
//
// The phases get equal shares of N minutes; a restart phase lasts at least until the restarted tier answers /ping.
// Env: VITRINE_SOAK_CONCURRENCY (2), VITRINE_SOAK_DEADLINE_MS (30000: the CPU gpu-tier is slow),
//      VITRINE_SOAK_GRACE_MS (5000), VITRINE_IT_VERBOSE=1 (server logs).
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { openD1File } from "../test/integration/d1-file.mjs";
import { freePort, prepareDb, startEdge, startGpu, stopAll } from "../test/integration/harness.mjs";
import { catalogQueries, pct } from "../test/integration/load.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const EVENT_TYPES = ["impression", "click", "add_to_cart", "purchase"];
const FEEDBACK_FIELD = { impression: "impressions", click: "clicks", add_to_cart: "addToCart", purchase: "purchases" };

/** Resident memory (kB) of a process, or of every process of a process group whose command matches `name`. */
function rssKb({ pid, pgid, name }) {
  try {
    if (pid) return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
    const ps = execFileSync("ps", ["-eo", "pid=,pgid=,rss=,comm="], { encoding: "utf8" });
    return ps
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter(([, g, , c]) => Number(g) === pgid && c && c.includes(name))
      .reduce((s, [, , rss]) => s + Number(rss), 0);
  } catch {
    return NaN;
  }
}

export async function runSoak({ minutes = 10, log = console.log } = {}) {
  const concurrency = Number(process.env.VITRINE_SOAK_CONCURRENCY ?? 2);
  // the CPU gpu-tier on a shared machine takes seconds per request: a deadline it can meet (the 150 ms default is
  // for a GPU); admission control still sheds what would miss it
  const deadlineMs = Number(process.env.VITRINE_SOAK_DEADLINE_MS ?? 30_000);
  const graceMs = Number(process.env.VITRINE_SOAK_GRACE_MS ?? 5_000);
  const adminToken = randomBytes(24).toString("hex");
  const phases = [
    "healthy",
    "primary_killed",
    "primary_stalled",
    "secondary_killed",
    "flush_failing",
    "both_down",
    "d1_locked",
    "recovery",
  ];
  const phaseMs = Math.max(5_000, (minutes * 60_000) / phases.length);

  // the tiers' queue bound follows the deadline: on a busy CPU the 5 s default would shed work the edge still waits for
  const gpuArgs = ["--max-queue-ms", String(deadlineMs)];
  const queries = catalogQueries(300);
  const ports = { primary: await freePort(), secondary: await freePort() };
  const dir = await prepareDb();
  const gpu = {};
  [gpu.primary, gpu.secondary] = await Promise.all([
    startGpu({ port: ports.primary, args: gpuArgs }),
    startGpu({ port: ports.secondary, args: gpuArgs }),
  ]);
  const edge = await startEdge({
    persistTo: dir,
    vars: {
      GPU_ENDPOINT_URL: gpu.primary.url,
      GPU_SECONDARY_ENDPOINT_URL: gpu.secondary.url,
      GPU_DEADLINE_MS: String(deadlineMs),
      GPU_BREAKER_COOLDOWN_MS: "1000",
      GPU_HEDGE_PERCENTILE: "90", // a stalled endpoint is covered by the other region, not waited out
      // primary first, as the faults are scripted (nearest routing would order two loopback regions by measured
      // noise); routing by location is the global test's subject
      GPU_ROUTING: "fixed",
      CACHE_TTL_S: "0", // every request takes the GPU path
      DEGRADED_CACHE_TTL_S: "0",
      RATE_LIMITS: "off", // one loopback client at full speed; the soak is about faults, not the per-client limit
      ADMIN_TOKEN: adminToken,
      DRILL_SECRET: randomBytes(32).toString("hex"),
    },
  });
  const admin = { authorization: `Bearer ${adminToken}` };
  const d1 = openD1File(dir);
  const storeEvents = async () => (await d1.query("SELECT event_count FROM stores WHERE is_default = 1"))[0]?.[0] ?? 0;
  const eventsInD1Before = await storeEvents();

  // -- the load ------------------------------------------------------------------------------------------------
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  let phase = "warmup";
  const results = []; // {route, status, start, end, phase, degraded, reason, deliberate, error}
  const eventsPosted = Object.fromEntries(EVENT_TYPES.map((t) => [t, 0]));
  const accepted = { events: 0, buffered: 0 }; // events answered 202, and those the durable buffer took
  const seen = []; // {requestId, id, variant, model} from search answers, for rerank and events
  let recommend = false;
  let n = 0;
  const inflight = new Set(); // {start} of each request not answered yet

  /** Waits until every request sent before `t` is answered: a fault ends when the requests it touched have their
   * answers, so the next fault never lands on a request still failing over from the last one. */
  async function drain(t) {
    const until = now() + deadlineMs + 10_000;
    while ([...inflight].some((r) => r.start < t) && now() < until) await sleep(100);
  }

  /** Invocations a gpu-tier answered 200 (its own /metrics); NaN while it does not answer. */
  async function served(role) {
    try {
      const text = await (await fetch(`${gpu[role].url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
      // the labels hold the route template, braces included: route="/endpoints/{name}/invocations"
      return [...text.matchAll(/^vitrine_gpu_requests_total\{(.*)\} (\S+)$/gm)]
        .filter(([, labels]) => labels.includes("invocations") && labels.includes('status="200"'))
        .reduce((sum, m) => sum + Number(m[2]), 0);
    } catch {
      return NaN;
    }
  }

  /** Steady state before the next fault: `role` is serving the edge's calls again (its breaker let traffic through
   * and it answered), so the next fault never meets an endpoint that is up but still skipped. */
  async function serving(role, calls = 2) {
    const base = (await served(role)) || 0;
    const until = now() + deadlineMs + 30_000;
    while (now() < until) {
      if ((await served(role)) - base >= calls) return true;
      await sleep(250);
    }
    return false;
  }

  async function send(route, url, init, deliberate = false) {
    const start = now();
    const at = phase;
    const token = { start };
    inflight.add(token);
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(deadlineMs + 30_000) });
      const body = await res.json().catch(() => ({}));
      results.push({
        route,
        status: res.status,
        start,
        end: now(),
        phase: at,
        degraded: body.degraded === true,
        reason: body.degradedReason ?? null,
        deliberate,
      });
      return body;
    } catch (err) {
      results.push({
        route,
        status: 0,
        start,
        end: now(),
        phase: at,
        degraded: false,
        reason: null,
        deliberate,
        error: String(err),
      });
      return {};
    } finally {
      inflight.delete(token);
    }
  }

  async function one() {
    const i = n++;
    const q = queries[i % queries.length];
    if (i % 25 === 24) return send("search", `${edge.url}/v1/search?q=&k=5`, {}, true); // deliberate 400
    if (i % 5 === 1 && seen.length >= 5) {
      const ids = Array.from({ length: 5 }, () => seen[Math.floor(Math.random() * seen.length)].id);
      return send("rerank", `${edge.url}/v1/rerank`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: q, candidates: [...new Set(ids)] }),
      });
    }
    if (i % 5 === 2 && seen.length > 0) {
      const s = seen[Math.floor(Math.random() * seen.length)];
      const events = EVENT_TYPES.slice(0, 1 + (i % EVENT_TYPES.length)).map((type, position) => ({
        type,
        requestId: s.requestId,
        productId: s.id,
        position,
        ...(s.variant ? { variant: s.variant } : {}),
        ...(s.model ? { model: s.model } : {}),
      }));
      const answer = await send("events", `${edge.url}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ events }),
      });
      if (answer.accepted === events.length) {
        for (const e of events) eventsPosted[e.type] += 1;
        accepted.events += events.length;
        accepted.buffered += answer.buffered ?? 0;
      }
      return;
    }
    if (i % 5 === 3 && recommend) return send("recommend", `${edge.url}/v1/recommend?user=soak-${i % 50}&k=5`, {});
    const body = await send("search", `${edge.url}/v1/search?q=${encodeURIComponent(q)}&k=5`, {});
    for (const item of body.items ?? []) {
      seen.push({ requestId: body.requestId, id: item.id, variant: body.variant, model: body.models?.heavy });
      if (seen.length > 500) seen.shift();
    }
  }

  // warm the tiers (first inference) and give the hedge its latency samples (≥ 20 successful primary calls: without
  // them a stalled primary would be waited out); decide whether recommend is in the mix
  for (let round = 0; round < 8; round++) await Promise.all(Array.from({ length: concurrency }, () => one()));
  const rec = await fetch(`${edge.url}/v1/recommend?user=soak-0&k=5`);
  await rec.arrayBuffer();
  recommend = rec.status !== 404 && rec.status !== 405;
  if (recommend)
    results.push({
      route: "recommend",
      status: rec.status,
      start: now(),
      end: now(),
      phase,
      degraded: false,
      reason: null,
      deliberate: false,
    });

  const rss = (which) => ({
    workerdKb: rssKb({ pgid: edge.proc.pid, name: "workerd" }),
    gpuPrimaryKb: rssKb({ pid: gpu.primary.proc.pid }),
    gpuSecondaryKb: rssKb({ pid: gpu.secondary.proc.pid }),
    at: which,
  });
  const memory = { start: rss("start"), phases: {} }; // phases: workerd RSS at each phase start

  let running = true;
  const workers = Array.from({ length: concurrency }, async () => {
    while (running) await one();
  });

  // -- the faults ----------------------------------------------------------------------------------------------
  const down = { primary: false, secondary: false };
  const windows = []; // [from, to] while no endpoint was up
  let allDownSince = null;
  const mark = (role, isDown) => {
    down[role] = isDown;
    const all = down.primary && down.secondary;
    if (all && allDownSince === null) allDownSince = now();
    if (!all && allDownSince !== null) {
      windows.push([allDownSince, now()]);
      allDownSince = null;
    }
  };
  const marks = {};
  const restart = async (role) => {
    gpu[role] = await startGpu({ port: ports[role], args: gpuArgs });
    mark(role, false);
  };
  const timed = async (name, fn) => {
    phase = name;
    const started = now();
    marks[name] = Math.round(started);
    memory.phases[name] = rss(name).workerdKb;
    await fn();
    const left = phaseMs - (now() - started);
    if (left > 0) await sleep(left);
  };
  let flushFault = null;

  await timed("healthy", async () => {});
  await timed("primary_killed", async () => {
    gpu.primary.kill("SIGKILL");
    mark("primary", true);
    await sleep(Math.min(phaseMs / 3, 5_000));
    await restart("primary");
    await drain(now());
    if (!(await serving("primary"))) log(`#   ${phase}: the primary served no call within ${deadlineMs + 30_000} ms`);
  });
  await timed("primary_stalled", async () => {
    gpu.primary.kill("SIGSTOP");
    await sleep(phaseMs * 0.6);
    gpu.primary.kill("SIGCONT");
    await drain(now()); // requests that waited on the stalled primary (hedge delay = its p90 latency) are answered
    if (!(await serving("primary"))) log(`#   ${phase}: the primary served no call within ${deadlineMs + 30_000} ms`);
  });
  await timed("secondary_killed", async () => {
    gpu.secondary.kill("SIGKILL");
    mark("secondary", true);
    await sleep(Math.min(phaseMs / 3, 5_000));
    await restart("secondary");
    await drain(now());
  });
  await timed("flush_failing", async () => {
    // the drill skips or aborts when the system is not in a steady state (e.g. real GPU calls failing): retry
    for (let attempt = 1; attempt <= 3; attempt++) {
      const res = await fetch(`${edge.url}/admin/drills/run`, {
        method: "POST",
        headers: { ...admin, "content-type": "application/json" },
        body: JSON.stringify({ scenario: "metrics_flush_fail" }),
      });
      const report = await res.json().catch(() => ({}));
      const checks = Object.fromEntries((report.results?.checks ?? []).map((c) => [c.name, c.ok]));
      flushFault = { status: res.status, drill: report.status ?? null, reason: report.reason, attempt, checks };
      if (checks.flush_failure_seen) break;
      await sleep(2_000);
    }
  });
  await timed("both_down", async () => {
    gpu.primary.kill("SIGKILL");
    gpu.secondary.kill("SIGKILL");
    mark("primary", true);
    mark("secondary", true);
    await sleep(Math.min(phaseMs / 2, 8_000));
    await Promise.all([restart("primary"), restart("secondary")]);
  });
  let d1Window = null; // [from, to] while the D1 file was locked
  await timed("d1_locked", async () => {
    await d1.lock();
    const from = now();
    await sleep(Math.min(phaseMs * 0.6, 5_000));
    await d1.unlock();
    d1Window = [from, now()];
  });
  await timed("recovery", async () => {});
  running = false;
  await Promise.all(workers);
  marks.end = Math.round(now());
  memory.end = rss("end");

  // -- reconcile -----------------------------------------------------------------------------------------------
  // the rollups are read through the edge: if it died under the load, say so with its last words
  if (edge.proc.exitCode !== null || edge.proc.signalCode !== null)
    throw new Error(
      `the edge (wrangler dev) exited during the soak (${edge.proc.exitCode ?? edge.proc.signalCode}); ` +
        `workerd RSS per phase (kB) ${JSON.stringify(memory.phases)}; its last log lines:\n${edge.proc.logTail()}`,
    );
  const wallStart = Date.now() - performance.now() + t0;
  const from = Math.floor(wallStart / 1000) - 120;
  const to = Math.ceil(Date.now() / 1000) + 120;
  const query = async (params) => {
    const res = await fetch(`${edge.url}/admin/metrics?from=${from}&to=${to}&step=60&${params}`, { headers: admin });
    if (!res.ok) throw new Error(`/admin/metrics ${params}: HTTP ${res.status} ${await res.text()}`);
    return res.json();
  };
  const mismatches = [];
  let byRoute;
  // flushes this isolate's pending aggregates first; payloads retained through the D1 phase go out on the flush
  // buffer's retry schedule, which on a loaded machine can take longer than a few seconds
  for (let waited = 0; ; waited += 1_000) {
    byRoute = await query("groupBy=route&traffic=live");
    if (byRoute.collector?.pendingPayloads === 0 && byRoute.collector?.pendingSamples === 0) break;
    if (waited >= 90_000) {
      mismatches.push(`metrics still pending after 90 s: ${JSON.stringify(byRoute.collector)}`);
      break;
    }
    await sleep(1_000);
  }
  const all = await query("traffic=live");

  const routes = [...new Set(results.filter((r) => r.route !== "events").map((r) => r.route))];
  const requests = {};
  for (const route of routes) {
    const mine = results.filter((r) => r.route === route && r.status > 0);
    const series = byRoute.series.find((s) => s.group === route);
    const counted = series?.totals ?? { count: 0, status: { "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0 } };
    const sent = {
      count: mine.length,
      "2xx": mine.filter((r) => r.status >= 200 && r.status < 300).length,
      "4xx": mine.filter((r) => r.status >= 400 && r.status < 500).length,
      "5xx": mine.filter((r) => r.status >= 500).length,
    };
    const got = {
      count: counted.count,
      "2xx": counted.status["2xx"],
      "4xx": counted.status["4xx"],
      "5xx": counted.status["5xx"],
    };
    requests[route] = { sent, counted: got };
    for (const k of Object.keys(sent))
      if (sent[k] !== got[k]) mismatches.push(`${route} ${k}: sent ${sent[k]}, counted ${got[k]}`);
    if (sent.count !== got.count) {
      // where the difference lies: sent vs counted per minute (a request is counted in the minute it ended, ± skew)
      const minuteOf = (r) => Math.floor((wallStart + r.end) / 60_000) * 60;
      const perMinute = (series?.points ?? [])
        .filter((pt) => pt.count > 0 || mine.some((r) => minuteOf(r) === pt.ts))
        .map(
          (pt) =>
            `${new Date(pt.ts * 1000).toISOString().slice(11, 16)} ${mine.filter((r) => minuteOf(r) === pt.ts).length}/${pt.count}`,
        );
      mismatches.push(`${route} sent/counted per minute: ${perMinute.join(", ")}`);
    }
  }
  const fb = all.series[0]?.totals?.feedback ?? {};
  const events = {};
  for (const t of EVENT_TYPES) {
    events[t] = { posted: eventsPosted[t], counted: fb[FEEDBACK_FIELD[t]] ?? 0 };
    if (events[t].posted !== events[t].counted)
      mismatches.push(`events ${t}: posted ${events[t].posted}, counted ${events[t].counted}`);
  }
  const transport = results.filter((r) => r.status === 0);
  if (transport.length) mismatches.push(`${transport.length} transport errors, e.g. ${transport[0].error}`);
  // while D1 was locked a read may be refused with 503 (catalog_unavailable / events_unavailable): never a 500
  const d1Refusal = (r) => r.status === 503 && d1Window && r.end >= d1Window[0] && r.start <= d1Window[1] + graceMs;
  const unexpected = results.filter(
    (r) => r.status > 0 && (r.status < 200 || r.status > 299) && !r.deliberate && !d1Refusal(r),
  );
  if (unexpected.length)
    mismatches.push(`${unexpected.length} unexpected non-2xx: ${JSON.stringify(unexpected.slice(0, 3))}`);
  const wrongDeliberate = results.filter((r) => r.deliberate && r.status !== 400);
  if (wrongDeliberate.length) mismatches.push(`${wrongDeliberate.length} deliberate bad requests not answered 400`);
  const degraded = results.filter((r) => r.degraded);
  // a degraded answer is expected while no GPU endpoint was up, and with reason d1_unavailable while the D1 file was
  // locked (both + the grace a breaker needs to close again); anything else is a fault that cost an answer. An answer
  // marked d1_unavailable is a stale cached one (or the last-known-good list): it keeps the reasons it was cached with,
  // e.g. "gpu_circuit_open,d1_unavailable" for an answer computed while both GPU endpoints were down
  const within = (r, [a, b]) => r.end >= a && r.start <= b + graceMs;
  const staleForD1 = (r) =>
    String(r.reason ?? "")
      .split(",")
      .includes("d1_unavailable");
  const outside = degraded.filter(
    (r) => !windows.some((w) => within(r, w)) && !(staleForD1(r) && d1Window && within(r, d1Window)),
  );
  if (outside.length)
    mismatches.push(
      `${outside.length} degraded answers outside the fault windows: ${JSON.stringify(outside.slice(0, 3))}`,
    );
  if (!flushFault?.checks?.flush_failure_seen || !flushFault.checks.payload_retained)
    mismatches.push(`the metrics flush fault did not happen: ${JSON.stringify(flushFault)}`);
  // accepted events in D1: the durable buffer drains by alarm within seconds of D1's return
  let eventsInD1 = (await storeEvents()) - eventsInD1Before;
  for (let waited = 0; eventsInD1 < accepted.events && waited < 60_000; waited += 500) {
    await sleep(500);
    eventsInD1 = (await storeEvents()) - eventsInD1Before;
  }
  d1.close();
  if (eventsInD1 !== accepted.events)
    mismatches.push(`events accepted ${accepted.events} (buffered ${accepted.buffered}), in D1 ${eventsInD1}`);
  const lost = byRoute.collector?.dropped ?? 0;
  if (lost) mismatches.push(`${lost} metrics payloads dropped by the flush buffer`);

  const perPhase = {};
  for (const p of ["warmup", ...phases]) {
    const rs = results.filter((r) => r.phase === p && r.status > 0 && r.route !== "events");
    const ms = rs.map((r) => r.end - r.start);
    perPhase[p] = {
      requests: rs.length,
      degraded: rs.filter((r) => r.degraded).length,
      reasons: [...new Set(rs.filter((r) => r.degraded).map((r) => r.reason))].join(" "),
      p50: Math.round(pct(ms, 50)),
      p99: Math.round(pct(ms, 99)),
    };
  }
  const report = {
    ok: mismatches.length === 0,
    minutes,
    concurrency,
    deadlineMs,
    recommendInMix: recommend,
    loadSeconds: Math.round(marks.end / 100) / 10,
    sent: results.length,
    requests,
    events,
    eventsDurable: { accepted: accepted.events, buffered: accepted.buffered, inD1: eventsInD1 },
    d1LockedMs: d1Window ? [Math.round(d1Window[0]), Math.round(d1Window[1])] : null,
    d1Refused: results.filter(d1Refusal).length,
    deliberate400: results.filter((r) => r.deliberate).length,
    degraded: {
      total: degraded.length,
      reasons: Object.fromEntries(
        [...new Set(degraded.map((r) => r.reason))].map((k) => [k, degraded.filter((r) => r.reason === k).length]),
      ),
      allDownWindowsMs: windows.map(([a, b]) => [Math.round(a), Math.round(b)]),
      outsideWindows: outside.length,
    },
    flushFault,
    perPhase,
    phaseStartsMs: marks,
    memoryKb: memory,
    mismatches,
  };
  log(formatReport(report));
  return report;
}

export function formatReport(r) {
  const lines = [
    `soak reconciliation (${r.minutes} min planned, ${r.loadSeconds} s of load, concurrency ${r.concurrency})`,
  ];
  for (const [route, v] of Object.entries(r.requests))
    lines.push(`  ${route.padEnd(10)} sent ${JSON.stringify(v.sent)}  counted ${JSON.stringify(v.counted)}`);
  for (const [t, v] of Object.entries(r.events))
    lines.push(`  event ${t.padEnd(12)} posted ${v.posted}  counted ${v.counted}`);
  lines.push(
    `  events accepted ${r.eventsDurable.accepted} (buffered while D1 failed ${r.eventsDurable.buffered}), ` +
      `in D1 ${r.eventsDurable.inD1}; D1 locked (ms) ${JSON.stringify(r.d1LockedMs)}, 503s meanwhile ${r.d1Refused}`,
  );
  lines.push(`  deliberate 400s: ${r.deliberate400}; recommend in the mix: ${r.recommendInMix}`);
  lines.push(`  degraded: ${JSON.stringify(r.degraded)}`);
  lines.push(`  metrics flush fault: ${JSON.stringify(r.flushFault)}`);
  lines.push(`  phase starts (ms): ${JSON.stringify(r.phaseStartsMs)}`);
  lines.push("  phase              requests degraded   p50 ms   p99 ms  degraded reasons");
  for (const [p, v] of Object.entries(r.perPhase))
    lines.push(
      `  ${p.padEnd(18)} ${String(v.requests).padStart(8)} ${String(v.degraded).padStart(8)} ${String(v.p50).padStart(8)} ${String(v.p99).padStart(8)}  ${v.reasons}`,
    );
  const mem = (m) =>
    `workerd ${Math.round(m.workerdKb / 1024)} MiB, gpu primary ${Math.round(m.gpuPrimaryKb / 1024)} MiB, secondary ${Math.round(m.gpuSecondaryKb / 1024)} MiB`;
  lines.push(`  RSS start: ${mem(r.memoryKb.start)}`);
  lines.push(`  RSS end:   ${mem(r.memoryKb.end)}`);
  lines.push(
    `  workerd RSS at each phase start (MiB): ${Object.entries(r.memoryKb.phases ?? {})
      .map(([p, kb]) => `${p} ${Math.round(kb / 1024)}`)
      .join(", ")}`,
  );
  lines.push(
    r.ok
      ? "  RESULT: OK — nothing lost, nothing double counted"
      : `  RESULT: MISMATCH\n    - ${r.mismatches.join("\n    - ")}`,
  );
  return lines.join("\n");
}

const isMain = process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url;
if (isMain) {
  const i = process.argv.indexOf("--minutes");
  const minutes = i > 0 ? Number(process.argv[i + 1]) : 10;
  if (!(minutes > 0 && minutes <= 120)) {
    console.error("usage: npm run soak -- --minutes N   (0 < N <= 120)");
    process.exit(2);
  }
  // bounded: the load plus restarts and reconciliation
  const guard = setTimeout(
    () => {
      console.error(`soak: over its bound (${minutes} min + 10 min); stopping`);
      stopAll();
      process.exit(1);
    },
    (minutes + 10) * 60_000,
  );
  guard.unref();
  runSoak({ minutes })
    .then((r) => {
      stopAll();
      process.exit(r.ok ? 0 : 1);
    })
    .catch((err) => {
      console.error(err);
      stopAll();
      process.exit(1);
    });
}
