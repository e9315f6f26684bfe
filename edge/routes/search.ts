/**
 * GET /v1/search and POST /v1/rerank: parse (edge/api/search.ts), resolve the store and the experiment unit, ask the
 * search surface (edge/search/answer.ts), respond (edge/routes/ranked.ts). Metrics: one sample per request under
 * the route's name (edge/middleware/request-metrics.ts).
 */
import { rerankRoute, searchRoute } from "../api/search";
import { createApi, unknownStore } from "../api/openapi";
import { unitId } from "../experiments/assign";
import { requestMetrics } from "../middleware/request-metrics";
import { rerankAnswer, searchAnswer } from "../search/answer";
import { requestStore } from "../stores/resolve";
import { rankingRequest, respondRanked } from "./ranked";

export const search = createApi();

search.openapi({ ...searchRoute, middleware: requestMetrics("search") }, async (c) => {
  const { q, k, user, store: named } = c.req.valid("query");
  const store = await requestStore(c, named);
  if (store === undefined) return unknownStore(c, [named!]);
  const unit = await unitId(c, user);
  return respondRanked(c, await searchAnswer(rankingRequest(c), { store, query: q, k, unit }));
});

search.openapi({ ...rerankRoute, middleware: requestMetrics("rerank") }, async (c) => {
  const { query, candidates, user, store: named } = c.req.valid("json");
  c.header("x-vitrine-cache", "BYPASS");
  const store = await requestStore(c, named);
  if (store === undefined) return unknownStore(c, [named!]);
  const unit = await unitId(c, user);
  const out = await rerankAnswer(rankingRequest(c), { store, query, candidates, unit });
  if (out.ok) return respondRanked(c, out.served);
  const issues = out.unknown.map((id) => ({
    path: "candidates",
    message: `unknown product id ${id}`,
    code: "unknown_id",
  }));
  const message = `${out.unknown.length} candidate id(s) are not in the catalog of store ${JSON.stringify(store)}`;
  return c.json(
    { error: "unknown_candidates", message, issues, unknown: out.unknown, requestId: c.get("requestId") },
    400,
  );
});
