/**
 * One metrics sample per request (edge/metrics/collector.ts), recorded after the handler answered — 4xx, cache hits
 * and synthetic probes included. The handler says what it served through typed Context variables: `c.var.served`
 * (the rank plan, cache status, degraded reasons, scores; set by edge/routes/ranked.ts) and `c.var.stages`
 * (recordStage, edge/middleware/timing.ts); a
 * request without `served` (rejected before it was ranked) counts under variant and models "none". The sample's store
 * is the one the handler resolved (`c.var.store`, edge/stores/resolve.ts: search, rerank and recommend); a request
 * that resolved none — bad input, an unknown store — counts under the default store, so a caller cannot mint rollup
 * keys with made-up store names.
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";
import { recordRequest } from "../metrics/collector";
import type { RequestSample } from "../metrics/types";
import { serialiseDegradedReasons, type DegradedReason } from "../ranking/degraded";
import type { RankPlan } from "../ranking/plan";
import { since } from "../ranking/request";
import { defaultStore, type StoreVariables } from "../stores/resolve";
import type { StageVariables } from "./timing";
import { requestLocation, type GeoTrace } from "../gpu/request-location";

export type CacheStatus = RequestSample["cache"];

/** What a ranking handler served. */
export interface ServedRequest {
  plan: RankPlan;
  cache: CacheStatus;
  /** why the answer is degraded (none: not degraded) */
  degraded: readonly DegradedReason[];
  /** the returned items' light and heavy scores (for the score-drift rollups); absent on a cache hit */
  scores?: { light: number[]; heavy: number[] };
}

export interface RequestMetricsVariables extends StageVariables, StoreVariables {
  served?: ServedRequest;
  /** a ranking request's edge location and the GPU region that answered it (edge/gpu/request-location.ts) */
  geo?: GeoTrace;
}

type MetricsEnv = AppEnv & { Variables: RequestMetricsVariables };

function colo(c: Context<MetricsEnv>): string {
  return c.var.geo?.location.colo || requestLocation(c.env, c.req.raw).colo || "local";
}

function sampleOf(c: Context<MetricsEnv>, route: string, totalMs: number): RequestSample {
  const served = c.var.served;
  const base = {
    route,
    colo: colo(c),
    store: c.var.store ?? defaultStore(),
    status: c.res.status,
    ...(c.var.synthetic?.kind === "drill" ? { drill: true } : {}),
  };
  const stages = { ...c.var.stages, total: totalMs };
  if (!served) return { ...base, variant: "none", lightModel: "none", heavyModel: "none", cache: "BYPASS", stages };
  const degradedReason = serialiseDegradedReasons(served.degraded);
  return {
    ...base,
    variant: served.plan.variant,
    lightModel: served.plan.lightModel,
    heavyModel: served.plan.heavyModel,
    cache: served.cache,
    ...(degradedReason ? { degradedReason } : {}),
    stages,
    ...(served.scores ? { scores: served.scores } : {}),
    ...(c.var.geo?.nearest
      ? { geo: { nearest: c.var.geo.nearest, ...(c.var.geo.region ? { servedBy: c.var.geo.region } : {}) } }
      : {}),
  };
}

/** Records the request's sample under `route` once the handler (and everything after this middleware) answered. */
export function requestMetrics(route: string) {
  return createMiddleware<MetricsEnv>(async (c, next) => {
    const started = performance.now();
    await next();
    try {
      recordRequest(c.env, c.executionCtx as ExecutionContext, sampleOf(c, route, since(started)));
    } catch (err) {
      console.error("recordRequest failed", err);
    }
  });
}
