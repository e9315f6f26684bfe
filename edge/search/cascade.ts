/**
 * The ranking cascade on a set of candidate rows under a rank plan (edge/search/rank-plan.ts): the plan's light
 * model (ONNX in the isolate) over all rows → top M by light score → the plan's heavy model on the GPU tier within
 * the plan's deadline → final order (combineScores, the plan's blend weight). GPU failures degrade to the light
 * ranking; they never throw.
 */
import type { Bindings } from "../env";
import { heavyRank } from "../gpu/index";
import type { GpuDrillScope, HeavyDoc } from "../gpu/types";
import { lightModelEntry, scoreLight } from "../scoring/light";
import { gpuDegradedReason, type DegradedReason } from "./degraded";
import { computeFeatures, FEATURE_NAMES, type CandidateRow } from "./features";
import { blendWeightFor, type RankPlan } from "./rank-plan";

export interface StageScores {
  retrieval: number;
  light: number;
  heavy: number | null;
}

export interface RankedItem {
  id: string;
  title: string;
  brand: string;
  price: number | null;
  /** the score the final position was decided by (see combineScores) */
  score: number;
  scores: StageScores;
}

/** What is ranked under a plan: the query and its candidate rows (and a drill probe's GPU faults, if any). */
export interface CascadeInput {
  query: string;
  rows: readonly CandidateRow[];
  drill?: GpuDrillScope;
}

export interface CascadeResult {
  /** every candidate, in final order */
  items: RankedItem[];
  /** empty: not degraded */
  degradedReasons: DegradedReason[];
  /** the heavy model that actually scored (as the GPU tier reported), else the requested one */
  heavyModel: string;
  timings: { light: number; gpu: number };
  gpu?: { endpoint?: string; attempts: number; detail?: string };
}

/** Text field limits for the GPU request: the heavy model truncates to its token budget anyway. */
export const DOC_LIMITS = { title: 300, brand: 100, color: 100, bullets: 1000, description: 1000 } as const;

function clip(s: unknown, max: number): string {
  const str = typeof s === "string" ? s : s == null ? "" : String(s);
  return str.length > max ? str.slice(0, max) : str;
}

export function toHeavyDoc(row: CandidateRow): HeavyDoc {
  const doc: HeavyDoc = { id: String(row.id), title: clip(row.title, DOC_LIMITS.title) };
  const optional = ["brand", "color", "bullets", "description"] as const;
  for (const f of optional) {
    const v = clip(row[f], DOC_LIMITS[f]);
    if (v) doc[f] = v;
  }
  return doc;
}

/**
 * The feature matrix the light model expects: computeFeatures gives FEATURE_NAMES columns; a model trained on a
 * different (sub)set gets its columns selected by name.
 */
export function modelFeatures(
  query: string,
  rows: readonly CandidateRow[],
  modelFeatureNames: readonly string[],
): Float32Array {
  const full = computeFeatures(query, rows as CandidateRow[]);
  const names: readonly string[] = FEATURE_NAMES;
  if (modelFeatureNames.length === names.length && modelFeatureNames.every((n, i) => n === names[i])) return full;
  const index = modelFeatureNames.map((n) => {
    const i = names.indexOf(n);
    if (i < 0) throw new Error(`light model needs feature "${n}" that computeFeatures does not produce`);
    return i;
  });
  const width = names.length;
  const out = new Float32Array(rows.length * index.length);
  for (let r = 0; r < rows.length; r++)
    for (let j = 0; j < index.length; j++) out[r * index.length + j] = full[r * width + index[j]!]!;
  return out;
}

interface Scored {
  row: CandidateRow;
  retrieval: number;
  light: number;
}

/** Per-list z-scores (a constant list maps to zeros), as the pipeline's evaluate.py does. */
function zScores(xs: readonly number[]): number[] {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  return xs.map((x) => (x - mean) / (sd > 1e-9 ? sd : 1));
}

/**
 * Final order — the one place stages are combined. The top M the heavy model scored are ordered by
 * z(heavy) + w·z(light) when the heavy version has a blend weight w (chosen by the pipeline's cross-validation on
 * training folds only; RankPlan.blendWeight), else by the heavy score; the remaining candidates follow in light
 * order. Without heavy scores, the light order stands. `score` is the value that decided the position.
 */
export function combineScores(
  lightRanked: readonly Scored[],
  heavy: readonly number[] | null,
  blendWeight: number | null = null,
): RankedItem[] {
  const item = (s: Scored, h: number | null, score: number): RankedItem => ({
    id: String(s.row.id),
    title: String(s.row.title ?? ""),
    brand: String(s.row.brand ?? ""),
    price: typeof s.row.price === "number" ? s.row.price : null,
    score,
    scores: { retrieval: s.retrieval, light: s.light, heavy: h },
  });
  if (!heavy) return lightRanked.map((s) => item(s, null, s.light));
  const head = lightRanked.slice(0, heavy.length);
  let keys: readonly number[] = heavy;
  if (blendWeight !== null && head.length > 0) {
    const zh = zScores(heavy);
    const zl = zScores(head.map((s) => s.light));
    keys = zh.map((z, i) => z + blendWeight * zl[i]!);
  }
  const top = head.map((s, i) => ({ s, h: heavy[i]!, key: keys[i]!, i }));
  top.sort((a, b) => b.key - a.key || a.i - b.i);
  return [
    ...top.map(({ s, h, key }) => item(s, h, key)),
    ...lightRanked.slice(heavy.length).map((s) => item(s, null, s.light)),
  ];
}

export async function runCascade(env: Bindings, plan: RankPlan, input: CascadeInput): Promise<CascadeResult> {
  const { rows } = input;
  if (rows.length === 0)
    return { items: [], degradedReasons: [], heavyModel: plan.heavyModel, timings: { light: 0, gpu: 0 } };

  // light stage
  const t0 = performance.now();
  const degradedReasons: DegradedReason[] = [];
  let light: Float32Array;
  try {
    const entry = lightModelEntry(plan.lightModel);
    light = await scoreLight(plan.lightModel, modelFeatures(input.query, rows, entry.features), rows.length);
  } catch (err) {
    console.error("light model failed; falling back to retrieval order", err);
    degradedReasons.push("light_model_error");
    light = Float32Array.from(rows, (r) => Number(r.bm25) || 0);
  }
  const scored: Scored[] = rows.map((row, i) => ({ row, retrieval: Number(row.bm25) || 0, light: light[i]! }));
  // stable: ties keep retrieval order
  const lightRanked = scored
    .map((s, i) => ({ s, i }))
    .sort((a, b) => b.s.light - a.s.light || a.i - b.i)
    .map(({ s }) => s);
  const lightMs = performance.now() - t0;

  // heavy stage on the top M
  const m = Math.max(0, Math.min(plan.topM, lightRanked.length));
  if (m === 0) {
    return {
      items: combineScores(lightRanked, null),
      degradedReasons,
      heavyModel: plan.heavyModel,
      timings: { light: lightMs, gpu: 0 },
    };
  }
  const t1 = performance.now();
  const heavy = await heavyRank(
    env,
    {
      query: input.query,
      documents: lightRanked.slice(0, m).map((s) => toHeavyDoc(s.row)),
      model: plan.heavyModel,
      ...(plan.targetVariant ? { targetVariant: plan.targetVariant } : {}),
    },
    { deadlineMs: plan.deadlineMs, ...(input.drill ? { drill: input.drill } : {}) },
  );
  const gpuMs = performance.now() - t1;

  if (heavy.ok) {
    // the GPU tier may have served another version than planned (its default for an empty one): blend by that one
    const blendWeight = heavy.model === plan.heavyModel ? plan.blendWeight : blendWeightFor(heavy.model);
    return {
      items: combineScores(lightRanked, heavy.scores, blendWeight),
      degradedReasons,
      heavyModel: heavy.model,
      timings: { light: lightMs, gpu: gpuMs },
      gpu: { endpoint: heavy.endpoint, attempts: heavy.attempts },
    };
  }
  return {
    items: combineScores(lightRanked, null),
    degradedReasons: [...degradedReasons, gpuDegradedReason(heavy.reason)],
    heavyModel: plan.heavyModel,
    timings: { light: lightMs, gpu: gpuMs },
    gpu: { attempts: heavy.attempts, ...(heavy.detail ? { detail: heavy.detail } : {}) },
  };
}
