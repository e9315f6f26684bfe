/**
 * The search surface's side of the two-stage ranker (edge/ranking/two-stage.ts): retrieved rows → the light model's
 * features (edge/search/features.ts, selected by the model's own feature list) with the bm25 order standing in if the
 * light model fails → the light top M as documents for the heavy cross-encoder → ranked items with their retrieval,
 * light and heavy scores.
 */
import { lightModelEntry } from "../scoring/light";
import type { HeavyDoc } from "../gpu/types";
import type { DegradedReason } from "../ranking/degraded";
import type { RankPlan } from "../ranking/plan";
import type { RankingRequest } from "../ranking/request";
import { rankTwoStage } from "../ranking/two-stage";
import { computeFeatures, FEATURE_NAMES, type CandidateRow } from "./features";

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
  /** the score the final position was decided by (edge/ranking/two-stage.ts) */
  score: number;
  scores: StageScores;
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

export interface SearchRanking {
  /** every candidate, in final order */
  items: RankedItem[];
  degradedReasons: DegradedReason[];
  /** the heavy model that actually scored, else the planned one */
  heavyModel: string;
  timings: { light: number; gpu: number };
}

const retrievalScore = (row: CandidateRow): number => Number(row.bm25) || 0;

/** Ranks retrieved (or caller-supplied) rows for a query under the plan. */
export async function rankRows(
  req: Pick<RankingRequest, "env" | "gpu" | "geo">,
  plan: RankPlan,
  query: string,
  rows: readonly CandidateRow[],
): Promise<SearchRanking> {
  const result = await rankTwoStage(
    req.env,
    plan,
    {
      n: rows.length,
      features: () => modelFeatures(query, rows, lightModelEntry(plan.lightModel).features),
      fallback: (i) => retrievalScore(rows[i]!),
    },
    (head) => ({ query, documents: head.map((i) => toHeavyDoc(rows[i]!)) }),
    req.gpu,
    req.geo,
  );
  const items = result.entries.map(({ index, light, heavy, score }): RankedItem => {
    const row = rows[index]!;
    return {
      id: String(row.id),
      title: String(row.title ?? ""),
      brand: String(row.brand ?? ""),
      price: typeof row.price === "number" ? row.price : null,
      score,
      scores: { retrieval: retrievalScore(row), light, heavy },
    };
  });
  return { items, degradedReasons: result.degradedReasons, heavyModel: result.heavyModel, timings: result.timings };
}
