/**
 * A rate shown with what supports it (the dashboard's variant table, GET /admin/experiments): k events over n
 * trials, its 95 % Wilson score interval, and whether the denominator can carry it. A rate is "n/a" — shown with its
 * counts, never as a number — when n is below MIN_RATE_DENOMINATOR or k exceeds n (conversion counts purchases over
 * impressions: 4 purchases over 1 impression is no conversion rate of 4.000). Pure: the worker and the dashboard's
 * browser script (bundled by esbuild) import this one module.
 */

/** the fewest trials (impressions) a rate is shown for */
export const MIN_RATE_DENOMINATOR = 20;

export interface RateFigure {
  /** successes (clicks, purchases) */
  k: number;
  /** trials (impressions) */
  n: number;
  /** k / n, or null when the denominator cannot support it */
  rate: number | null;
  /** 95 % Wilson interval, or [null, null] when the rate is n/a */
  ci: [number | null, number | null];
  /** why the rate is n/a; absent when it is shown */
  unsupported?: string;
}

/** `v` with `digits` decimals; "–" for a missing figure */
export function fmt(v: number | null | undefined, digits = 3): string {
  return v === null || v === undefined || Number.isNaN(v) ? "–" : v.toFixed(digits);
}

/** 95 % Wilson score interval of k successes in n trials; [null, null] when n is 0 */
export function wilson(k: number, n: number): [number | null, number | null] {
  if (!n) return [null, null];
  const z = 1.96;
  const p = k / n;
  const den = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / den;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / den;
  return [Math.max(0, c - h), Math.min(1, c + h)];
}

/** k over n as a RateFigure: n/a below `minN` trials or when k > n. */
export function rateFigure(k: number, n: number, minN = MIN_RATE_DENOMINATOR): RateFigure {
  if (k > n) return { k, n, rate: null, ci: [null, null], unsupported: `${k} exceeds its denominator ${n}` };
  if (n < minN) return { k, n, rate: null, ci: [null, null], unsupported: `n = ${n} is below ${minN}` };
  return { k, n, rate: k / n, ci: wilson(k, n) };
}

/** "0.125 [0.101, 0.153]", or "n/a (4/1)" when the denominator cannot support the rate. */
export function rateText(f: RateFigure, digits = 3): string {
  if (f.rate === null) return `n/a (${f.k}/${f.n})`;
  return `${fmt(f.rate, digits)} [${fmt(f.ci[0], digits)}, ${fmt(f.ci[1], digits)}]`;
}
