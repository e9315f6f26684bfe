/**
 * The fleet's learned round trips, read back from D1: per (colo, region), the lowest minute mean network time of the
 * last hour of metrics_geo minute rows (every isolate's successful calls, rolled up by the metrics flush). The lowest
 * minute, not the hour's mean, for the reason the isolate's estimate is a low quantile (edge/gpu/rtt.ts): stalls
 * only add to a sample, so a minute of stalls (a loaded tier, a busy edge) must not move the fleet's estimate; a real
 * route change moves it within the hour (and the isolates' own estimates within a window of samples). An isolate
 * keeps the last read for GPU_RTT_TTL_S; the ranking routes refresh it in the background (never on a request's path).
 */
import { config } from "../config";
import type { Bindings } from "../env";

const WINDOW_S = 3600;
/** samples a (colo, region) needs in the window before the fleet's estimate is trusted over the configured table */
export const FLEET_MIN_SAMPLES = 20;

let learned = new Map<string, number>();
let loadedAt = 0;
let loading: Promise<void> | null = null;

/** The fleet's learned round trip (ms) from a colo to a region; undefined: too few samples (or none read yet). */
export function fleetRtt(colo: string, region: string): number | undefined {
  return learned.get(`${colo}|${region}`);
}

export async function loadFleetRtt(db: D1Database, nowS = Math.floor(Date.now() / 1000)): Promise<void> {
  const { results } = await db
    .prepare(
      `SELECT colo, region, MIN(rtt_sum_ms / rtt_samples) AS ms FROM metrics_geo
       WHERE res = 60 AND ts >= ? AND traffic = 'live' AND rtt_samples > 0
       GROUP BY colo, region HAVING SUM(rtt_samples) >= ?`,
    )
    .bind(nowS - WINDOW_S, FLEET_MIN_SAMPLES)
    .all<{ colo: string; region: string; ms: number }>();
  learned = new Map(results.map((r) => [`${r.colo}|${r.region}`, Number(r.ms)]));
  loadedAt = Date.now();
}

/** Starts a background re-read when the last one is older than GPU_RTT_TTL_S (single-flight per isolate). */
export function refreshFleetRtt(env: Bindings, ctx: ExecutionContext): void {
  if (loading || Date.now() - loadedAt < config(env).gpu.rttTtlMs) return;
  loadedAt = Date.now(); // a failed read is retried after the TTL, not on every request
  loading = loadFleetRtt(env.DB)
    .catch((err: unknown) => console.error("fleet rtt read", err))
    .finally(() => {
      loading = null;
    });
  ctx.waitUntil(loading);
}

/** Test hook: forget what was read. */
export function resetFleetRttForTests(): void {
  learned = new Map();
  loadedAt = 0;
}
