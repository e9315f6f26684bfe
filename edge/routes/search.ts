/**
 * Public search surface.
 *  GET  /v1/search?q=&k=&user=&store=   FTS5 retrieval in the store → light ONNX → heavy GPU re-rank → top k (cached;
 *                                concurrent misses collapsed into one cascade, stale-while-revalidate:
 *                                edge/cache/response-cache.ts)
 *  POST /v1/rerank {query, candidates, user?, store?}   the same cascade on exactly the caller's candidates
 * `store` defaults to the default store (esci); an unknown store is a 404 `unknown_store`. Both routes rank under
 * the store's search experiment and count their metrics under the store.
 *
 * /v1/rerank decisions (documented):
 *  - product ids that are not the store's (unknown, or another store's) → 400 `unknown_candidates` listing them (the
 *    caller's id set must come back unchanged, so silently dropping would hide a mismatch);
 *  - duplicate ids are collapsed (the id *set* is what comes back);
 *  - heavy M = max(variant M, list length) capped at 200, so every candidate of a list ≤ 200 gets a heavy score
 *    (the rank plan's rule for caller-supplied candidates);
 *  - not cached (x-vitrine-cache: BYPASS).
 *
 * Both routes: 400 JSON {error, message, issues} for bad input (zod schemas: edge/routes/search-contract.ts), one
 * rank plan per request (sticky experiment variant, models, sizes, deadline: edge/search/rank-plan.ts),
 * Server-Timing stages (retrieval, light, gpu, total).
 * Middleware records one metrics sample per request (edge/middleware/request-metrics.ts) and detects drill probes
 * (edge/middleware/drill-probe.ts): a probe carries its faults into the GPU stage and bypasses the response cache
 * unless the drill asks to use it.
 */
import { zValidator } from "@hono/zod-validator";
import { Hono } from "hono";
import { cachedAnswer, responseCacheKey } from "../cache/response-cache";
import type { AppEnv } from "../env";
import { unitId } from "../experiments/assign";
import { drillProbe } from "../middleware/drill-probe";
import { invalidRequest, zodHook } from "../middleware/errors";
import { requestMetrics } from "../middleware/request-metrics";
import { recordStage, since } from "../middleware/timing";
import { runCascade, type CascadeResult, type RankedItem } from "../search/cascade";
import { parseDegradedReasons, serialiseDegradedReasons } from "../search/degraded";
import { matchExpression, type CandidateRow } from "../search/features";
import { resolveRankPlan, type RankPlan } from "../search/rank-plan";
import { respondRanked, type RankedCtx } from "./respond-ranked";
import { fetchCandidates, retrieveCandidates } from "../search/retrieval";
import { requestStore, unknownStore } from "../stores/resolve";
import { rerankBodySchema, searchQuerySchema, type Answer } from "./search-contract";

type Ctx = RankedCtx;

function noSearchableWords(c: Ctx, field: string): Response {
  const message = `${field} has no searchable words`;
  return invalidRequest(c, message, [{ path: field, message, code: "custom" }]);
}

/** Runs the cascade under the plan; its stage times go to Server-Timing and the metrics sample. */
async function rank(c: Ctx, plan: RankPlan, query: string, rows: CandidateRow[]): Promise<CascadeResult> {
  const result = await runCascade(c.env, plan, { query, rows, ...(c.var.drill ? { drill: c.var.drill.gpu } : {}) });
  recordStage(c, "light", result.timings.light);
  recordStage(c, "gpu", result.timings.gpu);
  return result;
}

function answerOf(plan: RankPlan, result: CascadeResult, items: RankedItem[]): Answer {
  const degradedReason = serialiseDegradedReasons(result.degradedReasons);
  return {
    items,
    variant: plan.variant,
    experiment: plan.experimentId,
    models: { light: plan.lightModel, heavy: result.heavyModel },
    degraded: result.degradedReasons.length > 0,
    ...(degradedReason ? { degradedReason } : {}),
  };
}

export const search = new Hono<AppEnv>();

search.get(
  "/search",
  requestMetrics("search"),
  drillProbe,
  zValidator("query", searchQuerySchema, zodHook),
  async (c) => {
    const { q, k, user, store: named } = c.req.valid("query");
    const store = await requestStore(c, named);
    if (store === undefined) return unknownStore(c, [named!]);
    const match = matchExpression(q);
    if (!match) return noSearchableWords(c, "q");
    const plan = await resolveRankPlan(c.env, { store, surface: "search" }, await unitId(c, user));
    const rankQuery = async (): Promise<Answer> => {
      const t0 = performance.now();
      const rows = await retrieveCandidates(c.env.DB, store, match, plan.retrievalN);
      recordStage(c, "retrieval", since(t0));
      const result = await rank(c, plan, q, rows);
      return answerOf(plan, result, result.items.slice(0, k));
    };
    if (c.var.drill?.bypassCache) {
      const answer = await rankQuery();
      return respondRanked(c, plan, "BYPASS", answer, parseDegradedReasons(answer.degradedReason));
    }
    const { answer, outcome } = await cachedAnswer({
      env: c.env,
      ctx: c.executionCtx as ExecutionContext,
      key: responseCacheKey("search", q, k, plan, { store }),
      compute: rankQuery,
      degraded: (a) => a.degraded,
    });
    return respondRanked(c, plan, outcome, answer, parseDegradedReasons(answer.degradedReason));
  },
);

search.post(
  "/rerank",
  requestMetrics("rerank"),
  drillProbe,
  zValidator("json", rerankBodySchema, zodHook),
  async (c) => {
    const { query, candidates, user, store: named } = c.req.valid("json");
    const ids = [...new Set(candidates)];
    c.header("x-vitrine-cache", "BYPASS");
    const store = await requestStore(c, named);
    if (store === undefined) return unknownStore(c, [named!]);
    const match = matchExpression(query);
    if (!match) return noSearchableWords(c, "query");
    const t0 = performance.now();
    const rows = await fetchCandidates(c.env.DB, store, match, ids);
    recordStage(c, "retrieval", since(t0));
    const known = new Set(rows.map((r) => String(r.id)));
    const unknown = ids.filter((id) => !known.has(id));
    if (unknown.length > 0) {
      const issues = unknown.map((id) => ({
        path: "candidates",
        message: `unknown product id ${id}`,
        code: "unknown_id",
      }));
      const message = `${unknown.length} candidate id(s) are not in the catalog of store ${JSON.stringify(store)}`;
      return c.json({ error: "unknown_candidates", message, issues, unknown, requestId: c.get("requestId") }, 400);
    }
    // keep the caller's order as the retrieval order (ties in light score keep it)
    const position = new Map(ids.map((id, i) => [id, i]));
    rows.sort((a, b) => position.get(String(a.id))! - position.get(String(b.id))!);

    const plan = await resolveRankPlan(c.env, { store, surface: "search" }, await unitId(c, user), {
      candidates: ids.length,
    });
    const result = await rank(c, plan, query, rows);
    return respondRanked(c, plan, "BYPASS", answerOf(plan, result, result.items), result.degradedReasons);
  },
);
