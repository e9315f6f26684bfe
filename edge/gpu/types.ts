/** Boundary types between the edge cascade and the GPU tier (CONTRACTS.md C5). */

/** One document sent to the heavy re-ranker (CONTRACTS.md C4 request document). Long text fields are truncated by the caller. */
export interface HeavyDoc {
  id: string;
  title: string;
  brand?: string;
  color?: string;
  bullets?: string;
  description?: string;
}

export interface HeavyRankRequest {
  query: string;
  documents: HeavyDoc[];
  /** heavy model version (sent as CustomAttributes "model=<version>" and in the body) */
  model: string;
  /** SageMaker production variant to pin (TargetVariant); undefined = let the endpoint route */
  targetVariant?: string;
}

export type HeavyFailureReason = "timeout" | "unreachable" | "error" | "circuit_open" | "no_budget";

export type HeavyRankResult =
  | { ok: true; scores: number[]; model: string; endpoint: string; ms: number; attempts: number }
  | { ok: false; reason: HeavyFailureReason; ms: number; attempts: number; detail?: string };

/**
 * A failover drill in progress (fault injection). Its shape belongs to edge/drills/; the cascade only passes it
 * through to heavyRank.
 */
export interface DrillContext {
  id: string;
  [key: string]: unknown;
}

export interface HeavyRankOptions {
  deadlineMs: number;
  drill?: DrillContext;
}
