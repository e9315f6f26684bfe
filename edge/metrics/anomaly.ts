/**
 * Anomaly detection on per-minute series: exponentially weighted mean and variance of the history, z-score of the
 * newest point. Points below a minimum volume are ignored (neither history nor trigger).
 */
export interface VolumePoint {
  value: number | null;
  volume: number;
}

export interface AnomalyOptions {
  alpha: number;
  zThreshold: number;
  minVolume: number;
  minHistory: number;
  minStd: number;
}

export interface AnomalyResult {
  firing: boolean;
  z: number | null;
  mean: number | null;
  std: number | null;
  latest: number | null;
  reason?: string;
}

export function ewmaStats(values: readonly number[], alpha: number): { mean: number; variance: number } {
  let mean = values[0] ?? 0;
  let variance = 0;
  for (let i = 1; i < values.length; i++) {
    const x = values[i]!;
    const diff = x - mean;
    const incr = alpha * diff;
    mean += incr;
    variance = (1 - alpha) * (variance + diff * incr);
  }
  return { mean, variance };
}

/** `history` oldest → newest, `latest` the point under test. Fires only upwards (more errors, slower GPU). */
export function detectAnomaly(history: readonly VolumePoint[], latest: VolumePoint, o: AnomalyOptions): AnomalyResult {
  if (latest.value === null || latest.volume < o.minVolume)
    return { firing: false, z: null, mean: null, std: null, latest: latest.value, reason: "low_volume" };
  const values = history.filter((p) => p.value !== null && p.volume >= o.minVolume).map((p) => p.value as number);
  if (values.length < o.minHistory)
    return { firing: false, z: null, mean: null, std: null, latest: latest.value, reason: "short_history" };
  const { mean, variance } = ewmaStats(values, o.alpha);
  const std = Math.max(Math.sqrt(variance), o.minStd);
  const z = (latest.value - mean) / std;
  return { firing: z > o.zThreshold, z, mean, std, latest: latest.value };
}
