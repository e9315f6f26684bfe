/**
 * The search surface's answers — what GET /v1/search and POST /v1/rerank serve (edge/routes/search.ts parses and
 * responds; everything between is here):
 *  - search: the store's rank plan for the caller → FTS5 retrieval of the top N available products → the two-stage
 *    ranker → top k, in the response cache (keyed by query, k, plan, store and the store's catalogue version, so a
 *    catalogue write is seen by the next request; concurrent misses collapsed, stale-while-revalidate);
 *  - rerank: the same ranker over exactly the caller's candidates of the store (never cached). Ids that are not the
 *    store's available products are reported, not dropped: the caller's id set must come back unchanged. Duplicates collapse
 *    to one; the caller's order is the retrieval order (ties in light score keep it); heavy M covers the whole list
 *    up to RERANK_MAX (edge/ranking/plan.ts).
 */
import { cachedAnswer, lastGoodKey, responseCacheKey } from "../cache/response-cache";
import type { Bindings } from "../env";
import { catalogShards } from "../catalog/shards";
import { catalogVersion } from "../catalog/version";
import { config } from "../config";
import type { DegradedReason } from "../ranking/degraded";
import { resolveRankPlan, type RankPlan } from "../ranking/plan";
import { since, type RankingRequest, type Served, type StageTimings } from "../ranking/request";
import { staleIfError } from "../ranking/stale-if-error";
import { matchExpression } from "./features";
import { rankRows, type RankedItem, type SearchRanking } from "./rank";
import { fetchCandidates, fetchFromShards, retrieveCandidates, retrieveFromShards } from "./retrieval";

/** A query as the search surface takes it: its text and its FTS5 match expression. */
export interface SearchText {
  text: string;
  match: string;
}

/** The search text of a query; undefined when it has no searchable words. */
export function searchText(text: string): SearchText | undefined {
  const match = matchExpression(text);
  return match ? { text, match } : undefined;
}

export interface SearchAnswer {
  items: RankedItem[];
  variant: string;
  experiment: string;
  models: { light: string; heavy: string };
  degradedReasons: DegradedReason[];
}

export interface SearchAsk {
  store: string;
  query: SearchText;
  k: number;
  /** the experiment unit (edge/experiments/assign.ts) */
  unit: string;
}

function answerOf(plan: RankPlan, ranking: SearchRanking, items: RankedItem[]): SearchAnswer {
  return {
    items,
    variant: plan.variant,
    experiment: plan.experimentId,
    models: { light: plan.lightModel, heavy: ranking.heavyModel },
    degradedReasons: ranking.degradedReasons,
  };
}

/**
 * The response cache key of a search answer: the query, k, the plan's experiment, variant and models, the store and
 * its catalogue version (the failover drills purge under it too).
 */
export async function searchCacheKey(
  env: Bindings,
  store: string,
  query: string,
  k: number,
  plan: RankPlan,
): Promise<Request> {
  return responseCacheKey("search", query, k, plan, { store, catalog: String(await catalogVersion(env, store)) });
}

/** A search answer; while D1 fails, the last good answer of the same query (edge/ranking/stale-if-error.ts). */
export async function searchAnswer(req: RankingRequest, ask: SearchAsk): Promise<Served<SearchAnswer>> {
  const plan = await resolveRankPlan(req.env, { store: ask.store, surface: "search" }, ask.unit);
  const lastGood = lastGoodKey("search", ask.query.text, ask.k, { store: ask.store });
  return staleIfError(() => rankedSearch(req, ask, plan, lastGood), { env: req.env, plan, lastGood });
}

async function rankedSearch(
  req: RankingRequest,
  ask: SearchAsk,
  plan: RankPlan,
  lastGood: Request,
): Promise<Served<SearchAnswer>> {
  const { env, ctx } = req;
  const stages: StageTimings = {};
  const compute = async (): Promise<SearchAnswer> => {
    const t0 = performance.now();
    const shards = catalogShards(env, ask.store);
    const { firstPassMax: firstPass } = config(env).search;
    const version = shards ? await catalogVersion(env, ask.store) : undefined; // keys the shards' bm25 statistics
    const rows = await req.d1.read((db) =>
      shards
        ? retrieveFromShards(shards, ask.store, ask.query.match, plan.retrievalN, firstPass, version)
        : retrieveCandidates(db, ask.store, ask.query.match, plan.retrievalN, firstPass),
    );
    stages.retrieval = since(t0);
    const ranking = await rankRows(req, plan, ask.query.text, rows);
    Object.assign(stages, ranking.timings);
    return answerOf(plan, ranking, ranking.items.slice(0, ask.k));
  };
  if (!req.useCache) return { plan, answer: await compute(), cache: "BYPASS", stages };
  const { answer, outcome } = await cachedAnswer({
    env,
    ctx,
    key: await searchCacheKey(env, ask.store, ask.query.text, ask.k, plan),
    compute,
    degraded: (a) => a.degradedReasons.length > 0,
    lastGood,
  });
  return { plan, answer, cache: outcome, stages };
}

export interface RerankAsk {
  store: string;
  query: SearchText;
  candidates: readonly string[];
  unit: string;
}

/** The ranked candidates, or the ids that are not the store's products. */
export async function rerankAnswer(
  req: RankingRequest,
  ask: RerankAsk,
): Promise<{ ok: true; served: Served<SearchAnswer> } | { ok: false; unknown: string[] }> {
  const ids = [...new Set(ask.candidates)];
  const t0 = performance.now();
  const shards = catalogShards(req.env, ask.store);
  const version = shards ? await catalogVersion(req.env, ask.store) : undefined;
  const rows = await req.d1.read((db) =>
    shards
      ? fetchFromShards(shards, ask.store, ask.query.match, ids, version)
      : fetchCandidates(db, ask.store, ask.query.match, ids),
  );
  const stages: StageTimings = { retrieval: since(t0) };
  const known = new Set(rows.map((r) => String(r.id)));
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length > 0) return { ok: false, unknown };
  const position = new Map(ids.map((id, i) => [id, i]));
  rows.sort((a, b) => position.get(String(a.id))! - position.get(String(b.id))!);
  const plan = await resolveRankPlan(req.env, { store: ask.store, surface: "search" }, ask.unit, {
    candidates: ids.length,
  });
  const ranking = await rankRows(req, plan, ask.query.text, rows);
  Object.assign(stages, ranking.timings);
  return { ok: true, served: { plan, answer: answerOf(plan, ranking, ranking.items), cache: "BYPASS", stages } };
}
