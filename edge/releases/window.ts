/**
 * The step window's figures from the D1 rollups (live traffic of the release's store only: variant names are its
 * experiment's, and another store's experiment may name a variant alike): per arm (the canary variant and the baseline
 * variant) requests, 5xx, degraded and the p99 of each stage since the step began; feedback since the canary began;
 * and the canary's expected share of the window's requests. Rollups are per minute, so the window starts at the
 * minute holding the step's start. The sample-ratio test counts only the minutes wholly after the isolates switched
 * to this step's weight (a minute that straddles the switch holds traffic whose split no weight predicts: a burst
 * before the switch is not spread over the minute), so early in a step, or in steps shorter than two minutes, it
 * is not evaluated.
 */
import { Sketch } from "../metrics/sketch";
import { MINUTE, minuteOf } from "../metrics/aggregate";
import { sourceFilter } from "../metrics/queries";
import { STEP_STAGES, type ArmFeedback, type ArmFigures, type StepInput, type StepStage } from "./analysis";

export interface WindowSpec {
  /** the release's store: requests, latency and feedback of other stores are not its arms' */
  store: string;
  canaryVariant: string;
  /** the live variants the canary is compared with, together */
  baselineVariants: string[];
  /** ms */
  stepStartedAt: number;
  releaseStartedAt: number;
  /** canary weight (0–1) before the step began and during it */
  previousWeight: number;
  weight: number;
  stepSeconds: number;
  /** ms */
  now: number;
  /** how long after the step began isolates are taken to switch weights (half the config version check) */
  switchLagMs: number;
  minuteRetentionS: number;
}

const emptyArm = (): ArmFigures => ({
  requests: 0,
  status5xx: 0,
  degraded: 0,
  p99: { total: null, light: null, gpu: null },
});
const emptyFeedback = (): ArmFeedback => ({ impressions: 0, clicks: 0, purchases: 0 });

export async function readStepWindow(db: D1Database, spec: WindowSpec): Promise<StepInput> {
  const nowS = Math.floor(spec.now / 1000);
  const from = minuteOf(spec.stepStartedAt);
  const to = minuteOf(spec.now) + MINUTE;
  const fbFrom = minuteOf(spec.releaseStartedAt);
  const arms = [spec.canaryVariant, ...spec.baselineVariants];
  const inArms = `store = ? AND variant IN (${arms.map(() => "?").join(", ")})`;
  const armBinds = [spec.store, ...arms];
  const baselineSet = new Set(spec.baselineVariants);
  const armOf = (variant: unknown): "canary" | "baseline" | undefined =>
    variant === spec.canaryVariant ? "canary" : baselineSet.has(String(variant)) ? "baseline" : undefined;
  const win = await sourceFilter(db, from, to, spec.minuteRetentionS, nowS);
  const fbWin = await sourceFilter(db, fbFrom, to, spec.minuteRetentionS, nowS);
  const [req, lat, fb] = await db.batch<Record<string, number | string>>([
    db
      .prepare(
        `SELECT ts, variant, SUM(requests) AS requests, SUM(status_5xx) AS e, SUM(degraded) AS d FROM metrics_requests
         WHERE ${win.where} AND traffic = 'live' AND ${inArms} GROUP BY ts, variant`,
      )
      .bind(...win.binds, ...armBinds),
    db
      .prepare(
        `SELECT variant, stage, bucket, SUM(count) AS n FROM metrics_latency
         WHERE ${win.where} AND traffic = 'live' AND ${inArms} AND stage IN (${STEP_STAGES.map(() => "?").join(", ")})
         GROUP BY variant, stage, bucket`,
      )
      .bind(...win.binds, ...armBinds, ...STEP_STAGES),
    db
      .prepare(
        `SELECT variant, SUM(impressions) AS impressions, SUM(clicks) AS clicks, SUM(purchases) AS purchases
         FROM metrics_feedback WHERE ${fbWin.where} AND ${inArms} GROUP BY variant`,
      )
      .bind(...fbWin.binds, ...armBinds),
  ]);
  const canary = emptyArm();
  const baseline = emptyArm();
  const figures = { canary, baseline };
  const switchAt = spec.stepStartedAt + spec.switchLagMs;
  const srmCounts = { canary: 0, baseline: 0 };
  for (const row of req?.results ?? []) {
    const name = armOf(row.variant);
    if (!name) continue;
    const a = figures[name];
    const n = Number(row.requests);
    a.requests += n;
    a.status5xx += Number(row.e);
    a.degraded += Number(row.d);
    if (Number(row.ts) * 1000 >= switchAt) srmCounts[name] += n; // a minute wholly under this step's weight
  }
  const sketches = new Map<string, Sketch>();
  for (const row of lat?.results ?? []) {
    const a = armOf(row.variant);
    if (!a) continue;
    const key = `${a}\u0001${String(row.stage)}`;
    let sk = sketches.get(key);
    if (!sk) sketches.set(key, (sk = new Sketch()));
    sk.addBucket(Number(row.bucket), Number(row.n));
  }
  for (const [name, a] of [
    ["canary", canary],
    ["baseline", baseline],
  ] as const)
    for (const stage of STEP_STAGES) {
      const sk = sketches.get(`${name}\u0001${stage}`);
      a.p99[stage as StepStage] = sk && sk.count > 0 ? Math.round(sk.quantile(0.99) * 1000) / 1000 : null;
    }
  const feedback = { canary: emptyFeedback(), baseline: emptyFeedback() };
  for (const row of fb?.results ?? []) {
    const a = armOf(row.variant);
    if (!a) continue;
    const f = feedback[a];
    f.impressions += Number(row.impressions);
    f.clicks += Number(row.clicks);
    f.purchases += Number(row.purchases);
  }
  return {
    canary,
    baseline,
    expectedCanaryShare: spec.weight,
    srmCounts,
    feedback,
    stepMs: spec.stepSeconds * 1000,
    elapsedMs: Math.max(0, spec.now - spec.stepStartedAt),
  };
}
