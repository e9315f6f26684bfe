/**
 * What a surface's answer (edge/search/answer.ts, edge/recs/answer.ts) needs of the request it serves, and what it
 * gives back: the answer with its typed degraded reasons, the plan it was ranked under, how the response cache
 * served it and the stage times this request spent. The route turns that into the HTTP answer
 * (edge/routes/ranked.ts); the domain never calls back into the route.
 */
import type { CacheOutcome } from "../cache/response-cache";
import type { D1Reader } from "../db/guarded";
import type { Bindings } from "../env";
import type { GeoTrace } from "../gpu/request-location";
import type { GpuScope } from "../gpu/types";
import type { DegradedReason } from "./degraded";
import type { RankPlan } from "./plan";

export interface RankingRequest {
  env: Bindings;
  /** background work of the response cache (writes, stale-while-revalidate refreshes, a collapsed leader) */
  ctx: ExecutionContext;
  /** the GPU scope of synthetic traffic (a failover-drill probe); undefined: real traffic */
  gpu?: GpuScope;
  /** false: neither read nor write the response cache */
  useCache: boolean;
  /** the request's D1 reads: one session, deadline and breaker (a drill probe: its run's breaker and fault) */
  d1: D1Reader;
  /** the request's edge location, and the GPU region that answered (filled by the GPU stage) */
  geo?: GeoTrace;
}

export type Stage = "retrieval" | "light" | "gpu";
export type StageTimings = Partial<Record<Stage, number>>;

/** What every ranked answer carries: per item the light and heavy scores, and why it is degraded (empty: not). */
export interface RankedAnswer {
  items: { scores: { light: number; heavy: number | null } }[];
  degradedReasons: DegradedReason[];
}

export interface Served<A extends RankedAnswer> {
  plan: RankPlan;
  answer: A;
  /** how the response cache served it; BYPASS: not cached (personalised, a probe, a caller's list) */
  cache: CacheOutcome | "BYPASS";
  /** the stages this request ran (none for an answer it did not compute) */
  stages: StageTimings;
}

/** Milliseconds since `start` (performance.now based). */
export function since(start: number): number {
  return performance.now() - start;
}
