/**
 * Mergeable log-bucketed histogram (DDSketch, Masson et al. 2019): a value v > 0 falls in bucket
 * i = ceil(log_γ v) with γ = (1+α)/(1−α); reporting 2γ^i/(γ+1) for that bucket is within relative error α of
 * every value in it. Buckets are plain integer counts, so merging is addition (associative and commutative) and
 * the same keys can be summed by SQL upserts in D1.
 *
 * Keys are signed so that one encoding serves latencies (≥ 0) and model scores (any sign):
 * key 0 = |v| < MIN_INDEXABLE, key = +(i + KEY_OFFSET) for v > 0, key = −(i + KEY_OFFSET) for v < 0.
 */

/** Relative accuracy promised for quantiles (2 %, within the ≤ 5 % the spec asks). */
export const ALPHA = 0.02;
export const GAMMA = (1 + ALPHA) / (1 - ALPHA);
const LN_GAMMA = Math.log(GAMMA);
/** Values with |v| below this collapse into the zero bucket (1 ns for latencies in ms). */
export const MIN_INDEXABLE = 1e-6;
/** Shifts log indexes (≥ −700 for |v| ≥ 1e-6 at this γ) to strictly positive keys. */
const KEY_OFFSET = 10_000;

/** Bucket key of one value. */
export function keyOf(v: number): number {
  if (!Number.isFinite(v)) return 0;
  const a = Math.abs(v);
  if (a < MIN_INDEXABLE) return 0;
  const i = Math.ceil(Math.log(a) / LN_GAMMA) + KEY_OFFSET;
  return v > 0 ? i : -i;
}

/** The value reported for a bucket key (relative error ≤ α to any value mapped to it). */
export function valueOf(key: number): number {
  if (key === 0) return 0;
  const i = Math.abs(key) - KEY_OFFSET;
  const v = (2 * Math.pow(GAMMA, i)) / (GAMMA + 1);
  return key > 0 ? v : -v;
}

/** Order of keys by the values they stand for (negative keys: larger |key| = more negative). */
function compareKeys(a: number, b: number): number {
  return valueOf(a) - valueOf(b);
}

export class Sketch {
  readonly bins = new Map<number, number>();
  count = 0;
  sum = 0;

  add(v: number, n = 1): void {
    if (!Number.isFinite(v) || n <= 0) return;
    const k = keyOf(v);
    this.bins.set(k, (this.bins.get(k) ?? 0) + n);
    this.count += n;
    this.sum += v * n;
  }

  /** Adds a bucket count read back from storage. */
  addBucket(key: number, n: number): void {
    if (n <= 0) return;
    this.bins.set(key, (this.bins.get(key) ?? 0) + n);
    this.count += n;
    this.sum += valueOf(key) * n;
  }

  /** In-place merge; returns this. */
  merge(other: Sketch): this {
    for (const [k, n] of other.bins) this.bins.set(k, (this.bins.get(k) ?? 0) + n);
    this.count += other.count;
    this.sum += other.sum;
    return this;
  }

  clone(): Sketch {
    return new Sketch().merge(this);
  }

  /** Buckets in ascending value order. */
  sortedBuckets(): Array<[number, number]> {
    return [...this.bins.entries()].sort((a, b) => compareKeys(a[0], b[0]));
  }

  /**
   * q-quantile (0 ≤ q ≤ 1) with the lower-rank convention: the element at 0-based rank ⌊q·(n−1)⌋ of the sorted
   * data lies in the returned bucket, so the answer is within relative error α of it. NaN when empty.
   */
  quantile(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.floor(Math.min(1, Math.max(0, q)) * (this.count - 1));
    let seen = 0;
    const sorted = this.sortedBuckets();
    for (const [k, n] of sorted) {
      seen += n;
      if (seen > rank) return valueOf(k);
    }
    const last = sorted[sorted.length - 1];
    return last ? valueOf(last[0]) : Number.NaN;
  }

  /** Number of recorded values ≤ x (bucket-exact up to the bucket holding x, which counts if its value ≤ x). */
  countAtMost(x: number): number {
    let c = 0;
    for (const [k, n] of this.bins) if (valueOf(k) <= x) c += n;
    return c;
  }

  static fromBuckets(rows: Iterable<{ bucket: number; count: number }>): Sketch {
    const s = new Sketch();
    for (const r of rows) s.addBucket(r.bucket, r.count);
    return s;
  }
}
