/** Monitoring settings from wrangler vars (all optional; defaults are the documented SLOs and retention). */
import type { Bindings } from "../env";

export interface MetricsConfig {
  minuteRetentionS: number;
  hourRetentionS: number;
  availabilityTarget: number;
  latencyTarget: number;
  latencyThresholdMs: number;
  anomalyZ: number;
  anomalyMinVolume: number;
  driftPsiThreshold: number;
  driftMinSamples: number;
}

function num(v: string | undefined, fallback: number, ok: (n: number) => boolean = (n) => n > 0): number {
  if (v === undefined || v.trim() === "") return fallback;
  const n = Number(v);
  return Number.isFinite(n) && ok(n) ? n : fallback;
}

const fraction = (n: number): boolean => n > 0 && n < 1;

export function metricsConfig(env: Bindings): MetricsConfig {
  const v = env;
  return {
    minuteRetentionS: num(v.METRICS_MINUTE_RETENTION_H, 48) * 3600,
    hourRetentionS: num(v.METRICS_HOUR_RETENTION_D, 90) * 86_400,
    availabilityTarget: num(v.SLO_AVAILABILITY_TARGET, 0.995, fraction),
    latencyTarget: num(v.SLO_LATENCY_TARGET, 0.99, fraction),
    latencyThresholdMs: num(v.SLO_LATENCY_THRESHOLD_MS, 300),
    anomalyZ: num(v.ANOMALY_Z_THRESHOLD, 4),
    anomalyMinVolume: num(v.ANOMALY_MIN_VOLUME, 50),
    driftPsiThreshold: num(v.DRIFT_PSI_THRESHOLD, 0.2),
    driftMinSamples: num(v.DRIFT_MIN_SAMPLES, 200),
  };
}
