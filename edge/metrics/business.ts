/**
 * Business alerts, per store — the numbers a storefront notices first. Live traffic only: drill probes (their own
 * `traffic = drill` series) never move a baseline nor trip a rule; feedback events have no drill counterpart.
 *
 * - **Traffic drop** (`traffic:<store>`, page): the store's requests a minute against a learned baseline — an EWMA
 *   (α = 0.05, ~20-minute memory) of its last 3 hours of minutes, with a band of `ANOMALY_Z_THRESHOLD` standard
 *   deviations (the EWMA variance, at least the Poisson √mean). Fires when each of the last 3 complete minutes is
 *   below the band, once the baseline has ≥ 30 minutes and ≥ `TRAFFIC_DROP_MIN_RPM` requests a minute (a quiet
 *   store's zero minutes are not an outage).
 * - **CTR / conversion drop** (`ctr:<store>`, `conversion:<store>`, ticket): clicks (purchases) per impression over
 *   the last hour against the store's trailing week before it, a one-sided two-proportion z-test (binomial counts,
 *   pooled variance); fires when p < `FEEDBACK_DROP_P` (0.001: the rule is read every minute on overlapping windows)
 *   with at least `FEEDBACK_DROP_MIN_IMPRESSIONS` impressions in both windows. A rate whose count exceeds its
 *   impressions (purchases without impressions) supports no binomial test and is not judged.
 */
import type { MetricsConfig } from "../config";
import { HOUR, MINUTE } from "./aggregate";
import { ewmaStats } from "./anomaly";
import type { Condition } from "./condition";
import { queryCells } from "./queries";
import { FEEDBACK_COUNTERS, addCounters, zeroCounters } from "./rollups";
import { normalSf } from "./stats";

const TRAFFIC_HISTORY_MIN = 180;
const TRAFFIC_SUSTAIN_MIN = 3;
const TRAFFIC_MIN_HISTORY_MIN = 30;
const TRAFFIC_ALPHA = 0.05;
const FEEDBACK_WINDOW_S = HOUR;
const FEEDBACK_BASELINE_S = 7 * 86_400;

export interface TrafficBand {
  active: boolean;
  judged: boolean;
  mean: number;
  std: number;
  lower: number;
  recent: number[];
}

/** `counts`: requests per minute, oldest first; the last `sustain` are judged against the EWMA band of the rest. */
export function trafficBand(counts: readonly number[], z: number, minRpm: number, sustain = TRAFFIC_SUSTAIN_MIN) {
  const first = counts.findIndex((n) => n > 0);
  const history = first < 0 ? [] : counts.slice(first, counts.length - sustain);
  const recent = counts.slice(counts.length - sustain);
  const { mean, variance } = ewmaStats(history, TRAFFIC_ALPHA);
  const std = Math.max(Math.sqrt(variance), Math.sqrt(Math.max(mean, 1)));
  const lower = mean - z * std;
  const judged = history.length >= TRAFFIC_MIN_HISTORY_MIN && mean >= minRpm;
  return { active: judged && recent.every((n) => n < lower), judged, mean, std, lower, recent } satisfies TrafficBand;
}

export async function trafficDropConditions(db: D1Database, cfg: MetricsConfig, now: number): Promise<Condition[]> {
  const end = now - (now % MINUTE); // the current minute is incomplete
  const n = TRAFFIC_HISTORY_MIN + TRAFFIC_SUSTAIN_MIN;
  const from = end - n * MINUTE;
  const q = { from, to: end, step: MINUTE, groupBy: "store" as const, traffic: "live" as const };
  const { cells } = await queryCells(db, q, cfg.minuteRetentionS, now);
  return [...cells].map(([store, byStep]) => {
    const counts = Array.from({ length: n }, (_, b) => byStep.get(b)?.req.requests ?? 0);
    const r = trafficBand(counts, cfg.anomalyZ, cfg.trafficDropMinRpm);
    const fmt = (v: number) => v.toFixed(1);
    return {
      id: `traffic:${store}`,
      rule: "business_traffic_drop",
      kind: "business" as const,
      severity: "page" as const,
      active: r.active,
      value: Math.max(...r.recent),
      threshold: r.judged ? r.lower : null,
      forS: 0,
      summary: r.judged
        ? `store ${store}: ${r.recent.join(", ")} requests/min in the last ${TRAFFIC_SUSTAIN_MIN} minutes vs a learned baseline of ${fmt(r.mean)} ± ${fmt(r.std)} (band floor ${fmt(r.lower)}, z ${cfg.anomalyZ})`
        : `store ${store}: baseline ${fmt(r.mean)} requests/min, too short or below ${cfg.trafficDropMinRpm}/min to judge`,
      labels: { store, metric: "requests_per_minute" },
    };
  });
}

export interface RateDrop {
  judged: boolean;
  baseline: number | null;
  recent: number | null;
  z: number | null;
  p: number | null;
}

/** One-sided two-proportion z-test that the recent rate x1/n1 is below the baseline x0/n0 (pooled variance). */
export function rateDrop(x0: number, n0: number, x1: number, n1: number, minN: number): RateDrop {
  if (n0 < minN || n1 < minN || x0 > n0 || x1 > n1)
    return { judged: false, baseline: n0 > 0 ? x0 / n0 : null, recent: n1 > 0 ? x1 / n1 : null, z: null, p: null };
  const p0 = x0 / n0;
  const p1 = x1 / n1;
  const pooled = (x0 + x1) / (n0 + n1);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n0 + 1 / n1));
  if (se === 0) return { judged: false, baseline: p0, recent: p1, z: null, p: null };
  const z = (p0 - p1) / se;
  return { judged: true, baseline: p0, recent: p1, z, p: normalSf(z) };
}

export async function feedbackDropConditions(db: D1Database, cfg: MetricsConfig, now: number): Promise<Condition[]> {
  const end = now - (now % MINUTE);
  const recentFrom = end - FEEDBACK_WINDOW_S;
  // minute buckets (every bound minute-aligned, so each row falls in a whole bucket), summed per window
  const from = recentFrom - FEEDBACK_BASELINE_S;
  const q = { from, to: end, step: MINUTE, groupBy: "store" as const };
  const { cells } = await queryCells(db, q, cfg.minuteRetentionS, now);
  const out: Condition[] = [];
  for (const [store, byStep] of cells) {
    const week = zeroCounters(FEEDBACK_COUNTERS);
    const hour = zeroCounters(FEEDBACK_COUNTERS);
    for (const [b, c] of byStep) addCounters(from + b * MINUTE < recentFrom ? week : hour, c.fb, FEEDBACK_COUNTERS);
    if (week.impressions === 0) continue; // a store without a week of feedback has nothing to compare
    for (const [metric, field] of [
      ["ctr", "clicks"],
      ["conversion", "purchases"],
    ] as const) {
      const r = rateDrop(week[field], week.impressions, hour[field], hour.impressions, cfg.feedbackDropMinImpressions);
      const pct = (v: number | null) => (v === null ? "n/a" : `${(v * 100).toFixed(2)}%`);
      out.push({
        id: `${metric}:${store}`,
        rule: `business_${metric}_drop`,
        kind: "business",
        severity: "ticket",
        active: r.p !== null && r.p < cfg.feedbackDropP,
        value: r.p,
        threshold: cfg.feedbackDropP,
        forS: 0,
        summary: r.judged
          ? `store ${store}: ${metric} ${pct(r.recent)} over the last hour (${hour[field]}/${hour.impressions}) vs ${pct(r.baseline)} over the trailing week (${week[field]}/${week.impressions}); z ${r.z!.toFixed(2)}, p ${r.p!.toExponential(2)} (fires below ${cfg.feedbackDropP})`
          : `store ${store}: ${metric} not judged (impressions ${hour.impressions} last hour, ${week.impressions} week; at least ${cfg.feedbackDropMinImpressions} each, counts within impressions)`,
        labels: { store, metric },
      });
    }
  }
  return out;
}
