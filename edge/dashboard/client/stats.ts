/** Number formatting and the Wilson score interval of the variant table. */

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
