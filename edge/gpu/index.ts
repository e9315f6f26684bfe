/**
 * heavyRank: the cascade's single entry to the GPU tier (CONTRACTS.md C5).
 *
 * Primary then secondary endpoint (two regions), each behind its own circuit breaker, all attempts sharing one
 * deadline budget (edge/gpu/resilient.ts). Optional hedging: with GPU_HEDGE_PERCENTILE set (e.g. "95"), the
 * secondary is started when the primary has not answered after that percentile of its recent latencies.
 *
 * Breakers live per isolate. A drill probe (a request carrying a verified drill header, edge/drills/header.ts)
 * gets breakers of its own, scoped to its drill run, so injected faults never open the breakers real traffic uses;
 * its faults (refused / slow endpoint) wrap the invoker of that probe's calls only (GpuDrillScope, built by
 * edge/drills/faults.ts).
 */
import type { Bindings } from "../env";
import { config } from "../config";
import { type BreakerState, type BreakerTransition, CircuitBreaker } from "./breaker";
import { type GpuEndpoint, gpuEndpoints } from "./endpoints";
import { type AttemptEvent, LatencyTracker, rankWithFailover } from "./resilient";
import { recordEvent } from "../metrics/collector";
import { invokeEndpoint, type SageMakerTarget } from "./sagemaker";
import type { GpuCall, HeavyFailureReason, HeavyRankOptions, HeavyRankRequest, HeavyRankResult } from "./types";

export type {
  GpuCall,
  GpuDrillScope,
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

// ---- per-isolate state -------------------------------------------------------------------------------------------

const realBreakers = new Map<string, CircuitBreaker>();
/** drill run id → its own breakers (bounded; released when the drill ends) */
const drillBreakers = new Map<string, Map<string, CircuitBreaker>>();
const MAX_DRILL_SCOPES = 8;
const latency = new LatencyTracker();
const drillListeners = new Map<string, (e: GpuDrillEvent) => void>();
/** recent real-traffic heavyRank outcomes (for the drills' abort condition) */
const realOutcomes: { at: number; ok: boolean }[] = [];
const REAL_OUTCOMES_MAX = 2_000;

export type GpuDrillEvent =
  | {
      type: "attempt";
      at: number;
      endpoint: string;
      role: GpuEndpoint["role"];
      outcome: AttemptEvent["outcome"];
      ms: number;
      hedge: boolean;
      detail?: string;
    }
  | { type: "skip"; at: number; endpoint: string; role: GpuEndpoint["role"]; reason: "circuit_open" | "no_budget" }
  | { type: "breaker"; at: number; endpoint: string; from: BreakerState; to: BreakerState; reason: string }
  | {
      type: "result";
      at: number;
      ok: boolean;
      endpoint?: string;
      reason?: HeavyFailureReason;
      ms: number;
      attempts: number;
    };

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

function drillScope(drillId: string): Map<string, CircuitBreaker> {
  let scope = drillBreakers.get(drillId);
  if (!scope) {
    if (drillBreakers.size >= MAX_DRILL_SCOPES) {
      const oldest = drillBreakers.keys().next().value;
      if (oldest !== undefined) drillBreakers.delete(oldest);
    }
    scope = new Map();
    drillBreakers.set(drillId, scope);
  }
  return scope;
}

// ---- the entry point ---------------------------------------------------------------------------------------------

export async function heavyRank(
  env: Bindings,
  req: HeavyRankRequest,
  opts: HeavyRankOptions,
): Promise<HeavyRankResult> {
  const drill = opts.drill;
  const deadlineMs = drill?.deadlineMs !== undefined ? Math.min(opts.deadlineMs, drill.deadlineMs) : opts.deadlineMs;
  if (deadlineMs <= 0) return { ok: false, reason: "no_budget", ms: 0, attempts: 0 };
  if (!env.AWS_ACCESS_KEY_ID || !env.AWS_SECRET_ACCESS_KEY) {
    return { ok: false, reason: "error", ms: 0, attempts: 0, detail: "AWS credentials are not configured" };
  }
  const listener = drill ? drillListeners.get(drill.id) : undefined;
  const emit = (e: GpuDrillEvent): void => listener?.(e);
  const endpoints = gpuEndpoints(env);
  const scope = drill ? drillScope(drill.id) : realBreakers;
  const onTransition = drill
    ? (t: BreakerTransition) =>
        emit({ type: "breaker", at: t.at, endpoint: t.breaker, from: t.from, to: t.to, reason: t.reason })
    : countTransition;
  const hedgePercentile = drill ? undefined : config(env).gpu.hedgePercentile;

  const invoke: GpuCall = (endpoint, r, signal) => invokeEndpoint(targetOf(env, endpoint), r, signal);
  const call = drill ? drill.wrap(invoke, deadlineMs) : invoke;

  const result = await rankWithFailover(
    {
      endpoints,
      breakerFor: (ep) => breakerIn(scope, env, ep, onTransition),
      call,
      hedgeAfterMs: hedgePercentile !== undefined ? (ep) => latency.percentile(ep.id, hedgePercentile) : undefined,
      onAttempt: (e) => {
        if (!drill && e.outcome === "ok") latency.add(e.endpoint.id, e.ms);
        emit({
          type: "attempt",
          at: Date.now(),
          endpoint: e.endpoint.id,
          role: e.endpoint.role,
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
  if (drill) {
    emit({
      type: "result",
      at: Date.now(),
      ok: result.ok,
      ms: result.ms,
      attempts: result.attempts,
      ...(result.ok ? { endpoint: result.endpoint } : { reason: result.reason }),
    });
  } else {
    realOutcomes.push({ at: Date.now(), ok: result.ok });
    if (realOutcomes.length > REAL_OUTCOMES_MAX) realOutcomes.splice(0, realOutcomes.length - REAL_OUTCOMES_MAX);
  }
  return result;
}

// ---- observation (drills, metrics, dashboard) ------------------------------------------------------------------

/** The drill runner listens to what heavyRank does for its probes; returns the unsubscribe function. */
export function observeDrill(drillId: string, listener: (e: GpuDrillEvent) => void): () => void {
  drillListeners.set(drillId, listener);
  return () => {
    drillListeners.delete(drillId);
    drillBreakers.delete(drillId);
  };
}

/** Real-traffic breaker states in this isolate. */
export function breakerStates(env: Bindings): { endpoint: string; role: GpuEndpoint["role"]; state: BreakerState }[] {
  return gpuEndpoints(env).map((ep) => ({
    endpoint: ep.id,
    role: ep.role,
    state: realBreakers.get(ep.id)?.state ?? "closed",
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
  realBreakers.clear();
  drillBreakers.clear();
  realOutcomes.length = 0;
}
