/**
 * The rank plan: everything that decides how one request is ranked, resolved once per request in this one module
 * (the way a Vespa rank profile keeps its phase sizes and models together) — the experiment and the caller's sticky
 * variant, the light and heavy model versions, the SageMaker production variant, how many candidates retrieval
 * returns (N) and how many go to the heavy model (M), the GPU deadline, and how the final order combines the stages.
 * It carries every per-surface value, so the two-stage runner (edge/ranking/two-stage.ts), the surfaces' answers
 * (edge/search/answer.ts, edge/recs/answer.ts) and the response cache key read it and nothing re-derives them.
 *
 * It depends on the store, the surface and the caller, not on the route, so any ranking route can resolve one: the
 * experiment is the active one of the request's store and surface (edge/experiments/config.ts).
 *  - "search": the bundled light MLP, the heavy cross-encoder, N = RETRIEVAL_N, M = LIGHT_TOP_M; the final order is
 *    z(heavy) + w·z(light) with the heavy version's blend weight w (or the heavy score alone when it has none);
 *  - "recommend": the recs-light ranker bundled here and the recs-heavy sequence model, N = the recs-light version's
 *    candidate cap, M = RECS_TOP_M; the final order is light + RECS_HEAVY_WEIGHT × heavy, and the plan carries the
 *    version's candidate-source settings (edge/recs/sources/).
 */
import { config } from "../config";
import type { Bindings } from "../env";
import { assignVariant } from "../experiments/assign";
import {
  defaultModels,
  getExperimentConfig,
  type ExperimentConfig,
  type ExperimentScope,
  type Surface,
  type Variant,
} from "../experiments/config";
import { HEAVY_BLEND_WEIGHTS, LIGHT_MODELS, RECS_LIGHT_MODELS, type RecsSourceSettings } from "../generated/models";

export type { Surface };

/** Maximum candidates POST /v1/rerank accepts (and sends to the heavy model). */
export const RERANK_MAX = 200;

/**
 * How the light top M is ordered once the heavy model scored it (edge/ranking/two-stage.ts):
 *  - heavy:    by the heavy score alone;
 *  - blend:    by z(heavy) + weight · z(light), per-list z-scores (the search cascade's cross-validated blend);
 *  - residual: by light + weight · heavy (the recs-heavy model is trained as the light ranker's residual).
 */
export type Combine = { kind: "heavy" } | { kind: "blend"; weight: number } | { kind: "residual"; weight: number };

export interface RankPlan {
  surface: Surface;
  experimentId: string;
  /** the caller's variant of that experiment */
  variant: string;
  /** the light model version this worker runs for the variant (an unbundled version falls back to the default) */
  lightModel: string;
  /** the heavy model version asked of the GPU tier ("" = the GPU tier's own default) */
  heavyModel: string;
  /** SageMaker production variant to pin (TargetVariant); undefined = the endpoint routes */
  targetVariant?: string;
  /** candidates retrieval returns */
  retrievalN: number;
  /** light-ranked candidates sent to the heavy model */
  topM: number;
  /** budget of the whole GPU stage, all attempts included */
  deadlineMs: number;
  /** how the planned heavy model's scores combine with the light ones */
  combine: Combine;
  /** recommend only: the recs-light version's candidate-source settings (undefined: no recs model bundled) */
  sources?: RecsSourceSettings;
}

/**
 * What the caller brings besides the query: `candidates` is the size of a caller-supplied candidate list
 * (POST /v1/rerank). Such a list is ranked whole: M = max(variant M, list length), capped at RERANK_MAX, so every
 * candidate of a list ≤ RERANK_MAX gets a heavy score.
 */
export interface RankAsk {
  candidates?: number;
}

/** The search combine of a heavy version: its cross-validated blend weight, else the heavy score alone. */
function searchCombine(heavyModel: string): Combine {
  const weight = HEAVY_BLEND_WEIGHTS[heavyModel];
  return weight === undefined ? { kind: "heavy" } : { kind: "blend", weight };
}

/**
 * The combine for the heavy model that actually answered: the GPU tier may serve another version than planned (its
 * default for an empty one), and a search blend weight belongs to a version.
 */
export function combineFor(plan: RankPlan, servedHeavyModel: string): Combine {
  if (plan.surface !== "search" || servedHeavyModel === plan.heavyModel) return plan.combine;
  return searchCombine(servedHeavyModel);
}

/** The plan for one variant of an experiment on a surface. */
export function planFor(
  env: Bindings,
  experiment: ExperimentConfig,
  variant: Variant,
  surface: Surface,
  ask: RankAsk = {},
): RankPlan {
  const cfg = config(env);
  const recommend = surface === "recommend";
  const defaults = defaultModels(surface);
  const bundled = recommend ? RECS_LIGHT_MODELS : LIGHT_MODELS;
  const heavyModel = variant.heavyModel || defaults.heavyModel;
  const lightModel = Object.hasOwn(bundled, variant.lightModel) ? variant.lightModel : defaults.lightModel;
  const variantM = variant.topM ?? (recommend ? cfg.recs.topM : cfg.search.lightTopM);
  const sources = recommend ? RECS_LIGHT_MODELS[lightModel]?.sources : undefined;
  return {
    surface,
    experimentId: experiment.experimentId,
    variant: variant.name,
    lightModel,
    heavyModel,
    ...(variant.gpuTargetVariant ? { targetVariant: variant.gpuTargetVariant } : {}),
    retrievalN: sources?.maxCandidates ?? cfg.search.retrievalN,
    topM: ask.candidates === undefined ? variantM : Math.min(RERANK_MAX, Math.max(variantM, ask.candidates)),
    deadlineMs: cfg.search.gpuDeadlineMs,
    combine: recommend ? { kind: "residual", weight: cfg.recs.heavyWeight } : searchCombine(heavyModel),
    ...(sources ? { sources } : {}),
  };
}

/**
 * The plan of a unit (user or anonymous id, edge/experiments/assign.ts) on the active experiment of a store's surface.
 */
export async function resolveRankPlan(
  env: Bindings,
  scope: ExperimentScope,
  unit: string,
  ask: RankAsk = {},
): Promise<RankPlan> {
  const experiment = await getExperimentConfig(env, scope);
  return planFor(env, experiment, await assignVariant(experiment, unit), scope.surface, ask);
}
