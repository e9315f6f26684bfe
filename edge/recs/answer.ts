/**
 * The recommendation surface's answer — what GET /v1/recommend serves (edge/routes/recommend.ts parses and responds;
 * everything between is here): the store's D1 state for the request (its recs version, the user's history and MF
 * vector) → the store's rank plan for the caller → the request's slice of the version's tables (edge/recs/tables.ts:
 * only the rows it needs; the MF list from the ANN index, edge/recs/ann/) → candidate sources (edge/recs/sources/)
 * → recs-light features → the two-stage ranker (edge/recs/rank.ts) → top k, only items of the store.
 *
 * An unknown or new user gets the cold-start answer (trending, or item-based from the page / cart), never an error.
 * Only available products of the store are answered. Only answers that are the same for everyone asking them (not
 * personalised) are cached: the key carries the store, the page / cart ids, the context kind, the plan's models, the
 * version of the store's recommendation tables and the store's catalogue version.
 */
import { cachedAnswer, lastGoodKey, responseCacheKey } from "../cache/response-cache";
import { catalogVersion } from "../catalog/version";
import type { DegradedReason } from "../ranking/degraded";
import { resolveRankPlan, type RankPlan } from "../ranking/plan";
import { since, type RankingRequest, type Served, type StageTimings } from "../ranking/request";
import { staleIfError } from "../ranking/stale-if-error";
import { lastKnownGoodItems } from "./last-known-good";
import { recsFeatures } from "./features";
import { isLive } from "./live";
import { rankRecs, type RecommendItem } from "./rank";
import { readRequestData } from "./request-data";
import { annIndexFor } from "./ann/select";
import { candidates } from "./sources/merge";
import { ensureCandidateStats, requestTables, type Read, type RequestTables } from "./tables";

export const MAX_CART = 50;
const DAY_MS = 86_400_000;

/** user: "for you"; item: a product page; cart: a basket; user+item / user+cart: personalised context. */
export const MODES = ["user", "item", "cart", "user+item", "user+cart", "trending"] as const;
export type RecommendMode = (typeof MODES)[number];

export interface RecommendAsk {
  store: string;
  user?: string | undefined;
  item?: string | undefined;
  cart?: string[] | undefined;
  k: number;
  /** the experiment unit (edge/experiments/assign.ts) */
  unit: string;
}

/** What the page or cart asks, whoever asks it. */
function contextMode(ask: Pick<RecommendAsk, "item" | "cart">): "item" | "cart" | "trending" {
  return ask.cart ? "cart" : ask.item ? "item" : "trending";
}

export function modeOf(ask: Pick<RecommendAsk, "user" | "item" | "cart">): RecommendMode {
  const ctx = contextMode(ask);
  if (!ask.user) return ctx;
  return ctx === "trending" ? "user" : `user+${ctx}`;
}

export interface RecommendAnswer {
  store: string;
  mode: RecommendMode;
  variant: string;
  experiment: string;
  /** light: recs-light ONNX; heavy: recs-heavy on the GPU tier; data: the recs-light version of the D1 tables */
  models: { light: string; heavy: string; data: string | null };
  items: RecommendItem[];
  /** false: the answer is the same for everyone asking it (no history or vector of this user) — cacheable */
  personalised: boolean;
  degradedReasons: DegradedReason[];
}

/** The page / cart ids of an ask, in order. */
function contextIdsOf(ask: Pick<RecommendAsk, "item" | "cart">): string[] {
  return [...(ask.item ? [ask.item] : []), ...(ask.cart ?? [])];
}

/**
 * A recommendation; while D1 fails, the last good non-personalised answer of the same page / cart (a personalised
 * ask included: its history cannot be read), else the store's last-known-good list (edge/recs/last-known-good.ts).
 */
export async function recommendAnswer(req: RankingRequest, ask: RecommendAsk): Promise<Served<RecommendAnswer>> {
  const plan = await resolveRankPlan(req.env, { store: ask.store, surface: "recommend" }, ask.unit);
  const lastGood = lastGoodKey("recommend", "", ask.k, {
    store: ask.store,
    context: contextIdsOf(ask).join(","),
    mode: contextMode(ask),
  });
  const served = await staleIfError(() => rankedRecommendation(req, ask, plan, lastGood), {
    env: req.env,
    plan,
    lastGood,
    otherwise: () => lastKnownGoodAnswer(req, plan, ask),
  });
  // a cached entry is shared by every non-personalised ask of its context (anonymous, new users): this one's mode
  return { ...served, answer: { ...served.answer, mode: modeOf(ask) } };
}

/** The store's last-known-good list (edge/recs/last-known-good.ts) as the ask's answer; undefined when it has none. */
async function lastKnownGoodAnswer(
  req: RankingRequest,
  plan: RankPlan,
  ask: RecommendAsk,
): Promise<RecommendAnswer | undefined> {
  const list = await lastKnownGoodItems(req.env, ask.store, ask.k, contextIdsOf(ask));
  if (!list) return undefined;
  return {
    store: ask.store,
    mode: modeOf(ask),
    variant: plan.variant,
    experiment: plan.experimentId,
    models: { light: plan.lightModel, heavy: plan.heavyModel, data: list.version },
    items: list.items,
    personalised: false,
    degradedReasons: [],
  };
}

async function rankedRecommendation(
  req: RankingRequest,
  ask: RecommendAsk,
  plan: RankPlan,
  lastGood: Request,
): Promise<Served<RecommendAnswer>> {
  const { env, ctx } = req;
  const t0 = performance.now();
  const stages: StageTimings = {};
  const data = await req.d1.read((db) => readRequestData(db, ask.store, ask.user));
  const version = data.store?.version ?? null;
  const base = {
    store: ask.store,
    mode: modeOf(ask),
    variant: plan.variant,
    experiment: plan.experimentId,
    models: { light: plan.lightModel, heavy: plan.heavyModel, data: version },
  };
  const settings = plan.sources;
  if (!version || !settings) {
    // a store without recommendation tables (or a worker without a recs model): nothing to recommend from
    stages.retrieval = since(t0);
    const answer = { ...base, items: [], personalised: false, degradedReasons: [] };
    return { plan, answer, cache: "BYPASS", stages };
  }
  // a trained version's clock is the end of its training data; live tables (edge/recs/live.ts) are of now
  const now = isLive(version) ? Date.now() / DAY_MS : settings.now;
  const contextIds = contextIdsOf(ask);
  const read: Read = (q) => req.d1.read(q);
  let loaded: Promise<RequestTables> | undefined;
  const slice = (): Promise<RequestTables> =>
    (loaded ??= requestTables(read, annIndexFor(env, req.d1), {
      store: ask.store,
      version,
      user: ask.user,
      userVector: data.userVector,
      history: data.history,
      contextIds,
      settings,
      now,
    }));
  // without history rows or an MF vector the answer is the same for everyone (cacheable: its slice is read only on a
  // miss); otherwise the slice says whether the version knows any of it
  const mayBePersonal = data.history.length > 0 || data.userVector !== null;
  const personalised = mayBePersonal && (await slice().then((s) => s.history !== null || s.knownUser));

  const compute = async (): Promise<RecommendAnswer> => {
    const { tables, history, context } = await slice();
    const cands = candidates(tables, settings, { history, context });
    await ensureCandidateStats(read, tables, cands.items);
    const features = recsFeatures(tables, now, history, cands, context);
    stages.retrieval = since(t0);
    const ranking = await rankRecs(req, plan, {
      store: ask.store,
      tables,
      candidates: cands,
      features,
      history,
      now,
      k: ask.k,
    });
    Object.assign(stages, ranking.timings);
    return {
      ...base,
      models: { ...base.models, heavy: ranking.heavyModel },
      items: ranking.items,
      personalised,
      degradedReasons: ranking.degradedReasons,
    };
  };
  if (personalised || !req.useCache) return { plan, answer: await compute(), cache: "BYPASS", stages };
  const { answer, outcome } = await cachedAnswer({
    env,
    ctx,
    // the page / cart ids go in the scope, kept as they are (the query part is normalised: case-folded)
    key: responseCacheKey("recommend", "", ask.k, plan, {
      store: ask.store,
      context: contextIds.join(","),
      mode: contextMode(ask),
      data: version,
      catalog: String(await catalogVersion(env, ask.store)),
    }),
    compute,
    degraded: (a) => a.degradedReasons.length > 0,
    lastGood,
  });
  return { plan, answer, cache: outcome, stages };
}
