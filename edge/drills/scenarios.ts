/**
 * The drill scenarios. Every fault is injected only into the drill's own signed probes (or, for the metrics flush,
 * into the one flush call the drill makes itself); real traffic keeps its endpoints, breakers, cache and D1.
 *
 *  primary_down        primary refuses connections → probes fail over to the secondary (never degraded);
 *                      detect = primary breaker opens; recover = primary serves again after the fault is lifted
 *  all_down            every endpoint refuses → probes answer 2xx with the light ranking (degraded)
 *  gpu_slow            every endpoint answers later than the deadline → degraded 2xx within deadline + 50 ms
 *  metrics_flush_fail  the D1 batch of a metrics flush fails → the payload stays buffered; after the fault is lifted
 *                      the next flush lands it and every drill-tagged sample is in the rollups (nothing lost)
 *  cold_cache          the probe query's cache entry is purged → MISS → HIT again (recovery time)
 */
import { storeSet } from "../stores/resolve";
import { config } from "../config";
import type { EndpointRole } from "../gpu/endpoints";
import { gpuEndpoints } from "../gpu/endpoints";
import { collectorState, flushNow } from "../metrics/collector";
import type { FaultSpec, ScenarioId } from "./context";
import { getExperimentConfig } from "../experiments/config";
import { serialiseDegradedReasons, type DegradedReason } from "../ranking/degraded";
import { planFor } from "../ranking/plan";
import { searchCacheKey } from "../search/answer";
import { gpuResult, PROBE_K, type ProbeResult, servedBy, sleep } from "./probe";
import { type DrillRun, DrillSkipped } from "./run";

type Scenario = (run: DrillRun) => Promise<void>;

const ok2xx = (p: ProbeResult): boolean => p.status >= 200 && p.status <= 299;

/** Whether one of the probe's degraded reasons is among `reasons`. */
const degradedBy = (p: ProbeResult, ...reasons: DegradedReason[]): boolean =>
  p.degradedReasons.some((r) => reasons.includes(r));

function describe(p: ProbeResult): string {
  const g = gpuResult(p);
  const reason = serialiseDegradedReasons(p.degradedReasons);
  return `${p.status} degraded=${p.degraded}${reason ? `(${reason})` : ""} cache=${p.cache ?? "-"} gpu=${g ? (g.ok ? `ok@${g.endpoint}` : g.reason) : "none"}`;
}

/** Steady state for GPU scenarios: a fault-free probe is answered 2xx, not degraded, by the primary. */
async function gpuSteadyState(run: DrillRun, needSecondary: boolean): Promise<void> {
  const endpoints = gpuEndpoints(run.env);
  if (needSecondary && endpoints.length < 2) throw new DrillSkipped("no secondary GPU endpoint is configured");
  const p = await run.probe("steady", {});
  if (!ok2xx(p)) throw new DrillSkipped(`steady state not met: probe answered ${describe(p)}`);
  if (!gpuResult(p)) throw new DrillSkipped(`steady state not met: the probe query "${run.query}" made no GPU call`);
  if (p.degraded || servedBy(p) !== "primary") throw new DrillSkipped(`steady state not met: ${describe(p)}`);
  run.mark("steady_state_ok", { endpoints: endpoints.map((e) => e.id) });
}

interface GpuScenarioSpec {
  fault: FaultSpec;
  faulted: EndpointRole[];
  needSecondary: boolean;
  /** the answer a probe must get while the fault is on (correct failover / degraded flags) */
  expected: (p: ProbeResult) => boolean;
  expectedLabel: string;
}

async function gpuScenario(run: DrillRun, spec: GpuScenarioSpec): Promise<void> {
  const { targets } = run.settings;
  await gpuSteadyState(run, spec.needSecondary);
  const faultedIds = new Set(
    gpuEndpoints(run.env)
      .filter((e) => spec.faulted.includes(e.role))
      .map((e) => e.id),
  );

  // inject: until the fault is detected (a faulted endpoint's breaker opens) and the fallback has served 2 probes
  const injectAt = Date.now();
  run.mark("fault_injected", { fault: spec.fault });
  const under: ProbeResult[] = [];
  let afterDetect = 0;
  const phaseEnd = injectAt + Math.max(targets.detectMs, targets.failoverMs) + 1_000;
  while (Date.now() < phaseEnd && run.left() > targets.rtoMs / 2) {
    const p = await run.probe("fault", spec.fault);
    under.push(p);
    if (run.timeToDetectMs === null) {
      const opened = p.gpu.find((e) => e.type === "breaker" && e.to === "open" && faultedIds.has(e.endpoint));
      if (opened) {
        run.timeToDetectMs = opened.at - injectAt;
        run.mark("detected", { endpoint: opened.type === "breaker" ? opened.endpoint : undefined }, opened.at);
      }
    } else {
      afterDetect += 1;
    }
    if (run.timeToFailoverMs === null && ok2xx(p) && spec.expected(p)) {
      run.timeToFailoverMs = p.at + p.ms - injectAt;
      run.mark("failed_over", { via: spec.expectedLabel }, p.at + p.ms);
    }
    if (run.timeToDetectMs !== null && run.timeToFailoverMs !== null && afterDetect >= 2) break;
    await sleep(run.settings.probeGapMs);
  }
  const wrong = under.filter((p) => !(ok2xx(p) && spec.expected(p)));
  run.check(
    "probes_2xx_under_fault",
    under.every(ok2xx),
    `${under.filter(ok2xx).length}/${under.length} probes answered 2xx`,
  );
  run.check(
    "flags_under_fault",
    wrong.length === 0,
    wrong.length === 0
      ? `all ${under.length} probes: ${spec.expectedLabel}`
      : `expected ${spec.expectedLabel}; got ${wrong.map(describe).join(", ")}`,
  );
  run.check(
    "time_to_detect",
    run.timeToDetectMs !== null && run.timeToDetectMs <= targets.detectMs,
    `${run.timeToDetectMs ?? "never"} ms (target ≤ ${targets.detectMs})`,
  );
  run.check(
    "time_to_failover",
    run.timeToFailoverMs !== null && run.timeToFailoverMs <= targets.failoverMs,
    `${run.timeToFailoverMs ?? "never"} ms (target ≤ ${targets.failoverMs})`,
  );

  // lift: fault-free probes (same run, so the same drill breakers) until the primary serves a non-degraded answer
  const liftAt = Date.now();
  run.mark("fault_lifted");
  const after: ProbeResult[] = [];
  while (Date.now() - liftAt < targets.rtoMs + 1_000 && run.left() > 0) {
    const p = await run.probe("recovery", {});
    after.push(p);
    if (ok2xx(p) && !p.degraded && servedBy(p) === "primary") {
      run.timeToRecoverMs = p.at + p.ms - liftAt;
      run.mark("recovered", {}, p.at + p.ms);
      break;
    }
    await sleep(run.settings.probeGapMs);
  }
  run.check(
    "probes_2xx_during_recovery",
    after.every(ok2xx),
    `${after.filter(ok2xx).length}/${after.length} probes answered 2xx`,
  );
  run.check(
    "rto",
    run.timeToRecoverMs !== null && run.timeToRecoverMs <= targets.rtoMs,
    `${run.timeToRecoverMs ?? "not recovered"} ms (target ≤ ${targets.rtoMs})`,
  );
  run.measurements.probesUnderFault = under.length;
  run.measurements.probesDuringRecovery = after.length;
}

const primaryDown: Scenario = (run) =>
  gpuScenario(run, {
    fault: { gpu: { primary: "refuse" } },
    faulted: ["primary"],
    needSecondary: true,
    expected: (p) => !p.degraded && servedBy(p) === "secondary",
    expectedLabel: "not degraded, served by the secondary",
  });

const allDown: Scenario = (run) =>
  gpuScenario(run, {
    fault: { gpu: { primary: "refuse", secondary: "refuse" } },
    faulted: ["primary", "secondary"],
    needSecondary: false,
    expected: (p) => p.degraded && degradedBy(p, "gpu_unreachable", "gpu_circuit_open"),
    expectedLabel: "degraded (light ranking, gpu_unreachable / gpu_circuit_open)",
  });

const gpuSlow: Scenario = async (run) => {
  const deadline = Math.max(10, Math.min(run.settings.slowProbeDeadlineMs, config(run.env).search.gpuDeadlineMs));
  const slack = run.settings.targets.deadlineSlackMs;
  const over: string[] = [];
  await gpuScenario(run, {
    fault: { gpu: { primary: "slow", secondary: "slow" }, deadlineMs: deadline },
    faulted: ["primary", "secondary"],
    needSecondary: false,
    expected: (p) => {
      const g = gpuResult(p);
      if (g && g.ms > deadline + slack) over.push(`${g.ms} ms`);
      return (
        p.degraded &&
        degradedBy(p, "gpu_timeout", "gpu_circuit_open", "gpu_no_budget") &&
        (!g || g.ms <= deadline + slack)
      );
    },
    expectedLabel: `degraded (gpu_timeout / gpu_circuit_open) within ${deadline} + ${slack} ms`,
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
};
