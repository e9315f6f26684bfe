/**
 * The drill scenarios. Every fault is injected only into the drill's own signed probes (or, for the metrics flush,
 * into the one flush call the drill makes itself); real traffic keeps its endpoints, breakers, cache and D1.
 *
 *  primary_down        the nearest region of the run's colo (edge/drills/region.ts; no colo: the primary) refuses
 *                      connections → probes fail over to the next nearest region in reach (never degraded), or answer
 *                      the light ranking at once when none is; detect = its breaker opens; recover = it serves again;
 *                      the report names the region that took over and the GPU-stage / end-to-end p50 it added
 *  all_down            every endpoint refuses → probes answer 2xx with the light ranking (degraded)
 *  gpu_slow            every endpoint answers later than the deadline → degraded 2xx within deadline + 50 ms
 *  metrics_flush_fail  the D1 batch of a metrics flush fails → the payload stays buffered; after the fault is lifted
 *                      the next flush lands it and every drill-tagged sample is in the rollups (nothing lost)
 *  cold_cache          the probe query's cache entry is purged → MISS → HIT again (recovery time)
 *  d1_read_down        the probes' D1 reads fail at the D1 access layer → stale / last-known-good answers or 503
 *                      catalog_unavailable, never a 500; detect = the run's D1 breaker opens (edge/drills/d1-scenario.ts)
 *  recommend_*         primary_down, all_down and d1_read_down with the probes asking /v1/recommend (a store with
 *                      recommendation tables, edge/drills/runner.ts probeTarget)
 */
import { storeSet } from "../stores/resolve";
import { config } from "../config";
import { gpuEndpoints } from "../gpu/endpoints";
import { collectorState, flushNow } from "../metrics/collector";
import type { FaultSpec, ScenarioId } from "./context";
import { getExperimentConfig } from "../experiments/config";
import { serialiseDegradedReasons } from "../ranking/degraded";
import { planFor } from "../ranking/plan";
import { searchCacheKey } from "../search/answer";
import { d1ReadDown } from "./d1-scenario";
import { faultPhase, recoveryPhase } from "./phases";
import { degradedBy, gpuResult, ok2xx, PROBE_K, type ProbeResult, servedByRegion, sleep } from "./probe";
import { measureTakeover, type RegionPlan, regionPlan } from "./region";
import { type DrillRun, DrillSkipped } from "./run";

type Scenario = (run: DrillRun) => Promise<void>;

function describe(p: ProbeResult): string {
  const g = gpuResult(p);
  const reason = serialiseDegradedReasons(p.degradedReasons);
  return `${p.status} degraded=${p.degraded}${reason ? `(${reason})` : ""} cache=${p.cache ?? "-"} gpu=${g ? (g.ok ? `ok@${g.endpoint}` : g.reason) : "none"}`;
}

/**
 * Steady state for GPU scenarios: fault-free probes (`baselineProbes`, the healthy latency baseline) answered 2xx, not
 * degraded, by the run's home region (its colo's nearest, edge/drills/region.ts).
 */
async function gpuSteadyState(
  run: DrillRun,
  plan: RegionPlan,
  needOther: boolean,
  baselineProbes: number,
): Promise<ProbeResult[]> {
  if (needOther && plan.order.length < 2) throw new DrillSkipped("no second GPU region is configured");
  const baseline: ProbeResult[] = [];
  for (let i = 0; i < baselineProbes; i++) {
    const p = await run.probe("steady", {});
    if (!ok2xx(p)) throw new DrillSkipped(`steady state not met: probe answered ${describe(p)}`);
    if (!gpuResult(p)) throw new DrillSkipped(`steady state not met: the probe query "${run.query}" made no GPU call`);
    if (p.degraded || servedByRegion(p) !== plan.home)
      throw new DrillSkipped(`steady state not met (home region ${plan.home}): ${describe(p)}`);
    baseline.push(p);
  }
  run.mark("steady_state_ok", {
    endpoints: gpuEndpoints(run.env).map((e) => e.id),
    ...(plan.colo ? { colo: plan.colo } : {}),
    homeRegion: plan.home,
  });
  return baseline;
}

interface GpuScenarioSpec {
  /** the fault, given the run's regions (e.g. its home region refuses) */
  fault: (plan: RegionPlan) => FaultSpec;
  /** the regions the fault takes down (their drill breakers opening is the detection) */
  faulted: (plan: RegionPlan) => string[];
  needOther: boolean;
  /** fault-free probes before the fault: the healthy baseline the failover's added latency is measured against */
  baselineProbes: number;
  /** the answer a probe must get while the fault is on (correct failover / degraded flags) */
  expected: (p: ProbeResult, plan: RegionPlan) => boolean;
  expectedLabel: (plan: RegionPlan) => string;
}

async function gpuScenario(
  run: DrillRun,
  spec: GpuScenarioSpec,
): Promise<{ plan: RegionPlan; baseline: ProbeResult[]; under: ProbeResult[] }> {
  const plan = regionPlan(run);
  if (!plan) throw new DrillSkipped("no GPU region is configured");
  const baseline = await gpuSteadyState(run, plan, spec.needOther, spec.baselineProbes);
  const faultedRegions = new Set(spec.faulted(plan));
  const expected = (p: ProbeResult): boolean => ok2xx(p) && spec.expected(p, plan);
  const label = spec.expectedLabel(plan);

  // inject: until the fault is detected (a faulted region's breaker opens) and the fallback has served 2 probes
  const under = await faultPhase(run, {
    fault: spec.fault(plan),
    detected: (p) => {
      const opened = p.gpu.find(
        (e) => e.type === "breaker" && e.to === "open" && faultedRegions.has(regionOfEndpoint(e.endpoint)),
      );
      return opened?.type === "breaker" ? { at: opened.at, data: { endpoint: opened.endpoint } } : undefined;
    },
    expected,
    expectedLabel: label,
  });
  const wrong = under.filter((p) => !expected(p));
  run.check(
    "probes_2xx_under_fault",
    under.every(ok2xx),
    `${under.filter(ok2xx).length}/${under.length} probes answered 2xx`,
  );
  run.check(
    "flags_under_fault",
    wrong.length === 0,
    wrong.length === 0
      ? `all ${under.length} probes: ${label}`
      : `expected ${label}; got ${wrong.map(describe).join(", ")}`,
  );

  // lift: until the home region serves a non-degraded answer
  await recoveryPhase(run, {
    recovered: (p) => ok2xx(p) && !p.degraded && servedByRegion(p) === plan.home,
    acceptable: { check: "probes_2xx_during_recovery", ok: ok2xx },
  });
  return { plan, baseline, under: under.filter(expected) };
}

/** An endpoint id is `role:name@region` (edge/gpu/endpoints.ts). */
const regionOfEndpoint = (id: string): string => id.slice(id.lastIndexOf("@") + 1);

/**
 * The nearest region down: the run's home region (its colo's nearest) refuses; probes are served by the next nearest
 * region in reach, never degraded — or, when no other region is within reach of the colo, answer the light ranking at
 * once (gpu_out_of_reach / gpu_circuit_open, or gpu_unreachable before the breaker opens). The report names the region
 * that took over and the latency it added.
 */
const primaryDown: Scenario = async (run) => {
  const { plan, baseline, under } = await gpuScenario(run, {
    fault: (plan) => ({ gpu: { regions: { [plan.home]: "refuse" } } }),
    faulted: (plan) => [plan.home],
    needOther: true,
    baselineProbes: 3,
    expected: (p, plan) =>
      plan.takeover
        ? !p.degraded && servedByRegion(p) !== undefined && servedByRegion(p) !== plan.home
        : p.degraded && degradedBy(p, "gpu_out_of_reach", "gpu_circuit_open", "gpu_unreachable"),
    expectedLabel: (plan) =>
      plan.takeover
        ? `not degraded, served by a region other than ${plan.home}`
        : `degraded at once (no region but ${plan.home} within reach${plan.colo ? ` of ${plan.colo}` : ""})`,
  });
  const { takeover } = measureTakeover(run, plan, baseline, under);
  if (plan.takeover)
    run.check(
      "takeover_region",
      takeover === plan.takeover,
      `${takeover ?? "no region"} took over from ${plan.home} (expected the next nearest in reach, ${plan.takeover})`,
    );
};

const allDown: Scenario = async (run) => {
  await gpuScenario(run, {
    fault: () => ({ gpu: { primary: "refuse", secondary: "refuse" } }),
    faulted: (plan) => plan.order.map((r) => r.region),
    needOther: false,
    baselineProbes: 1,
    expected: (p) => p.degraded && degradedBy(p, "gpu_unreachable", "gpu_circuit_open"),
    expectedLabel: () => "degraded (light ranking, gpu_unreachable / gpu_circuit_open)",
  });
};

const gpuSlow: Scenario = async (run) => {
  const deadline = Math.max(10, Math.min(run.settings.slowProbeDeadlineMs, config(run.env).search.gpuDeadlineMs));
  const slack = run.settings.targets.deadlineSlackMs;
  const over: string[] = [];
  await gpuScenario(run, {
    fault: () => ({ gpu: { primary: "slow", secondary: "slow" }, deadlineMs: deadline }),
    faulted: (plan) => plan.order.map((r) => r.region),
    needOther: false,
    baselineProbes: 1,
    expected: (p) => {
      const g = gpuResult(p);
      if (g && g.ms > deadline + slack) over.push(`${g.ms} ms`);
      return (
        p.degraded &&
        degradedBy(p, "gpu_timeout", "gpu_circuit_open", "gpu_no_budget", "gpu_out_of_reach") &&
        (!g || g.ms <= deadline + slack)
      );
    },
    expectedLabel: () => `degraded (gpu_timeout / gpu_circuit_open) within ${deadline} + ${slack} ms`,
  });
  run.measurements.probeDeadlineMs = deadline;
  run.check(
    "deadline_bound",
    over.length === 0,
    over.length === 0 ? `every GPU stage ≤ ${deadline + slack} ms` : `over the bound: ${over.join(", ")}`,
  );
};

/** The real D1 binding with its batch() failing: the fault for the one flush the drill makes itself. */
function failingBatch(db: D1Database): D1Database {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === "batch") return () => Promise.reject(new Error("drill: injected D1 failure during metrics flush"));
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

async function drillSamplesSince(db: D1Database, minuteTs: number): Promise<number> {
  const row = await db
    .prepare("SELECT COALESCE(SUM(drill), 0) AS n FROM metrics_requests WHERE res = 60 AND ts >= ?1")
    .bind(minuteTs)
    .first<{ n: number }>();
  return Number(row?.n ?? 0);
}

const metricsFlushFail: Scenario = async (run) => {
  const { targets } = run.settings;
  const sinceTs = Math.floor(run.startedAt / 60_000) * 60;
  // steady state: this isolate's pending metrics flush cleanly
  const first = await flushNow(run.env.DB);
  if (first.failed > 0 || first.pending > 0)
    throw new DrillSkipped(
      `steady state not met: metrics flush failing (${first.lastError ?? `${first.pending} pending`})`,
    );
  const before = await drillSamplesSince(run.env.DB, sinceTs);
  const droppedBefore = collectorState().dropped;
  run.mark("steady_state_ok", { drillSamplesBefore: before });

  // drill-tagged samples: probes recorded by the search route with drill: true
  let sent = 0;
  for (let i = 0; i < 3 || collectorState().pendingSamples === 0; i++) {
    if (i >= 6) break;
    const p = await run.probe("samples", {});
    if (ok2xx(p)) sent += 1;
  }
  run.measurements.drillSamples = sent;

  // inject: the flush's D1 batch fails
  const injectAt = Date.now();
  run.mark("fault_injected", {
    fault: "metrics flush D1 batch fails",
    pendingSamples: collectorState().pendingSamples,
  });
  const failed = await flushNow(failingBatch(run.env.DB));
  const held = collectorState().pendingPayloads;
  if (failed.failed > 0) {
    run.timeToDetectMs = Date.now() - injectAt;
    run.mark("detected", { error: failed.lastError, pendingPayloads: held });
  }
  if (held > 0) {
    run.timeToFailoverMs = Date.now() - injectAt;
    run.mark("failed_over", { via: "payload kept in the isolate's flush buffer", pendingPayloads: held });
  }
  run.check("flush_failure_seen", failed.failed > 0, `flush report ${JSON.stringify(failed)}`);
  run.check("payload_retained", held > 0, `${held} payload(s) held for retry`);

  // lift: the next flush writes the held payload(s)
  const liftAt = Date.now();
  run.mark("fault_lifted");
  let after = await flushNow(run.env.DB);
  while ((after.failed > 0 || after.pending > 0) && Date.now() - liftAt < targets.rtoMs && run.left() > 0) {
    await sleep(200);
    after = await flushNow(run.env.DB);
  }
  if (after.failed === 0 && after.pending === 0) {
    run.timeToRecoverMs = Date.now() - liftAt;
    run.mark("recovered", { applied: after.applied });
  }
  const landed = (await drillSamplesSince(run.env.DB, sinceTs)) - before;
  run.measurements.drillSamplesLanded = landed;
  run.mark("verified", { sent, landed, dropped: collectorState().dropped - droppedBefore });
  run.check(
    "nothing_lost",
    landed === sent && collectorState().dropped === droppedBefore,
    `${landed}/${sent} drill samples in the rollups, ${collectorState().dropped - droppedBefore} payloads dropped`,
  );
  run.check("probes_2xx", run.non2xx === 0, `${run.non2xx} non-2xx probe answers`);
  run.check(
    "rto",
    run.timeToRecoverMs !== null && run.timeToRecoverMs <= targets.rtoMs,
    `${run.timeToRecoverMs ?? "not recovered"} ms (target ≤ ${targets.rtoMs})`,
  );
};

const coldCache: Scenario = async (run) => {
  const { targets } = run.settings;
  const use: FaultSpec = { cache: "use" };
  // steady state: the probe query is served from the cache
  let p = await run.probe("steady", use);
  if (!ok2xx(p) || !p.body?.variant || !p.body.models?.light) {
    throw new DrillSkipped(`steady state not met: probe answered ${describe(p)}`);
  }
  const warmEnd = Date.now() + 3_000;
  while (p.cache !== "HIT" && Date.now() < warmEnd) {
    await sleep(run.settings.probeGapMs);
    p = await run.probe("steady", use);
  }
  if (p.cache !== "HIT")
    throw new DrillSkipped(`steady state not met: the cache does not serve the probe query (${describe(p)})`);
  run.mark("steady_state_ok", { cache: "HIT" });

  // inject: purge the probe query's entry, under the key the search route uses (the rank plan of the probe's variant)
  const store = (await storeSet(run.env)).defaultId; // probes name no store
  const config = await getExperimentConfig(run.env, { store, surface: "search" });
  const variant = config.variants.find((v) => v.name === p.body!.variant);
  if (!variant)
    throw new DrillSkipped(`steady state not met: variant ${p.body!.variant} is not in the experiment config`);
  const key = await searchCacheKey(run.env, store, run.query, PROBE_K, planFor(run.env, config, variant, "search"));
  // let cache writes still in flight from the steady-state probes land first (they would refill the purged entry)
  await sleep(200);
  const cache = (caches as CacheStorage & { default: Cache }).default;
  const injectAt = Date.now();
  const purged = await cache.delete(key);
  run.mark("fault_injected", { fault: "cache purge", purged, key: key.url });
  // the purge is instantaneous: the fault is over at once, recovery (MISS → HIT) is measured from the purge
  run.mark("fault_lifted");
  run.check("purged", purged, purged ? "the probe query's entry was deleted" : `no entry under ${key.url}`);

  let firstMiss: ProbeResult | undefined;
  const misses: ProbeResult[] = [];
  while (Date.now() - injectAt < targets.rtoMs + 1_000 && run.left() > 0) {
    const q = await run.probe("cold", use);
    if (q.cache === "MISS") {
      misses.push(q);
      if (!firstMiss) {
        firstMiss = q;
        run.timeToDetectMs = q.at + q.ms - injectAt;
        run.timeToFailoverMs = q.at + q.ms - injectAt;
        run.mark("detected", { cache: "MISS", servedFromOrigin: ok2xx(q) }, q.at + q.ms);
      }
    } else if (q.cache === "HIT" && firstMiss) {
      run.timeToRecoverMs = q.at + q.ms - injectAt;
      run.mark("recovered", { cache: "HIT" }, q.at + q.ms);
      break;
    }
    await sleep(run.settings.probeGapMs);
  }
  run.measurements.misses = misses.length;
  run.check(
    "cold_miss_seen",
    firstMiss !== undefined,
    firstMiss ? `first probe after the purge: MISS in ${firstMiss.ms} ms` : "no MISS after the purge",
  );
  run.check("probes_2xx", run.non2xx === 0, `${run.non2xx} non-2xx probe answers`);
  run.check(
    "rto",
    run.timeToRecoverMs !== null && run.timeToRecoverMs <= targets.rtoMs,
    `MISS→HIT ${run.timeToRecoverMs ?? "never"} ms (target ≤ ${targets.rtoMs})`,
  );
};

export const SCENARIO_RUNNERS: Record<ScenarioId, Scenario> = {
  primary_down: primaryDown,
  all_down: allDown,
  gpu_slow: gpuSlow,
  metrics_flush_fail: metricsFlushFail,
  cold_cache: coldCache,
  d1_read_down: d1ReadDown,
  recommend_primary_down: primaryDown,
  recommend_all_down: allDown,
  recommend_d1_read_down: d1ReadDown,
};
