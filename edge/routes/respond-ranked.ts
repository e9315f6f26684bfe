/**
 * Sends a ranked answer (search, rerank, recommend) and tells the metrics middleware what was served. An answer this
 * request did not compute (a cache hit, a stale entry, a collapsed follower) counts as a cache HIT and its scores are
 * not counted again.
 */
import type { Context } from "hono";
import type { CacheOutcome } from "../cache/response-cache";
import type { AppEnv } from "../env";
import type { CacheStatus, RequestMetricsVariables, ServedRequest } from "../middleware/request-metrics";
import type { DegradedReason } from "../search/degraded";
import type { RankPlan } from "../search/rank-plan";

export type RankedCtx = Context<AppEnv & { Variables: RequestMetricsVariables }>;

/** What every ranked answer carries: per item, the light score and the heavy one (null when not heavy-ranked). */
export interface RankedAnswer {
  items: { scores: { light: number; heavy: number | null } }[];
}

export function respondRanked<T extends RankedAnswer>(
  c: RankedCtx,
  plan: RankPlan,
  outcome: CacheOutcome | "BYPASS",
  answer: T,
  degraded: readonly DegradedReason[],
): Response {
  const cache: CacheStatus = outcome === "MISS" || outcome === "BYPASS" ? outcome : "HIT";
  const served: ServedRequest = { plan, cache, degraded };
  if (cache !== "HIT") {
    served.scores = {
      light: answer.items.map((i) => i.scores.light),
      heavy: answer.items.flatMap((i) => (i.scores.heavy === null ? [] : [i.scores.heavy])),
    };
  }
  c.set("served", served);
  c.header("x-vitrine-cache", outcome);
  return c.json({ ...answer, requestId: c.get("requestId") });
}
