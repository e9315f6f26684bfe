/**
 * GET /v1/recommend?store=&user=&k=&item=&cart=  — recommendations on the search cascade's shape (issue 14):
 * D1 candidate sources (history, co-purchase, MF scan, trending, content; edge/recs/sources/) → the recs-light ONNX
 * ranker in WASM → the recs-heavy sequence model on the GPU tier → top k, only items of the request's store.
 *
 *  - store: a `stores` id (unknown → 404 JSON), default the default store; k 1..100 (default 20); item: a product
 *    page; cart: ≤ 50 comma-separated ids; user: "for you", personalised with item/cart. An unknown or new user gets
 *    the cold-start answer (trending, or item-based from item/cart), never an error.
 *  - a sticky A/B variant of the store's "recommend" experiment (edge/search/rank-plan.ts), Server-Timing
 *    (retrieval = candidates, light, gpu, total), one metrics sample under route "recommend".
 *  - cached (Cache API) only when not personalised: the key carries the store, the mode, the page/cart ids, the
 *    plan's models and the D1 tables' version; an answer built from a user's own rows is never cached.
 *  - GPU tier down or late → the light order, degraded:true with the reason, 200.
 */
import { zValidator } from "@hono/zod-validator";
import { Hono } from "hono";
import { cachedAnswer, responseCacheKey } from "../cache/response-cache";
import type { AppEnv } from "../env";
import { unitId } from "../experiments/assign";
import { RECS_LIGHT_MODELS } from "../generated/models";
import { drillProbe } from "../middleware/drill-probe";
import { zodHook } from "../middleware/errors";
import { requestMetrics } from "../middleware/request-metrics";
import { recordStage, since } from "../middleware/timing";
import { modeOf, recommendQuerySchema, type RecommendAnswer, type RecommendItem } from "../recs/contract";
import { recsFeatures } from "../recs/features";
import { userHistory } from "../recs/history";
import { productInfo, type ProductInfo } from "../recs/products";
import { rankRecs, type RecsRankResult } from "../recs/rank";
import { readRequestData } from "../recs/request-data";
import { candidates } from "../recs/sources/merge";
import { seedsOf } from "../recs/sources/neighbours";
import { SOURCES } from "../recs/sources/scored";
import { ensureNeighbours, itemTables } from "../recs/tables";
import { parseDegradedReasons, serialiseDegradedReasons } from "../search/degraded";
import { resolveRankPlan } from "../search/rank-plan";
import { respondRanked } from "./respond-ranked";
import { requestStore, unknownStore } from "../stores/resolve";

export const recommend = new Hono<AppEnv>();

recommend.get(
  "/recommend",
  requestMetrics("recommend"),
  drillProbe,
  zValidator("query", recommendQuerySchema, zodHook),
  async (c) => {
    const q = c.req.valid("query");
    const mode = modeOf(q);
    const t0 = performance.now();
    const store = await requestStore(c, q.store);
    if (store === undefined) return unknownStore(c, [q.store ?? ""]);
    const data = await readRequestData(c.env.DB, store, q.user);
    const plan = await resolveRankPlan(c.env, { store, surface: "recommend" }, await unitId(c, q.user));
    const settings = RECS_LIGHT_MODELS[plan.lightModel]?.sources;
    const base = {
      store,
      mode,
      variant: plan.variant,
      experiment: plan.experimentId,
      models: { light: plan.lightModel, heavy: plan.heavyModel, data: data.store?.version ?? null },
    };
    if (!data.store?.version || !settings) {
      // a store without recommendation tables (or a worker without a recs model): nothing to recommend from
      recordStage(c, "retrieval", since(t0));
      return respondRanked(c, plan, "BYPASS", { ...base, items: [], personalised: false, degraded: false }, []);
    }
    const tables = await itemTables(c.env.DB, store, data.store.version);
    const history = userHistory(data.history, tables.index, settings.now, settings.recencyTauDays);
    const userVector = data.userVector && data.userVector.length === tables.factors ? data.userVector : null;
    const personalised = history !== null || userVector !== null;
    const contextIds = [...(q.item ? [q.item] : []), ...(q.cart ?? [])];
    const context = contextIds.flatMap((id) => {
      const i = tables.index.get(id);
      return i === undefined ? [] : [i];
    });

    const useCache = !personalised && !c.var.drill?.bypassCache;
    const key = responseCacheKey("recommend", contextIds.join(","), q.k, plan, {
      store,
      mode: personalised ? mode : mode.replace("user+", "").replace("user", "trending"),
      data: data.store.version,
    });
    const compute = async (): Promise<RecommendAnswer> => {
      await ensureNeighbours(c.env.DB, tables, [...seedsOf(history, context).items]);
      const cands = candidates(tables, settings, { history, userVector, context });
      const features = recsFeatures(tables, settings.now, history, cands, context);
      recordStage(c, "retrieval", since(t0));

      let lookup: Promise<Map<string, ProductInfo>> = Promise.resolve(new Map());
      const result: RecsRankResult = await rankRecs(c.env, plan, {
        store,
        tables,
        candidates: cands,
        features,
        history,
        now: settings.now,
        k: q.k,
        ...(c.var.drill ? { drill: c.var.drill.gpu } : {}),
        onLightOrder: (ids) => {
          lookup = productInfo(c.env.DB, store, ids);
        },
      });
      recordStage(c, "light", result.timings.light);
      recordStage(c, "gpu", result.timings.gpu);
      const info = await lookup;
      const items: RecommendItem[] = result.items.slice(0, q.k).map((r) => {
        const i = cands.items[r.k]!;
        const p = info.get(r.id);
        const scores = Object.fromEntries(SOURCES.map((s) => [s, cands.scores[s][r.k]!])) as RecommendItem["scores"];
        scores.light = r.light;
        scores.heavy = r.heavy;
        return {
          id: r.id,
          title: p?.title ?? "",
          price: p?.price ?? tables.price[i] ?? null,
          score: r.score,
          scores,
          sources: SOURCES.filter((s) => cands.ranks[s][r.k]! > 0),
        };
      });
      const degradedReason = serialiseDegradedReasons(result.degradedReasons);
      const answer: RecommendAnswer = {
        ...base,
        models: { ...base.models, heavy: result.heavyModel },
        items,
        personalised,
        degraded: result.degradedReasons.length > 0,
        ...(degradedReason ? { degradedReason } : {}),
      };
      return answer;
    };
    if (!useCache) {
      const answer = await compute();
      return respondRanked(c, plan, "BYPASS", answer, parseDegradedReasons(answer.degradedReason));
    }
    const { answer, outcome } = await cachedAnswer({
      env: c.env,
      ctx: c.executionCtx as ExecutionContext,
      key,
      compute,
      degraded: (a) => a.degraded,
    });
    // the entry is shared by every non-personalised ask of this context (anonymous, new users): this one's mode
    return respondRanked(c, plan, outcome, { ...answer, mode }, parseDegradedReasons(answer.degradedReason));
  },
);
