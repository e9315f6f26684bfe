/**
 * Light-model features (contract C2): the TypeScript twin of gpu-tier/vitrine_gpu/features.py. Both compute every
 * value in float64 in the same order and cast to float32 at the end; test/edge/features-parity.test.ts checks the
 * two agree (≤ 1e-5) on a fixture written by Python. Change both files together.
 *
 * Rows carry the columns of edge/search/retrieve.sql / candidates.sql (bm25* already negated: higher is better;
 * candidates the query does not match have bm25* = 0).
 */

/** One candidate as D1 returns it from retrieve.sql / candidates.sql. */
export interface CandidateRow {
  rowid: number;
  id: string;
  title: string;
  brand: string | null;
  color: string | null;
  bullets: string | null;
  description: string | null;
  category: string | null;
  price: number | null;
  rating: number | null;
  rating_count: number | null;
  is_book: number | null;
  bm25: number | null;
  bm25_title: number | null;
  bm25_brand: number | null;
  bm25_color: number | null;
  bm25_bullets: number | null;
  bm25_description: number | null;
}

export const MAX_QUERY_TOKENS = 32;

export const FEATURE_NAMES: readonly string[] = Object.freeze([
  "bm25",
  "bm25_title",
  "bm25_brand",
  "bm25_color",
  "bm25_bullets",
  "bm25_description",
  "bm25_norm_max",
  "bm25_rank_recip",
  "bm25_title_norm_max",
  "query_tokens",
  "cov_title",
  "cov_brand",
  "cov_color",
  "cov_text",
  "cov_category",
  "cov_any",
  "title_precision",
  "phrase_in_title",
  "first_token_in_title",
  "brand_in_query",
  "color_in_query",
  "log_price",
  "price_missing",
  "log_price_rel",
  "rating",
  "rating_missing",
  "log_rating_count",
  "rating_count_missing",
  "log_rating_count_rel",
  "log_title_len",
  "log_bullets_len",
  "log_description_len",
  "is_book",
]);

const NON_SPACING_MARK = /\p{Mn}/gu;
const TOKEN = /[\p{L}\p{N}]+/gu;

/** Lowercase, NFKD, drop non-spacing combining marks (Python: str.lower, NFKD, category Mn). */
export function normalize(s: string): string {
  return s.toLowerCase().normalize("NFKD").replace(NON_SPACING_MARK, "");
}

/** Runs of unicode letters/digits of the normalised text (Python: re.findall(r"[^\W_]+", ...)). */
export function tokenize(s: string | null | undefined): string[] {
  if (!s) return [];
  return normalize(s).match(TOKEN) ?? [];
}

/** Unique tokens in order of first appearance, at most MAX_QUERY_TOKENS. */
export function queryTokens(query: string): string[] {
  const seen = new Set<string>();
  for (const t of tokenize(query)) {
    if (!seen.has(t)) {
      seen.add(t);
      if (seen.size === MAX_QUERY_TOKENS) break;
    }
  }
  return [...seen];
}

/** FTS5 MATCH expression: unique query tokens, each double-quoted, joined with OR; null when no token. */
export function matchExpression(query: string): string | null {
  const toks = queryTokens(query);
  return toks.length > 0 ? toks.map((t) => `"${t}"`).join(" OR ") : null;
}

function num(v: number | null | undefined): number | null {
  if (v === null || v === undefined) return null;
  const f = Number(v);
  return Number.isNaN(f) ? null : f;
}

function coverage(q: readonly string[], field: ReadonlySet<string>): number {
  if (q.length === 0) return 0;
  let hit = 0;
  for (const t of q) if (field.has(t)) hit += 1;
  return hit / q.length;
}

function subset(field: readonly string[], qset: ReadonlySet<string>): number {
  if (field.length === 0) return 0;
  for (const t of field) if (!qset.has(t)) return 0;
  return 1;
}

/** Row-major float32 matrix [rows.length × FEATURE_NAMES.length], rows in the given order. */
export function computeFeatures(query: string, rows: readonly CandidateRow[]): Float32Array {
  const F = FEATURE_NAMES.length;
  const n = rows.length;
  const out = new Float32Array(n * F);
  if (n === 0) return out;
  const q = queryTokens(query);
  const qset = new Set(q);
  const allQ = tokenize(query);
  const allQset = new Set(allQ);
  const qPhrase = " " + allQ.join(" ") + " ";
  const first = allQ.length > 0 ? allQ[0] : undefined;

  const bm = rows.map((r) => num(r.bm25) || 0);
  const bmt = rows.map((r) => num(r.bm25_title) || 0);
  const maxBm = Math.max(...bm);
  const maxBmt = Math.max(...bmt);

  const lp: (number | null)[] = [];
  const lrc: (number | null)[] = [];
  for (const r of rows) {
    const p = num(r.price);
    lp.push(p !== null ? Math.log1p(Math.max(p, 0)) : null);
    const c = num(r.rating_count);
    lrc.push(c !== null ? Math.log1p(Math.max(c, 0)) : null);
  }
  let lpSum = 0, lpN = 0, lrcSum = 0, lrcN = 0;
  for (let i = 0; i < n; i++) {
    const a = lp[i], b = lrc[i];
    if (a !== null && a !== undefined) { lpSum += a; lpN += 1; }
    if (b !== null && b !== undefined) { lrcSum += b; lrcN += 1; }
  }
  const lpMean = lpN ? lpSum / lpN : 0;
  const lrcMean = lrcN ? lrcSum / lrcN : 0;

  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    const title = tokenize(r.title);
    const brand = tokenize(r.brand);
    const color = tokenize(r.color);
    const bullets = tokenize(r.bullets);
    const desc = tokenize(r.description);
    const cat = tokenize(r.category);
    const ts = new Set(title), bs = new Set(brand), cs = new Set(color), gs = new Set(cat);
    const xs = new Set([...bullets, ...desc]);
    const anys = new Set([...ts, ...bs, ...cs, ...xs, ...gs]);
    const bmi = bm[i]!;
    let rank = 0;
    for (const v of bm) if (v > bmi) rank += 1;
    let titlePrec = 0;
    if (ts.size > 0) {
      let hit = 0;
      for (const t of ts) if (qset.has(t)) hit += 1;
      titlePrec = hit / ts.size;
    }
    const rating = num(r.rating);
    const lpi = lp[i] ?? null;
    const lrci = lrc[i] ?? null;
    const f = [
      bmi,
      num(r.bm25_title) || 0,
      num(r.bm25_brand) || 0,
      num(r.bm25_color) || 0,
      num(r.bm25_bullets) || 0,
      num(r.bm25_description) || 0,
      maxBm > 0 ? bmi / maxBm : 0,
      1 / (1 + rank),
      maxBmt > 0 ? bmt[i]! / maxBmt : 0,
      q.length,
      coverage(q, ts),
      coverage(q, bs),
      coverage(q, cs),
      coverage(q, xs),
      coverage(q, gs),
      coverage(q, anys),
      titlePrec,
      allQ.length > 0 && (" " + title.join(" ") + " ").includes(qPhrase) ? 1 : 0,
      first !== undefined && ts.has(first) ? 1 : 0,
      subset(brand, allQset),
      subset(color, allQset),
      lpi !== null ? lpi : 0,
      lpi === null ? 1 : 0,
      lpi !== null ? lpi - lpMean : 0,
      rating !== null ? rating : 0,
      rating === null ? 1 : 0,
      lrci !== null ? lrci : 0,
      lrci === null ? 1 : 0,
      lrci !== null ? lrci - lrcMean : 0,
      Math.log1p(title.length),
      Math.log1p(bullets.length),
      Math.log1p(desc.length),
      (num(r.is_book) || 0) !== 0 ? 1 : 0,
    ];
    out.set(f, i * F);
  }
  return out;
}
