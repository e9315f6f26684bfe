/** Boundary types between the edge cascade and the GPU tier (CONTRACTS.md C5). */
import type { BreakerState, CircuitBreaker } from "./breaker";
import type { GpuEndpoint } from "./endpoints";
import type { AttemptOutcome, GpuOutcome } from "./outcome";
import type { GeoTrace } from "./request-location";

/** One document sent to the heavy re-ranker (CONTRACTS.md C4 request document). Long text fields are truncated by the caller. */
export interface HeavyDoc {
  id: string;
  title: string;
  brand?: string;
  color?: string;
  bullets?: string;
  description?: string;
}

/** A search re-rank: the query and the light top M documents (CONTRACTS.md C4; `task` absent = "search"). */
export interface SearchRankRequest {
  task?: "search";
  query: string;
  documents: HeavyDoc[];
  /** heavy model version (sent as CustomAttributes "model=<version>" and in the body) */
  model: string;
  /** SageMaker production variant to pin (TargetVariant); undefined = let the endpoint route */
  targetVariant?: string;
  /**
   * what is left of this attempt's budget when it is sent (ms; set by the failover loop per attempt), sent as
   * CustomAttributes "deadline-ms=<ms>" so the tier's admission control can refuse (503) or drop work that would
   * answer too late (CONTRACTS.md C4)
   */
  deadlineMs?: number;
  /** the edge location (colo) the request entered at, sent as CustomAttributes "colo=<IATA>" (logs, the global bench) */
  colo?: string;
}

/** One purchase of the user's sequence: item id and day (days since 1970-01-01, fractional). */
export interface RecommendEvent {
  id: string;
  ts: number;
}

/** A recommendation re-rank (CONTRACTS.md C5b): the user's purchase sequence and the light top M item ids. */
export interface RecommendRankRequest {
  task: "recommend";
  store: string;
  sequence: RecommendEvent[];
  candidates: string[];
  /** the request time in days since 1970-01-01 (the recs model version's clock) */
  now?: number;
  /** recs-heavy model version ("" = the GPU tier's default) */
  model: string;
  targetVariant?: string;
  /** as SearchRankRequest.deadlineMs */
  deadlineMs?: number;
  /** as SearchRankRequest.colo */
  colo?: string;
}

/** What heavyRank carries to the GPU tier: one score comes back per document / candidate, in request order. */
export type HeavyRankRequest = SearchRankRequest | RecommendRankRequest;

/** The ids the GPU tier scores, in request order. */
export function scoredIds(req: HeavyRankRequest): string[] {
  return req.task === "recommend" ? req.candidates : req.documents.map((d) => d.id);
}

export const HEAVY_FAILURE_REASONS = [
  "timeout",
  "unreachable",
  "overloaded",
  "error",
  "circuit_open",
  "no_budget",
  "out_of_reach",
] as const;
export type HeavyFailureReason = (typeof HEAVY_FAILURE_REASONS)[number];

export type HeavyRankResult =
  | { ok: true; scores: number[]; model: string; endpoint: string; region: string; ms: number; attempts: number }
  | { ok: false; reason: HeavyFailureReason; ms: number; attempts: number; detail?: string };

/** Why the failover loop did not call an endpoint (edge/gpu/resilient.ts). */
export type SkipReason = "circuit_open" | "no_budget" | "out_of_reach";

/** One call to one endpoint (the SageMaker invoker, or a wrapper around it); must answer promptly once `signal` aborts. */
export type GpuCall = (endpoint: GpuEndpoint, req: HeavyRankRequest, signal: AbortSignal) => Promise<GpuOutcome>;

/** One thing a scoped call did, for the scope's observer: an attempt, a skipped endpoint, a breaker transition, the result. */
export type GpuEvent =
  | {
      type: "attempt";
      at: number;
      endpoint: string;
      role: GpuEndpoint["role"];
      /** the endpoint's GPU region */
      region: string;
      outcome: AttemptOutcome;
      ms: number;
      hedge: boolean;
      detail?: string;
    }
  | { type: "skip"; at: number; endpoint: string; role: GpuEndpoint["role"]; reason: SkipReason }
  | { type: "breaker"; at: number; endpoint: string; from: BreakerState; to: BreakerState; reason: string }
  | {
      type: "result";
      at: number;
      ok: boolean;
      endpoint?: string;
      /** the region that answered (ok only) */
      region?: string;
      reason?: HeavyFailureReason;
      ms: number;
      attempts: number;
    };

/**
 * Whose breakers a call uses and who hears about it. Real traffic uses the isolate's shared breakers (no scope);
 * synthetic traffic brings a scope of its own (built by its owner, e.g. the failover drills), so what it does —
 * injected faults included — never opens a breaker real traffic uses, never feeds the hedge latencies and never
 * counts in the real-traffic outcomes. A scoped call does not hedge.
 */
export interface GpuScope {
  /** the scope's breakers by endpoint id: created here on first use, discarded with the scope by its owner */
  breakers: Map<string, CircuitBreaker>;
  /** caps the deadline budget of the call */
  deadlineMs?: number;
  /** wraps the invoker of this call (e.g. injected faults around the real SageMaker call) */
  wrap?: (invoke: GpuCall, deadlineMs: number) => GpuCall;
  /** hears every attempt, skip, breaker transition and result of the scope's calls */
  observe?: (e: GpuEvent) => void;
}

export interface HeavyRankOptions {
  deadlineMs: number;
  /**
   * where the request entered the edge, which orders the regions (edge/gpu/routing.ts); filled with the nearest
   * region and the region that answered. undefined = unknown location
   */
  geo?: GeoTrace;
  /** undefined: real traffic, the isolate's shared breakers */
  scope?: GpuScope;
}
