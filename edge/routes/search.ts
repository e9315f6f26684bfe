/**
 * Public search surface.
 *  GET  /v1/search?q=&k=&user=   FTS5 retrieval → light ONNX → heavy GPU re-rank → top k (cached)
 *  POST /v1/rerank {query, candidates, user?}   the same cascade on exactly the caller's candidates
 *
 * /v1/rerank decisions (documented):
 *  - unknown product ids → 400 `unknown_candidates` listing them (the caller's id set must come back unchanged,
 *    so silently dropping would hide a mismatch);
 *  - duplicate ids are collapsed (the id *set* is what comes back);
 *  - heavy M = max(variant M, list length) capped at 200, so every candidate of a list ≤ 200 gets a heavy score;
 *  - not cached (x-vitrine-cache: BYPASS).
 *
 * Both routes: 400 JSON {error, message, issues} for bad input (zod), sticky experiment variant, Server-Timing
 * stages (retrieval, light, gpu, total), one recordRequest per request (4xx and cache hits included). A request
 * with a verified drill header (edge/drills/header.ts) carries its DrillContext into heavyRank and bypasses the
 * response cache unless the drill asks to use it.
 */
import { zValidator } from "@hono/zod-validator";
import { Hono, type Context } from "hono";
import { z } from "zod";
import { cacheGet, cacheKey, cachePut, cacheTtl } from "../cache/response-cache";
import type { AppEnv } from "../env";
import { assignVariant, unitId } from "../experiments/assign";
import { getExperimentConfig, type Variant } from "../experiments/config";
import { recordRequest } from "../metrics/collector";
import type { RequestSample } from "../metrics/types";
import { invalidRequest, zodHook } from "../middleware/errors";
import { recordStage, since } from "../middleware/timing";
import { DEFAULT_HEAVY_MODEL, DEFAULT_LIGHT_MODEL, LIGHT_MODELS } from "../generated/models";
import { runCascade, type CascadeResult, type RankedItem } from "../search/cascade";
import { matchExpression, type CandidateRow } from "../search/features";
import { fetchCandidates, retrieveCandidates } from "../search/retrieval";
import { RERANK_MAX, config } from "../config";
import { drillBypassesCache, type DrillContext } from "../drills/context";
import { drillContextOf } from "../drills/header";

export const searchQuerySchema = z.object({
  q: z
    .string({ required_error: "q is required" })
    .trim()
    .min(1, "q must not be empty")
    .max(200, "q must be at most 200 characters"),
  k: z.coerce
    .number({ invalid_type_error: "k must be a number" })
    .int("k must be an integer")
    .min(1, "k must be at least 1")
    .max(100, "k must be at most 100")
    .default(20),
  user: z.string().trim().min(1).max(128, "user must be at most 128 characters").optional(),
});

export const rerankBodySchema = z.object({
  query: z
    .string({ required_error: "query is required" })
    .trim()
    .min(1, "query must not be empty")
    .max(200, "query must be at most 200 characters"),
  candidates: z
    .array(z.string().min(1, "candidate ids must not be empty").max(64, "candidate ids are at most 64 characters"), {
      required_error: "candidates is required",
    })
    .min(1, "candidates must hold at least 1 id")
    .max(RERANK_MAX, `candidates must hold at most ${RERANK_MAX} ids`),
  user: z.string().trim().min(1).max(128).optional(),
});

export interface SearchResponseBody {
  items: RankedItem[];
  variant: string;
  experiment: string;
  models: { light: string; heavy: string };
  degraded: boolean;
  degradedReason?: string;
  requestId: string;
}

type Route = "search" | "rerank";

function colo(c: Context<AppEnv>): string {
  const cf = (c.req.raw as { cf?: { colo?: unknown } }).cf;
  return typeof cf?.colo === "string" ? cf.colo : "local";
}

function report(c: Context<AppEnv>, sample: Omit<RequestSample, "colo">): void {
  try {
    recordRequest(c.env, c.executionCtx as ExecutionContext, { ...sample, colo: colo(c) });
  } catch (err) {
    console.error("recordRequest failed", err);
  }
}

/** A variant whose light model is not bundled in this build falls back to the default light model. */
function servableLightModel(v: Variant): string {
  return Object.hasOwn(LIGHT_MODELS, v.lightModel) ? v.lightModel : DEFAULT_LIGHT_MODEL;
}

interface Resolved {
  variant: Variant;
  experimentId: string;
  lightModel: string;
}

/**
 * The caller's variant (sticky) with the models it is served with: an unbundled light model falls back to the
 * default one; an empty heavy model falls back to DEFAULT_HEAVY_MODEL (still empty = the GPU tier's default).
 */
async function resolveVariant(c: Context<AppEnv>, user: string | undefined): Promise<Resolved> {
  const config = await getExperimentConfig(c.env, "search");
  const assigned = await assignVariant(config, await unitId(c, user));
  const variant = assigned.heavyModel ? assigned : { ...assigned, heavyModel: DEFAULT_HEAVY_MODEL };
  return { variant, experimentId: config.experimentId, lightModel: servableLightModel(variant) };
}

function setCacheHeader(c: Context<AppEnv>, v: "HIT" | "MISS" | "BYPASS"): void {
  c.header("x-vitrine-cache", v);
}

/** The light → heavy cascade over `rows` with the variant's models, the top `topM` going to the GPU tier. */
async function cascade(
  c: Context<AppEnv>, r: Resolved, query: string, rows: CandidateRow[], topM: number, drill: DrillContext | undefined, retrievalMs: number,
): Promise<CascadeResult> {
  const result = await runCascade(c.env, {
    query,
    rows,
    lightModel: r.lightModel,
    heavyModel: r.variant.heavyModel,
    ...(r.variant.gpuTargetVariant ? { targetVariant: r.variant.gpuTargetVariant } : {}),
    topM,
    deadlineMs: config(c.env).search.gpuDeadlineMs,
    ...(drill ? { drill } : {}),
  });
  recordStage(c, "retrieval", retrievalMs);
  recordStage(c, "light", result.timings.light);
  recordStage(c, "gpu", result.timings.gpu);
  return result;
}

/** The response body (less requestId, which every response adds) for the returned items. */
function responseBody(r: Resolved, result: CascadeResult, items: RankedItem[]): Omit<SearchResponseBody, "requestId"> {
  return {
    items,
    variant: r.variant.name,
    experiment: r.experimentId,
    models: { light: r.lightModel, heavy: result.heavyModel },
    degraded: result.degraded,
    ...(result.degradedReason ? { degradedReason: result.degradedReason } : {}),
  };
}

/** The metrics sample of a request the cascade served. */
function servedSample(
  route: Route, r: Resolved, result: CascadeResult, items: RankedItem[], cache: "MISS" | "BYPASS", drill: boolean,
  retrievalMs: number, started: number,
): Omit<RequestSample, "colo"> {
  return {
    route,
    variant: r.variant.name,
    lightModel: r.lightModel,
    heavyModel: r.variant.heavyModel,
    status: 200,
    cache,
    ...(drill ? { drill: true } : {}),
    ...(result.degradedReason ? { degradedReason: result.degradedReason } : {}),
    stages: { retrieval: retrievalMs, light: result.timings.light, gpu: result.timings.gpu, total: since(started) },
    scores: { light: items.map((i) => i.scores.light), heavy: items.flatMap((i) => (i.scores.heavy === null ? [] : [i.scores.heavy])) },
  };
}

/** The metrics sample of a request rejected with a 400 (before any variant was assigned). */
function rejectedSample(route: Route, started: number, retrievalMs?: number): Omit<RequestSample, "colo"> {
  return {
    route, variant: "none", lightModel: "none", heavyModel: "none", status: 400, cache: "BYPASS",
    stages: { ...(retrievalMs !== undefined ? { retrieval: retrievalMs } : {}), total: since(started) },
  };
}

/** Validation failures of this surface still count in the metrics (status 400). */
function badRequest(route: Route, started: number) {
  return (result: Parameters<typeof zodHook>[0], ctx: Context) => {
    const c = ctx as unknown as Context<AppEnv>;
    const res = zodHook(result, ctx);
    if (res) report(c, rejectedSample(route, started));
    return res;
  };
}

export const search = new Hono<AppEnv>();

search.get("/search", zValidator("query", searchQuerySchema, (result, c) => badRequest("search", performance.now())(result, c)), async (c) => {
  const started = performance.now();
  const { q, k, user } = c.req.valid("query");
  const match = matchExpression(q);
  if (!match) {
    report(c, rejectedSample("search", started));
    return invalidRequest(c, "q has no searchable words", [{ path: "q", message: "q has no searchable words", code: "custom" }]);
  }
  const resolved = await resolveVariant(c, user);
  const { variant, experimentId, lightModel } = resolved;
  // failover drills: a verified drill header (edge/drills/header.ts) tags the probe and carries its injected faults
  const drill = await drillContextOf(c.env, c.req.raw);
  const bypassCache = drillBypassesCache(drill);
  const base = { route: "search", variant: variant.name, lightModel, heavyModel: variant.heavyModel, ...(drill ? { drill: true } : {}) };
  const key = cacheKey({ route: "search", query: q, k, experimentId, variant: variant.name, lightModel, heavyModel: variant.heavyModel });

  const cached = bypassCache ? undefined : await cacheGet<Omit<SearchResponseBody, "requestId">>(key);
  if (cached) {
    setCacheHeader(c, "HIT");
    report(c, { ...base, status: 200, cache: "HIT", ...(cached.degradedReason ? { degradedReason: cached.degradedReason } : {}), stages: { total: since(started) } });
    return c.json({ ...cached, requestId: c.get("requestId") } satisfies SearchResponseBody);
  }

  const settings = config(c.env).search;
  const t0 = performance.now();
  const rows = await retrieveCandidates(c.env.DB, match, settings.retrievalN);
  const retrievalMs = since(t0);
  const result = await cascade(c, resolved, q, rows, variant.topM ?? settings.lightTopM, drill, retrievalMs);

  const items = result.items.slice(0, k);
  const payload = responseBody(resolved, result, items);
  const cache = bypassCache ? "BYPASS" : "MISS";
  if (!bypassCache) cachePut(c.executionCtx as ExecutionContext, key, payload, cacheTtl(c.env, result.degraded));
  setCacheHeader(c, cache);
  report(c, servedSample("search", resolved, result, items, cache, drill !== undefined, retrievalMs, started));
  return c.json({ ...payload, requestId: c.get("requestId") } satisfies SearchResponseBody);
});

search.post("/rerank", zValidator("json", rerankBodySchema, (result, c) => badRequest("rerank", performance.now())(result, c)), async (c) => {
  const started = performance.now();
  const { query, candidates, user } = c.req.valid("json");
  const ids = [...new Set(candidates)];
  setCacheHeader(c, "BYPASS");
  const match = matchExpression(query);
  if (!match) {
    report(c, rejectedSample("rerank", started));
    return invalidRequest(c, "query has no searchable words", [{ path: "query", message: "query has no searchable words", code: "custom" }]);
  }
  const t0 = performance.now();
  const rows = await fetchCandidates(c.env.DB, match, ids);
  const retrievalMs = since(t0);
  if (rows.length !== ids.length) {
    const known = new Set(rows.map((r) => String(r.id)));
    const unknown = ids.filter((id) => !known.has(id));
    report(c, rejectedSample("rerank", started, retrievalMs));
    return c.json(
      {
        error: "unknown_candidates",
        message: `${unknown.length} candidate id(s) are not in the catalog`,
        issues: unknown.map((id) => ({ path: "candidates", message: `unknown product id ${id}`, code: "unknown_id" })),
        unknown,
        requestId: c.get("requestId"),
      },
      400,
    );
  }
  // keep the caller's order as the retrieval order (ties in light score keep it)
  const position = new Map(ids.map((id, i) => [id, i]));
  rows.sort((a, b) => position.get(String(a.id))! - position.get(String(b.id))!);

  const resolved = await resolveVariant(c, user);
  const m = Math.min(RERANK_MAX, Math.max(resolved.variant.topM ?? config(c.env).search.lightTopM, ids.length));
  const drill = await drillContextOf(c.env, c.req.raw);
  const result = await cascade(c, resolved, query, rows, m, drill, retrievalMs);
  report(c, servedSample("rerank", resolved, result, result.items, "BYPASS", drill !== undefined, retrievalMs, started));
  return c.json({ ...responseBody(resolved, result, result.items), requestId: c.get("requestId") } satisfies SearchResponseBody);
});
