/**
 * Round-trip estimates per (edge location, GPU region): the configured table (edge/gpu/rtt-table.ts) as the prior,
 * what the fleet learned (the per-minute rollup in D1, read back on a TTL: edge/gpu/rtt-store.ts) over it, and this
 * isolate's own estimate from its calls over both (its weight decaying while no sample comes). A sample is the
 * network part of one successful call: the call's time minus the compute time the GPU tier reports (`timing_ms.total`
 * of the C4 answer, queueing included).
 *
 * The isolate's estimate is a low quantile (RTT_QUANTILE) of its last GPU_RTT_WINDOW samples, not a mean: what the
 * tier's clock does not see — the time a request waits before the tier's handler starts (a busy event loop, a
 * starved CPU), the edge's own stalls, the answer's serialisation — only ever adds to a sample, while the wire's round
 * trip is its floor. A mean (the EWMA this replaced) counted those stalls as distance and pushed healthy near regions
 * out of reach on a loaded host; a low quantile follows the wire and still follows a real route change within one
 * window of samples.
 */
import { COLO_COORDS, configuredRtt, type LatLon } from "./rtt-table";

/** Where a request entered the edge: its colo (IATA code, "" = unknown) and, when known, its place. */
export interface EdgeLocation {
  colo: string;
  at?: LatLon;
}

/** What the request tells about its location: cf.colo / cf.latitude / cf.longitude (or a trusted bench header). */
export function edgeLocation(
  cf: { colo?: unknown; latitude?: unknown; longitude?: unknown } | undefined,
  coloOverride?: string,
): EdgeLocation {
  const colo = (coloOverride ?? (typeof cf?.colo === "string" ? cf.colo : "")).trim().toUpperCase();
  const known = COLO_COORDS[colo];
  if (known) return { colo, at: known };
  const lat = Number(cf?.latitude);
  const lon = Number(cf?.longitude);
  const hasPlace = coloOverride === undefined && cf?.latitude != null && Number.isFinite(lat) && Number.isFinite(lon);
  return hasPlace ? { colo, at: { lat, lon } } : { colo };
}

/** the quantile of the window that is the estimate (0.1 of ≤ 10 samples = their minimum) */
export const RTT_QUANTILE = 0.1;

interface Window {
  /** the last samples (ms), oldest first, at most the window size */
  samples: number[];
  /** samples seen in all (for the blend with the prior) */
  n: number;
  /** when the last sample came (ms epoch) */
  at: number;
}

/** The local estimate of a window: its RTT_QUANTILE-quantile (lower nearest rank). */
function lowQuantile(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(RTT_QUANTILE * (sorted.length - 1))]!;
}

/** local samples after which the isolate's own estimate alone decides (before: blended with the prior) */
export const LOCAL_FULL_WEIGHT = 5;
/**
 * a local estimate's weight halves every this many ms without a sample: a region the estimate pushed out of reach is no
 * longer called, so without decay a passing slow spell would keep it out of reach for the isolate's life; after a
 * few half-lives the prior (fleet or table) decides again and the region gets calls that re-measure it
 */
export const LOCAL_HALF_LIFE_MS = 30_000;

/** Learned round trips of this isolate (each sample is also rolled up to D1 by the metrics collector). */
export class RttLearner {
  private readonly windows = new Map<string, Window>();

  constructor(
    /** samples kept per (colo, region) (GPU_RTT_WINDOW) */
    private readonly windowSize: () => number,
    readonly now: () => number = Date.now,
  ) {}

  observe(colo: string, region: string, ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    const key = `${colo}|${region}`;
    let w = this.windows.get(key);
    if (!w) this.windows.set(key, (w = { samples: [], n: 0, at: 0 }));
    w.samples.push(ms);
    const excess = w.samples.length - Math.max(1, this.windowSize());
    if (excess > 0) w.samples.splice(0, excess);
    w.n += 1;
    w.at = this.now();
  }

  /** The isolate's own estimate for (colo, region): its window's low quantile, the samples seen, the last one's time. */
  local(colo: string, region: string): { ms: number; n: number; at: number } | undefined {
    const w = this.windows.get(`${colo}|${region}`);
    return w ? { ms: lowQuantile(w.samples), n: w.n, at: w.at } : undefined;
  }

  clear(): void {
    this.windows.clear();
  }
}

/**
 * The estimate (ms) from a location to a region: the prior is the fleet's learned round trip when D1 has one, else the
 * operator's measured table (GPU_RTT_TABLE) when it lists the pair, else the built-in table; the isolate's own
 * estimate weighs in with n / LOCAL_FULL_WEIGHT of its samples. undefined: nothing is known (an unknown place and no
 * samples) — the region is then tried in configured order with no reach check.
 */
export function estimateRtt(
  location: EdgeLocation,
  region: string,
  learner: RttLearner,
  fleet?: (colo: string, region: string) => number | undefined,
  measured?: (colo: string, region: string) => number | undefined,
): number | undefined {
  const prior =
    (location.colo ? (fleet?.(location.colo, region) ?? measured?.(location.colo, region)) : undefined) ??
    (location.at ? configuredRtt(location.at, region) : undefined);
  const local = location.colo ? learner.local(location.colo, region) : undefined;
  if (!local) return prior;
  if (prior === undefined) return local.ms;
  const age = Math.max(0, learner.now() - local.at);
  const w = Math.min(1, local.n / LOCAL_FULL_WEIGHT) * 0.5 ** (age / LOCAL_HALF_LIFE_MS);
  return w * local.ms + (1 - w) * prior;
}
