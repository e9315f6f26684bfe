/**
 * Score drift: Population Stability Index of a current score distribution against a reference one, over bins cut
 * at the reference deciles. PSI = Σ (cur − ref) · ln(cur / ref); < 0.1 stable, 0.1–0.2 moderate, > 0.2 shifted.
 */
import { Sketch, valueOf } from "./sketch";

const EPS = 1e-4;

/** Interior bin edges: the reference's deciles (deduplicated). */
export function decileEdges(reference: Sketch, bins = 10): number[] {
  const edges: number[] = [];
  for (let i = 1; i < bins; i++) {
    const q = reference.quantile(i / bins);
    if (!Number.isNaN(q) && (edges.length === 0 || q > edges[edges.length - 1]!)) edges.push(q);
  }
  return edges;
}

/** Share of a sketch's mass per bin; a bucket belongs to the first bin whose upper edge ≥ its value. */
export function binShares(s: Sketch, edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const [key, n] of s.bins) {
    const v = valueOf(key);
    let i = 0;
    while (i < edges.length && v > edges[i]!) i++;
    counts[i]! += n;
  }
  const total = s.count || 1;
  return counts.map((c) => c / total);
}

export function psi(reference: Sketch, current: Sketch, bins = 10): number {
  if (reference.count === 0 || current.count === 0) return 0;
  const edges = decileEdges(reference, bins);
  const ref = binShares(reference, edges);
  const cur = binShares(current, edges);
  let total = 0;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.max(ref[i]!, EPS);
    const a = Math.max(cur[i]!, EPS);
    total += (a - e) * Math.log(a / e);
  }
  return total;
}

export interface DriftFigure {
  kind: string;
  model: string;
  psi: number | null;
  current: number;
  reference: number;
}

/**
 * PSI of the last hour against the reference window [now − 25 h, now − 1 h) per (kind, model), live traffic only;
 * of one store's scores when `store` is given (the dashboard's store picker), else of every store's.
 */
export async function scoreDrift(
  db: D1Database,
  now: number,
  referenceS = 24 * 3600,
  currentS = 3600,
  store?: string,
): Promise<DriftFigure[]> {
  const curFrom = now - currentS;
  const refFrom = curFrom - referenceS;
  // Minute rows are kept 48 h by default, which covers the 25 h this reads.
  const { results } = await db
    .prepare(
      `SELECT kind, model, bucket, CASE WHEN ts >= ? THEN 'cur' ELSE 'ref' END AS w, SUM(count) AS n
       FROM metrics_scores WHERE res = 60 AND traffic = 'live' AND ts >= ? AND ts < ? AND (?4 IS NULL OR store = ?4)
       GROUP BY kind, model, bucket, w`,
    )
    .bind(curFrom, refFrom, now, store ?? null)
    .all<{ kind: string; model: string; bucket: number; w: "cur" | "ref"; n: number }>();
  const by = new Map<string, { kind: string; model: string; cur: Sketch; ref: Sketch }>();
  for (const r of results) {
    const k = `${r.kind}\u0001${r.model}`;
    let e = by.get(k);
    if (!e) by.set(k, (e = { kind: r.kind, model: r.model, cur: new Sketch(), ref: new Sketch() }));
    e[r.w].addBucket(r.bucket, r.n);
  }
  return [...by.values()].map((e) => ({
    kind: e.kind,
    model: e.model,
    psi: e.cur.count > 0 && e.ref.count > 0 ? psi(e.ref, e.cur) : null,
    current: e.cur.count,
    reference: e.ref.count,
  }));
}
