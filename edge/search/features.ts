/**
 * Light-model features (CONTRACTS.md C2): the TypeScript twin of gpu-tier/vitrine_gpu/search/features.py. Both compute every
 * value in float64 in the same order and cast to float32 at the end; test/edge/features-parity.test.ts checks the
 * two agree (≤ 1e-5) on a fixture written by Python. Change both files together.
 *
 * Rows carry the columns of edge/search/retrieve.sql / candidates.sql (bm25* already negated: higher is better;
 * candidates the query does not match have bm25* = 0). Product text is not tokenised per request: the catalog
 * build precomputes each product's tokens as space-joined strings (`TokenColumns`, Python `token_columns`), and
 * coverage, phrase and length features are substring tests and counts on them. A row whose token columns are null
 * (loaded before migration 0005) gets them computed from the raw text here, with the same result. Python computes
 * its features from the raw text, so the parity fixture also checks the precomputed columns.
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
  /** precomputed token columns (see TokenColumns); null = not precomputed */
  title_terms: string | null;
  brand_terms: string | null;
  color_terms: string | null;
  category_terms: string | null;
  text_terms: string | null;
  title_unique_tokens: number | null;
  bullets_tokens: number | null;
  description_tokens: number | null;
}

/**
 * The token columns the catalog build stores per product (Python: features.token_columns). Tokens never contain
 * spaces, so a field's tokens joined with single spaces ('' when none) is lossless.
 */
export interface TokenColumns {
  /** the field's tokens in order, repeats kept */
  title_terms: string;
  brand_terms: string;
  color_terms: string;
  category_terms: string;
  /** the unique tokens of bullets then description, in order of first appearance */
  text_terms: string;
  /** distinct title tokens (title_precision's denominator) */
  title_unique_tokens: number;
  /** token counts, repeats included */
  bullets_tokens: number;
  description_tokens: number;
}

/** The product text fields the token columns are computed from. */
export type ProductText = Pick<CandidateRow, "title" | "brand" | "color" | "bullets" | "description" | "category">;

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

/** A product's token columns, as the catalog build computes them (twin of Python token_columns). */
export function tokenColumns(p: ProductText): TokenColumns {
  const t = tokenize(p.title);
  const b = tokenize(p.bullets);
  const d = tokenize(p.description);
  return {
    title_terms: t.join(" "),
    brand_terms: tokenize(p.brand).join(" "),
    color_terms: tokenize(p.color).join(" "),
    category_terms: tokenize(p.category).join(" "),
    text_terms: [...new Set([...b, ...d])].join(" "),
    title_unique_tokens: new Set(t).size,
    bullets_tokens: b.length,
    description_tokens: d.length,
  };
}

/** The row's token columns: the precomputed ones, else computed from its raw text (rows loaded before 0005). */
function rowTokens(r: CandidateRow): TokenColumns {
  const { title_terms, brand_terms, color_terms, category_terms, text_terms } = r;
  const nu = num(r.title_unique_tokens),
    nb = num(r.bullets_tokens),
    nd = num(r.description_tokens);
  if (
    title_terms == null ||
    brand_terms == null ||
    color_terms == null ||
    category_terms == null ||
    text_terms == null ||
    nu === null ||
    nb === null ||
    nd === null
  )
    return tokenColumns(r);
  return {
    title_terms,
    brand_terms,
    color_terms,
    category_terms,
    text_terms,
    title_unique_tokens: nu,
    bullets_tokens: nb,
    description_tokens: nd,
  };
}

/**
 * Whether the space-joined token list `terms` contains `t`: one token, or several joined with single spaces (then:
 * as contiguous tokens). Allocation-free.
 */
function hasTerm(terms: string, t: string): boolean {
  if (t === "") return false;
  for (let i = terms.indexOf(t); i >= 0; i = terms.indexOf(t, i + 1)) {
    const end = i + t.length;
    if ((i === 0 || terms.charCodeAt(i - 1) === 32) && (end === terms.length || terms.charCodeAt(end) === 32))
      return true;
  }
  return false;
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

// Token columns are read in place (hasTerm above, the helpers below), never split: per request, a few string scans
// per row and no allocation.

/** End of the token starting at s of a space-joined token list. */
function tokenEnd(terms: string, s: number): number {
  const e = terms.indexOf(" ", s);
  return e < 0 ? terms.length : e;
}

/** Number of tokens in a space-joined token list. */
function termCount(terms: string): number {
  if (terms === "") return 0;
  let n = 1;
  for (let i = terms.indexOf(" "); i >= 0; i = terms.indexOf(" ", i + 1)) n += 1;
  return n;
}

/** 1 when the space-joined token list is non-empty and all its tokens are among `tokens`, else 0. */
function subset(terms: string, tokens: readonly string[]): number {
  if (terms === "") return 0;
  for (let s = 0; s < terms.length;) {
    const e = tokenEnd(terms, s);
    let found = false;
    for (const t of tokens)
      if (t.length === e - s && terms.startsWith(t, s)) {
        found = true;
        break;
      }
    if (!found) return 0;
    s = e + 1;
  }
  return 1;
}

/** Row-major float32 matrix [rows.length × FEATURE_NAMES.length], rows in the given order. */
export function computeFeatures(query: string, rows: readonly CandidateRow[]): Float32Array {
  const F = FEATURE_NAMES.length;
  const n = rows.length;
  const out = new Float32Array(n * F);
  if (n === 0) return out;
  const q = queryTokens(query);
  const allQ = tokenize(query);
  const first = allQ.length > 0 ? allQ[0] : undefined;
  const qPhrase = allQ.join(" "); // Python: " q1 q2 " in " t1 t2 ... ", i.e. contiguous title tokens
  const cov = (hit: number) => (q.length > 0 ? hit / q.length : 0);

  const bm = rows.map((r) => num(r.bm25) || 0);
  const bmt = rows.map((r) => num(r.bm25_title) || 0);
  const maxBm = Math.max(...bm);
  const maxBmt = Math.max(...bmt);
  const bmSorted = Float64Array.from(bm).sort(); // ascending: rank = how many are strictly greater

  const lp: (number | null)[] = [];
  const lrc: (number | null)[] = [];
  for (const r of rows) {
    const p = num(r.price);
    lp.push(p !== null ? Math.log1p(Math.max(p, 0)) : null);
    const c = num(r.rating_count);
    lrc.push(c !== null ? Math.log1p(Math.max(c, 0)) : null);
  }
  let lpSum = 0,
    lpN = 0,
    lrcSum = 0,
    lrcN = 0;
  for (let i = 0; i < n; i++) {
    const a = lp[i],
      b = lrc[i];
    if (a !== null && a !== undefined) {
      lpSum += a;
      lpN += 1;
    }
    if (b !== null && b !== undefined) {
      lrcSum += b;
      lrcN += 1;
    }
  }
  const lpMean = lpN ? lpSum / lpN : 0;
  const lrcMean = lrcN ? lrcSum / lrcN : 0;

  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    const tk = rowTokens(r);
    const title = tk.title_terms;
    // query-token coverage of each field and of their union (Python: _coverage over token sets)
    let hTitle = 0,
      hBrand = 0,
      hColor = 0,
      hText = 0,
      hCat = 0,
      hAny = 0;
    for (const t of q) {
      const a = hasTerm(title, t),
        b = hasTerm(tk.brand_terms, t),
        c = hasTerm(tk.color_terms, t);
      const x = hasTerm(tk.text_terms, t),
        g = hasTerm(tk.category_terms, t);
      if (a) hTitle += 1;
      if (b) hBrand += 1;
      if (c) hColor += 1;
      if (x) hText += 1;
      if (g) hCat += 1;
      if (a || b || c || x || g) hAny += 1;
    }
    const bmi = bm[i]!;
    let lo = 0,
      hi = n; // first index of bmSorted whose value is > bmi
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (bmSorted[mid]! > bmi) hi = mid;
      else lo = mid + 1;
    }
    const rank = n - lo;
    // unique title tokens that are query tokens = query tokens found in the title (hTitle)
    const titlePrec = tk.title_unique_tokens > 0 ? hTitle / tk.title_unique_tokens : 0;
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
      cov(hTitle),
      cov(hBrand),
      cov(hColor),
      cov(hText),
      cov(hCat),
      cov(hAny),
      titlePrec,
      allQ.length > 0 && hasTerm(title, qPhrase) ? 1 : 0,
      first !== undefined && hasTerm(title, first) ? 1 : 0,
      subset(tk.brand_terms, allQ),
      subset(tk.color_terms, allQ),
      lpi !== null ? lpi : 0,
      lpi === null ? 1 : 0,
      lpi !== null ? lpi - lpMean : 0,
      rating !== null ? rating : 0,
      rating === null ? 1 : 0,
      lrci !== null ? lrci : 0,
      lrci === null ? 1 : 0,
      lrci !== null ? lrci - lrcMean : 0,
      Math.log1p(termCount(title)),
      Math.log1p(tk.bullets_tokens),
      Math.log1p(tk.description_tokens),
      (num(r.is_book) || 0) !== 0 ? 1 : 0,
    ];
    for (let k = 0, o = i * F; k < F; k++) out[o + k] = f[k]!; // cheaper than out.set(f) from a JS array
  }
  return out;
}
