/**
 * Multi-window, multi-burn-rate SLO alerting (Google SRE workbook, ch. 5): an alert pair fires when both its long
 * and its short window burn the error budget faster than `factor` (burn = bad ratio / (1 − target)).
 */
export interface SliWindow {
  valid: number;
  bad: number;
}

export interface BurnWindowPair {
  name: string;
  longS: number;
  shortS: number;
  factor: number;
  severity: "page" | "ticket";
}

export const BURN_WINDOWS: readonly BurnWindowPair[] = [
  { name: "1h-5m", longS: 3600, shortS: 300, factor: 14.4, severity: "page" },
  { name: "6h-30m", longS: 6 * 3600, shortS: 1800, factor: 6, severity: "page" },
  { name: "3d-6h", longS: 3 * 86_400, shortS: 6 * 3600, factor: 1, severity: "ticket" },
];

export function burnRate(w: SliWindow, target: number): number {
  if (w.valid <= 0) return 0;
  return Math.max(0, w.bad) / w.valid / (1 - target);
}

export interface BurnEvaluation {
  pair: BurnWindowPair;
  longBurn: number;
  shortBurn: number;
  firing: boolean;
}

/** Evaluates every window pair, given the SLI measured over each window length (seconds → window). */
export function evaluateBurnRates(
  windows: ReadonlyMap<number, SliWindow>,
  target: number,
  pairs: readonly BurnWindowPair[] = BURN_WINDOWS,
): BurnEvaluation[] {
  return pairs.map((pair) => {
    const longBurn = burnRate(windows.get(pair.longS) ?? { valid: 0, bad: 0 }, target);
    const shortBurn = burnRate(windows.get(pair.shortS) ?? { valid: 0, bad: 0 }, target);
    return { pair, longBurn, shortBurn, firing: longBurn > pair.factor && shortBurn > pair.factor };
  });
}

/** All window lengths the pairs need. */
export function windowLengths(pairs: readonly BurnWindowPair[] = BURN_WINDOWS): number[] {
  return [...new Set(pairs.flatMap((p) => [p.longS, p.shortS]))].sort((a, b) => a - b);
}
