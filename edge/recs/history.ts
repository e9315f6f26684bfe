/**
 * A user's purchase history as D1 holds it (`recs_history`: invoices holding the item `n`, day of the last purchase,
 * quantity; purchase events update it in real time) → the per-user view the sources and features read. What the
 * pipeline derives from the full invoice log is reconstructed from these rows exactly as Python's edge view does
 * (vitrine_gpu/recs/edge_view.py; the parity fixture checks both):
 *  - recency-decayed count = n × exp(−(now − last) / τ);
 *  - invoices = max(largest n, distinct last-purchase days); first purchase = the earliest last day;
 *  - the latest basket = the items whose last day is the latest.
 */

export interface HistoryRow {
  itemId: string;
  n: number;
  lastDay: number;
  qty: number;
}

export interface UserHistory {
  /** item indices, ascending */
  items: Int32Array;
  n: Float32Array;
  last: Float64Array;
  decay: Float32Array;
  qty: Float32Array;
  nInvoices: number;
  firstTs: number;
  lastTs: number;
  lastBasket: Int32Array;
}

/** null when none of the rows is an item of the version's tables (`index`). */
export function userHistory(
  rows: readonly HistoryRow[],
  index: ReadonlyMap<string, number>,
  now: number,
  tauDays: number,
): UserHistory | null {
  const known = rows
    .flatMap((r) => {
      const i = index.get(r.itemId);
      return i === undefined ? [] : [{ i, r }];
    })
    .sort((a, b) => a.i - b.i);
  if (known.length === 0) return null;
  const items = Int32Array.from(known, (k) => k.i);
  const n = Float32Array.from(known, (k) => k.r.n);
  const last = Float64Array.from(known, (k) => k.r.lastDay);
  const qty = Float32Array.from(known, (k) => k.r.qty);
  const decay = Float32Array.from(known, (k, j) => n[j]! * Math.exp(-(now - k.r.lastDay) / tauDays));
  let lastTs = -Infinity;
  let firstTs = Infinity;
  let maxN = 0;
  for (let j = 0; j < items.length; j++) {
    lastTs = Math.max(lastTs, last[j]!);
    firstTs = Math.min(firstTs, last[j]!);
    maxN = Math.max(maxN, n[j]!);
  }
  const nInvoices = Math.max(Math.trunc(maxN), new Set(last).size);
  const lastBasket = items.filter((_, j) => last[j] === lastTs);
  return { items, n, last, decay, qty, nInvoices, firstTs, lastTs, lastBasket };
}
