/**
 * The ranking routes' two ends: what a surface's answer needs of the request (rankingRequest), and the HTTP answer
 * of what it served (respondRanked) — typed degraded reasons serialised once, here, into `degraded` /
 * `degradedReason`; Server-Timing stages; `x-vitrine-cache`; and what the metrics middleware records. An answer this
 * request did not compute (a cache hit, a stale entry, a collapsed follower) counts as a cache HIT and its scores are
 * not counted again.
 */
import type { Context } from "hono";
import type { AppEnv } from "../env";
import type { CacheStatus, RequestMetricsVariables, ServedRequest } from "../middleware/request-metrics";
import { recordStages } from "../middleware/timing";
import { serialiseDegradedReasons } from "../ranking/degraded";
import type { RankedAnswer, RankingRequest, Served } from "../ranking/request";

export type RankedCtx = Context<AppEnv & { Variables: RequestMetricsVariables }>;

export function rankingRequest(c: Context<AppEnv>): RankingRequest {
  const synthetic = c.var.synthetic;
  return {
    env: c.env,
    ctx: c.executionCtx as ExecutionContext,
    ...(synthetic ? { gpu: synthetic.gpu } : {}),
    useCache: !synthetic?.bypassCache,
  };
}

/** The answer on the wire: its degraded reasons as `degraded` + `degradedReason`, and the request id. */
export type WireAnswer<A extends RankedAnswer> = Omit<A, "degradedReasons"> & {
  degraded: boolean;
  degradedReason?: string;
  requestId: string;
};

export function wireAnswer<A extends RankedAnswer>(answer: A, requestId: string): WireAnswer<A> {
  const { degradedReasons, ...rest } = answer;
  const degradedReason = serialiseDegradedReasons(degradedReasons);
  return { ...rest, degraded: degradedReasons.length > 0, ...(degradedReason ? { degradedReason } : {}), requestId };
}

export function respondRanked<A extends RankedAnswer>(c: RankedCtx, served: Served<A>) {
  recordStages(c, served.stages);
  const cache: CacheStatus = served.cache === "MISS" || served.cache === "BYPASS" ? served.cache : "HIT";
  const metrics: ServedRequest = { plan: served.plan, cache, degraded: served.answer.degradedReasons };
  if (cache !== "HIT") {
    const items = served.answer.items;
    metrics.scores = {
      light: items.map((i) => i.scores.light),
      heavy: items.flatMap((i) => (i.scores.heavy === null ? [] : [i.scores.heavy])),
    };
  }
  c.set("served", metrics);
  c.header("x-vitrine-cache", served.cache);
  return c.json(wireAnswer(served.answer, c.get("requestId")), 200);
}
