/**
 * The recs light ranker's 29 features per (user, candidate): a port of vitrine_gpu/recs/features.py, FEATURE_NAMES
 * order = the ONNX input order (CONTRACTS.md C5b). Source scores and ranks (1/log2(1 + rank), 0 = not proposed),
 * the user's history rows, the user's activity, item stats, co-purchase similarity to the last basket (or the
 * page/cart items), and whether the item sold before the cut. Computed in float64 and stored as float32;
 * test/edge/recommend.test.ts checks them against Python's on test/fixtures/recs-features-parity.json (≤ 1e-5).
 */
import type { UserHistory } from "./history";
import type { Candidates } from "./sources/merge";
import { SOURCES } from "./sources/scored";
import { neighboursOf, type ItemTables } from "./tables";

export const RECS_FEATURE_NAMES = [
  ...SOURCES.map((s) => `score_${s}`),
  ...SOURCES.map((s) => `rank_${s}`),
  "in_history",
  "log_invoices_with_item",
  "share_of_invoices",
  "log_qty",
  "log_days_since_item",
  "overdue",
  "log_user_invoices",
  "log_user_items",
  "log_days_since_user_last",
  "log_user_mean_gap",
  "log_pop_all",
  "log_pop_recent",
  "log_trend",
  "repeat_rate",
  "log_price",
  "basket_cooc",
  "item_sold",
] as const;
export const NUM_RECS_FEATURES = RECS_FEATURE_NAMES.length;

const LOG_SCORES = new Set<string>(["repeat", "trending"]);

/** Row-major [candidates × 29]. `now` is the model version's clock (days). */
export function recsFeatures(
  t: ItemTables,
  now: number,
  h: UserHistory | null,
  c: Candidates,
  context: readonly number[],
): Float32Array {
  const n = c.items.length;
  const F = NUM_RECS_FEATURES;
  const x = new Float32Array(n * F);
  if (n === 0) return x;
  let col = 0;
  for (const s of SOURCES) {
    const sc = c.scores[s];
    const log = LOG_SCORES.has(s);
    for (let r = 0; r < n; r++) x[r * F + col] = log ? Math.log1p(sc[r]!) : sc[r]!;
    col++;
  }
  for (const s of SOURCES) {
    const rk = c.ranks[s];
    for (let r = 0; r < n; r++) {
      const v = rk[r]!;
      x[r * F + col] = v > 0 ? 1 / Math.log2(1 + Math.max(v, 1)) : 0;
    }
    col++;
  }
  const pos = new Map<number, number>();
  if (h) h.items.forEach((i, j) => pos.set(i, j));
  const userGap = h ? (h.nInvoices > 1 ? (h.lastTs - h.firstTs) / Math.max(h.nInvoices - 1, 1) : 365) : 0;
  // basket co-occurrence: the page/cart items, else the user's latest basket
  const basket = context.length > 0 ? context : h ? Array.from(h.lastBasket) : [];
  const cooc = new Map<number, number>();
  if (basket.length > 0) {
    const acc = new Float32Array(1);
    for (const b of basket) {
      const { ids, sims } = neighboursOf(t, "copurchase", b);
      for (let r = 0; r < ids.length; r++) {
        acc[0] = cooc.get(ids[r]!) ?? 0;
        acc[0] = acc[0] + sims[r]!;
        cooc.set(ids[r]!, acc[0]);
      }
    }
  }
  for (let r = 0; r < n; r++) {
    const item = c.items[r]!;
    const o = r * F + col;
    const j = pos.get(item);
    if (h && j !== undefined) {
      const nj = h.n[j]!;
      const since = Math.fround(Math.max(now - h.last[j]!, 0));
      const span = Math.max(h.last[j]! - h.firstTs, 0);
      const gap = nj > 1 ? span / Math.max(nj - 1, 1) : Math.max(now - h.firstTs, 1);
      x[o] = 1;
      x[o + 1] = Math.log1p(nj);
      x[o + 2] = nj / h.nInvoices;
      x[o + 3] = Math.log1p(h.qty[j]!);
      x[o + 4] = Math.log1p(since);
      x[o + 5] = Math.min(since / Math.max(gap, 1), 20);
    }
    if (h) {
      x[o + 6] = Math.log1p(h.nInvoices);
      x[o + 7] = Math.log1p(h.items.length);
      x[o + 8] = Math.log1p(Math.max(now - h.lastTs, 0));
      x[o + 9] = Math.log1p(userGap);
    }
    x[o + 10] = Math.log1p(t.popAll[item]!);
    x[o + 11] = Math.log1p(t.popRecent[item]!);
    x[o + 12] = Math.log1p(t.trend[item]!);
    x[o + 13] = t.repeatRate[item]!;
    x[o + 14] = Math.log1p(t.price[item]!);
    x[o + 15] = cooc.get(item) ?? 0;
    x[o + 16] = t.sold[item]!;
  }
  return x;
}
