/**
 * heavyRank: the cascade's single entry to the GPU tier (CONTRACTS.md C5).
 *
 * One endpoint per GPU region (edge/gpu/endpoints.ts), each behind its own circuit breaker, ordered per request by
 * the estimated round trip from the request's edge location (edge/gpu/routing.ts), all attempts sharing one
 * deadline budget split into network and compute (edge/gpu/resilient.ts). Round trips are learned from real
 * traffic's successful calls (call time minus the tier's reported compute time) per (colo, region) in this isolate
 * (edge/gpu/rtt.ts). Optional hedging: with GPU_HEDGE_PERCENTILE set (e.g. "95"), the next region is started when
 * the current one has not answered after that percentile of its recent latencies.
 *
 * Breakers live per isolate. A call with a GpuScope (synthetic traffic, edge/gpu/types.ts) uses the scope's breakers
 * and invoker wrapper and reports to the scope's observer; real traffic (no scope) uses the shared breakers, feeds the
 * hedge latencies and the real-traffic outcome counts, and counts breaker transitions in the metrics rollups.
 */
import type { Bindings } from "../env";
import { config } from "../config";
import { type BreakerState, type BreakerTransition, CircuitBreaker } from "./breaker";
import { type GpuEndpoint, gpuEndpoints } from "./endpoints";
import { LatencyTracker, rankWithFailover } from "./resilient";
import { type RoutePlan, routeRegions } from "./routing";
import { type EdgeLocation, estimateRtt, RttLearner } from "./rtt";
import { fleetRtt } from "./rtt-store";
import { recordEvent, recordRtt } from "../metrics/collector";
import { invokeEndpoint, type SageMakerTarget } from "./sagemaker";
import type { GpuCall, GpuEvent, HeavyRankOptions, HeavyRankRequest, HeavyRankResult } from "./types";

export type {
  GpuCall,
  GpuEvent,
  GpuScope,
  HeavyDoc,
  HeavyRankRequest,
  HeavyRankResult,
  HeavyRankOptions,
  RecommendRankRequest,
} from "./types";

export function targetOf(env: Bindings, endpoint: GpuEndpoint): SageMakerTarget {
  return {
    endpointName: endpoint.name,
    region: endpoint.region,
    endpointUrl: endpoint.url,
    accessKeyId: env.AWS_ACCESS_KEY_ID ?? "",
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? "",
    ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
  };
}

// ---- per-isolate state of real traffic ---------------------------------------------------------------------------

const sharedBreakers = new Map<string, CircuitBreaker>();
const latency = new LatencyTracker();
let rttWindow = 20;
/** learned round trips per (colo, region) of this isolate's real traffic */
export const rttLearner = new RttLearner(() => rttWindow);
/** recent real-traffic heavyRank outcomes (realGpuOutcomesSince) */
const realOutcomes: { at: number; ok: boolean }[] = [];
const REAL_OUTCOMES_MAX = 2_000;

function breakerIn(
  map: Map<string, CircuitBreaker>,
  env: Bindings,
  endpoint: GpuEndpoint,
  onTransition: (t: BreakerTransition) => void,
): CircuitBreaker {
  let b = map.get(endpoint.id);
  if (!b) {
    b = new CircuitBreaker(endpoint.id, config(env).gpu.breaker, Date.now, onTransition);
    map.set(endpoint.id, b);
  }
  return b;
}

function countTransition(t: BreakerTransition): void {
  // real traffic only: counted per minute in the metrics rollups (metrics_events, kind "breaker")
  recordEvent("breaker", `${t.breaker} ${t.from}→${t.to}`);
  console.log(JSON.stringify({ event: "gpu_breaker_transition", ...t }));
}

// ---- the entry point ---------------------------------------------------------------------------------------------

/**
 * The regions a request from `location` tries, in order, with their estimated round trips (edge/gpu/routing.ts):
 * what heavyRank routes by, and what the per-region drill asks for a colo's nearest region (edge/drills/region.ts).
 */
export function routeFor(env: Bindings, location: EdgeLocation): RoutePlan {
  const gpu = config(env).gpu;
  rttWindow = gpu.rttWindow;
  const measured = (colo: string, region: string) => gpu.rttTable.get(`${colo}|${region}`);
  return routeRegions(gpuEndpoints(env), gpu.routing, (region) =>
    estimateRtt(location, region, rttLearner, fleetRtt, measured),
  );
}

export async function heavyRank(
  env: Bindings,
  req: HeavyRankRequest,
  opts: HeavyRankOptions,
): Promise<HeavyRankResult> {
  const { scope } = opts;
  const deadlineMs = scope?.deadlineMs !== undefined ? Math.min(opts.deadlineMs, scope.deadlineMs) : opts.deadlineMs;
  if (deadlineMs <= 0) return { ok: false, reason: "no_budget", ms: 0, attempts: 0 };
  if (!env.AWS_ACCESS_KEY_ID || !env.AWS_SECRET_ACCESS_KEY) {
    return { ok: false, reason: "error", ms: 0, attempts: 0, detail: "AWS credentials are not configured" };
  }
  const emit = (e: GpuEvent): void => scope?.observe?.(e);
  const breakers = scope ? scope.breakers : sharedBreakers;
  const onTransition = scope
    ? (t: BreakerTransition) =>
        emit({ type: "breaker", at: t.at, endpoint: t.breaker, from: t.from, to: t.to, reason: t.reason })
    : countTransition;
  const hedgePercentile = scope ? undefined : config(env).gpu.hedgePercentile;

  const gpu = config(env).gpu;
  const location = opts.geo?.location ?? { colo: "" };
  const route = routeFor(env, location);
  if (opts.geo && route.endpoints[0]) opts.geo.nearest = route.endpoints[0].region;
  const colo = location.colo ? { colo: location.colo } : {};
  const invoke: GpuCall = (endpoint, r, signal) => invokeEndpoint(targetOf(env, endpoint), { ...r, ...colo }, signal);
  const call = scope?.wrap ? scope.wrap(invoke, deadlineMs) : invoke;

  const result = await rankWithFailover(
    {
      endpoints: route.endpoints,
      ...(route.rttMs ? { rttMs: route.rttMs, minComputeMs: gpu.minComputeMs } : {}),
      breakerFor: (ep) => breakerIn(breakers, env, ep, onTransition),
      call,
      hedgeAfterMs: hedgePercentile !== undefined ? (ep) => latency.percentile(ep.id, hedgePercentile) : undefined,
      onAttempt: (e) => {
        if (!scope && e.outcome === "ok") {
          latency.add(e.endpoint.id, e.ms);
          if (location.colo && e.computeMs !== undefined) {
            const rtt = Math.max(0, e.ms - e.computeMs);
            rttLearner.observe(location.colo, e.endpoint.region, rtt);
            recordRtt(location.colo, e.endpoint.region, rtt);
          }
        }
        emit({
          type: "attempt",
          at: Date.now(),
          endpoint: e.endpoint.id,
          role: e.endpoint.role,
          region: e.endpoint.region,
          outcome: e.outcome,
          ms: e.ms,
          hedge: e.hedge,
          ...(e.detail ? { detail: e.detail } : {}),
        });
      },
      onSkip: (ep, reason) => emit({ type: "skip", at: Date.now(), endpoint: ep.id, role: ep.role, reason }),
    },
    req,
    deadlineMs,
  );
  if (scope) {
    emit({
      type: "result",
      at: Date.now(),
      ok: result.ok,
      ms: result.ms,
      attempts: result.attempts,
      ...(result.ok ? { endpoint: result.endpoint, region: result.region } : { reason: result.reason }),
    });
  }
  if (result.ok && opts.geo) opts.geo.region = result.region;
  if (!scope) {
    realOutcomes.push({ at: Date.now(), ok: result.ok });
    if (realOutcomes.length > REAL_OUTCOMES_MAX) realOutcomes.splice(0, realOutcomes.length - REAL_OUTCOMES_MAX);
  }
  return result;
}

// ---- observation of real traffic (health, abort conditions of synthetic traffic) ---------------------------------

/** Real-traffic breaker states in this isolate. */
export function breakerStates(env: Bindings): { endpoint: string; role: GpuEndpoint["role"]; state: BreakerState }[] {
  return gpuEndpoints(env).map((ep) => ({
    endpoint: ep.id,
    role: ep.role,
    state: sharedBreakers.get(ep.id)?.state ?? "closed",
  }));
}

/** Real-traffic heavyRank calls and failures in this isolate since `since` (ms epoch). */
export function realGpuOutcomesSince(since: number): { calls: number; failures: number } {
  let calls = 0;
  let failures = 0;
  for (let i = realOutcomes.length - 1; i >= 0; i--) {
    const o = realOutcomes[i]!;
    if (o.at < since) break;
    calls += 1;
    if (!o.ok) failures += 1;
  }
  return { calls, failures };
}

/** Test hook: forget every breaker and latency sample of this isolate. */
export function resetGpuStateForTests(): void {
  sharedBreakers.clear();
  realOutcomes.length = 0;
  rttLearner.clear();
}
