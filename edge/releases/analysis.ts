/**
 * The step analysis of a release's canary: a pure function from the step window's figures (canary vs baseline,
 * live traffic, edge/releases/window.ts reads them from the D1 rollups) to a decision and the figures behind it.
 *
 * In order: (1) a minimum volume in each arm before anything is decided; (2) sample-ratio mismatch — a chi-square
 * test of the arms' request counts against the split the weights call for (p < RELEASE_SRM_P halts the canary:
 * the split itself is broken, so no other figure can be trusted); (3) guardrails: canary 5xx rate and degraded rate
 * above the baseline's by more than a margin, canary p99 of any stage (total, light, gpu) above baseline p99 × ratio
 * + slack; (4) when feedback events exist, CTR and conversion under a mixture sequential probability ratio test
 * (mSPRT, Johari et al. 2017, normal mixture over the difference of rates): its always-valid p-value may be read at
 * every tick without inflating the error rate; significantly worse → rollback. Guardrails act as soon as the volume
 * is there (a bad canary is rolled back mid-step); promotion waits for the step window to elapse.
 */
import type { ReleaseGuardrails } from "../config";
import { erfc } from "../metrics/stats";

export const STEP_STAGES = ["total", "light", "gpu"] as const;
export type StepStage = (typeof STEP_STAGES)[number];

/** One arm's live figures over the window. p99 is null when the arm has no sample of that stage. */
export interface ArmFigures {
  requests: number;
  status5xx: number;
  degraded: number;
  p99: Record<StepStage, number | null>;
}

/** Feedback of one arm since the canary began (the sequential test accumulates over the whole release). */
export interface ArmFeedback {
  impressions: number;
  clicks: number;
  purchases: number;
}

export interface StepInput {
  canary: ArmFigures;
  baseline: ArmFigures;
  /** the canary's expected share of `srmCounts`, from its weight over time */
  expectedCanaryShare: number;
  /**
   * the requests per arm the sample-ratio test counts (default: the arms' requests). The rollups are per minute, so
   * the window reader counts only minutes wholly under one weight: a minute that straddles a weight change holds
   * traffic whose split the weights cannot predict (a burst before the switch is not spread evenly over the minute).
   */
  srmCounts?: { canary: number; baseline: number };
  feedback: { canary: ArmFeedback; baseline: ArmFeedback };
  /** the step's window length and how much of it has elapsed */
  stepMs: number;
  elapsedMs: number;
}

export type StepDecision = "promote-step" | "hold" | "rollback";

export interface RateComparison {
  canary: number | null;
  baseline: number | null;
  delta: number | null;
  limit: number;
  breached: boolean;
}

export interface SequentialTest {
  metric: "ctr" | "conversion";
  canary: number;
  baseline: number;
  /** always-valid p-value of "no difference" */
  p: number;
  /** "worse" | "better" when p < alpha, else "inconclusive" */
  verdict: "worse" | "better" | "inconclusive";
}

export interface StepFigures {
  requests: { canary: number; baseline: number };
  minRequests: number;
  errorRate: RateComparison;
  degradedRate: RateComparison;
  p99: Record<StepStage, { canary: number | null; baseline: number | null; limit: number | null; breached: boolean }>;
  srm: { expectedShare: number; observedShare: number | null; chi2: number | null; p: number | null; halt: boolean };
  sequential: SequentialTest[];
  window: { elapsedMs: number; stepMs: number; complete: boolean };
}

export interface StepResult {
  decision: StepDecision;
  /** why, in words (every breached guardrail, or what the hold waits for) */
  reasons: string[];
  figures: StepFigures;
}

export { erfc }; // the step analysis's tests read it here

/** Chi-square goodness of fit of two counts to an expected share of the first (1 degree of freedom). */
export function srmTest(canary: number, baseline: number, expectedShare: number): { chi2: number; p: number } | null {
  const n = canary + baseline;
  if (n === 0 || expectedShare <= 0 || expectedShare >= 1) return null;
  const ec = n * expectedShare;
  const eb = n - ec;
  const chi2 = (canary - ec) ** 2 / ec + (baseline - eb) ** 2 / eb;
  return { chi2, p: erfc(Math.sqrt(chi2 / 2)) };
}

/**
 * mSPRT for the difference of two rates (normal approximation, normal mixture N(0, τ²) over the difference):
 * Λ = sqrt(σ² / (σ² + τ²)) · exp(τ² θ̂² / (2 σ² (σ² + τ²))), σ² the variance of θ̂ = rate_c − rate_b.
 * The always-valid p-value is min(1, 1/Λ).
 */
export function msprtP(successC: number, nC: number, successB: number, nB: number, tau: number): number {
  if (nC === 0 || nB === 0) return 1;
  const pc = successC / nC;
  const pb = successB / nB;
  // a floor on each arm's variance keeps a 0/n or n/n arm from making the test certain
  const v = (p: number, n: number) => Math.max(p * (1 - p), 1 / (4 * n)) / n;
  const s2 = v(pc, nC) + v(pb, nB);
  const theta = pc - pb;
  const t2 = tau * tau;
  const logLambda = 0.5 * Math.log(s2 / (s2 + t2)) + (t2 * theta * theta) / (2 * s2 * (s2 + t2));
  return Math.min(1, Math.exp(-logLambda));
}

const rate = (k: number, n: number): number | null => (n > 0 ? k / n : null);

function compareRates(kc: number, nc: number, kb: number, nb: number, limit: number): RateComparison {
  const canary = rate(kc, nc);
  const baseline = rate(kb, nb);
  const delta = canary !== null && baseline !== null ? canary - baseline : null;
  return { canary, baseline, delta, limit, breached: delta !== null && delta > limit };
}

const pct = (x: number | null): string => (x === null ? "n/a" : `${(x * 100).toFixed(2)}%`);

/** The decision of one step, from its window's figures. */
export function analyseStep(input: StepInput, g: ReleaseGuardrails): StepResult {
  const { canary: c, baseline: b } = input;
  const reasons: string[] = [];
  const complete = input.elapsedMs >= input.stepMs;
  const enough = c.requests >= g.minRequests && b.requests >= g.minRequests;

  const sc = input.srmCounts ?? { canary: c.requests, baseline: b.requests };
  const srmRaw = enough ? srmTest(sc.canary, sc.baseline, input.expectedCanaryShare) : null;
  const srm = {
    expectedShare: input.expectedCanaryShare,
    observedShare: rate(sc.canary, sc.canary + sc.baseline),
    chi2: srmRaw?.chi2 ?? null,
    p: srmRaw?.p ?? null,
    halt:
      srmRaw !== null &&
      srmRaw.p < g.srmP &&
      Math.abs(sc.canary / (sc.canary + sc.baseline) - input.expectedCanaryShare) >
        g.srmMinDeviation * input.expectedCanaryShare,
  };
  const errorRate = compareRates(c.status5xx, c.requests, b.status5xx, b.requests, g.max5xxDelta);
  const degradedRate = compareRates(c.degraded, c.requests, b.degraded, b.requests, g.maxDegradedDelta);
  const p99 = {} as StepFigures["p99"];
  for (const stage of STEP_STAGES) {
    const cv = c.p99[stage];
    const bv = b.p99[stage];
    const limit = bv !== null ? bv * g.p99Ratio + g.p99SlackMs : null;
    p99[stage] = { canary: cv, baseline: bv, limit, breached: enough && cv !== null && limit !== null && cv > limit };
  }
  const sequential: SequentialTest[] = [];
  const fc = input.feedback.canary;
  const fb = input.feedback.baseline;
  if (fc.impressions >= g.seqMinImpressions && fb.impressions >= g.seqMinImpressions) {
    for (const [metric, kc, kb] of [
      ["ctr", fc.clicks, fb.clicks],
      ["conversion", fc.purchases, fb.purchases],
    ] as const) {
      const rc = kc / fc.impressions;
      const rb = kb / fb.impressions;
      const p = msprtP(kc, fc.impressions, kb, fb.impressions, g.seqTau);
      sequential.push({
        metric,
        canary: rc,
        baseline: rb,
        p,
        verdict: p < g.seqAlpha ? (rc < rb ? "worse" : "better") : "inconclusive",
      });
    }
  }
  const figures: StepFigures = {
    requests: { canary: c.requests, baseline: b.requests },
    minRequests: g.minRequests,
    errorRate,
    degradedRate,
    p99,
    srm,
    sequential,
    window: { elapsedMs: input.elapsedMs, stepMs: input.stepMs, complete },
  };

  if (!enough) {
    reasons.push(
      `volume: ${c.requests} canary / ${b.requests} baseline live requests, ${g.minRequests} needed in each arm`,
    );
    return { decision: "hold", reasons, figures };
  }
  if (srm.halt)
    reasons.push(
      `sample ratio mismatch: canary share ${pct(srm.observedShare)} vs expected ${pct(srm.expectedShare)} (chi² ${srm.chi2?.toFixed(1)}, p ${srm.p?.toExponential(2)} < ${g.srmP})`,
    );
  if (errorRate.breached)
    reasons.push(
      `5xx rate: canary ${pct(errorRate.canary)} vs baseline ${pct(errorRate.baseline)} (limit +${pct(errorRate.limit)})`,
    );
  if (degradedRate.breached)
    reasons.push(
      `degraded rate: canary ${pct(degradedRate.canary)} vs baseline ${pct(degradedRate.baseline)} (limit +${pct(degradedRate.limit)})`,
    );
  for (const stage of STEP_STAGES) {
    const s = p99[stage];
    if (s.breached)
      reasons.push(
        `p99 ${stage}: canary ${s.canary?.toFixed(1)} ms vs baseline ${s.baseline?.toFixed(1)} ms (limit ${s.limit?.toFixed(1)} ms)`,
      );
  }
  for (const t of sequential)
    if (t.verdict === "worse")
      reasons.push(
        `${t.metric}: canary ${pct(t.canary)} vs baseline ${pct(t.baseline)}, mSPRT p ${t.p.toExponential(2)} < ${g.seqAlpha}`,
      );
  if (reasons.length > 0) return { decision: "rollback", reasons, figures };
  if (!complete) {
    reasons.push(`window: ${Math.floor(input.elapsedMs / 1000)} s of ${Math.floor(input.stepMs / 1000)} s elapsed`);
    return { decision: "hold", reasons, figures };
  }
  reasons.push("every guardrail held over the step window");
  return { decision: "promote-step", reasons, figures };
}
