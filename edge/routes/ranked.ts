/**
 * The ranking routes' two ends: what a surface's answer needs of the request (rankingRequest), and the HTTP answer
 * of what it served (respondRanked) — typed degraded reasons serialised once, here, into `degraded` /
 * `degradedReason`; Server-Timing stages; `x-vitrine-cache`; the rows D1 read for it; and what the metrics middleware records. An answer this
 * request did not compute (a cache hit, a stale entry, a collapsed follower) counts as a cache HIT and its scores are
 * not counted again.
 */
import type { Context } from "hono";
import { d1Reader, type D1Reader } from "../db/guarded";
import type { AppEnv } from "../env";
import type { CacheStatus, RequestMetricsVariables, ServedRequest } from "../middleware/request-metrics";
import { recordStages } from "../middleware/timing";
import { serialiseDegradedReasons } from "../ranking/degraded";
import type { RankedAnswer, RankingRequest, Served } from "../ranking/request";
import { requestLocation, type GeoTrace } from "../gpu/request-location";
import { refreshFleetRtt } from "../gpu/rtt-store";

export type RankedCtx = Context<AppEnv & { Variables: RequestMetricsVariables }>;

/** Rows D1 read for a request's answer: the `x-vitrine-d1-rows-read` header (edge/db/row-count.ts). */
export const ROWS_READ_HEADER = "x-vitrine-d1-rows-read";
const readers = new WeakMap<RankedCtx, D1Reader>();

export function rankingRequest(c: Context<AppEnv & { Variables: RequestMetricsVariables }>): RankingRequest {
  const synthetic = c.var.synthetic;
  const geo: GeoTrace = { location: requestLocation(c.env, c.req.raw) };
  c.set("geo", geo);
  refreshFleetRtt(c.env, c.executionCtx as ExecutionContext);
  const d1 = d1Reader(c.env, synthetic?.d1);
  readers.set(c, d1);
  return {
    env: c.env,
    ctx: c.executionCtx as ExecutionContext,
    ...(synthetic ? { gpu: synthetic.gpu } : {}),
    useCache: !synthetic?.bypassCache,
    d1,
    geo,
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
  const d1 = readers.get(c);
  if (d1) c.header(ROWS_READ_HEADER, String(d1.rowsRead()));
  const region = c.var.geo?.region;
  if (region) c.header("x-vitrine-gpu-region", region);
  return c.json(wireAnswer(served.answer, c.get("requestId")), 200);
}
