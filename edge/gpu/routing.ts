/**
 * Which GPU region a request tries first: with GPU_ROUTING = "nearest" (the default) the regions are ordered by the
 * estimated round trip from the request's edge location (edge/gpu/rtt.ts), nearest first, regions with no estimate
 * after those with one, ties in configured order; the failover loop (edge/gpu/resilient.ts) then skips an open
 * breaker and a region too far for what is left of the budget, so the nearest *healthy* region within reach
 * answers. "fixed" keeps the configured order and sends the whole budget, as before regions were routed (for
 * comparison and rollback).
 */
import type { GpuEndpoint } from "./endpoints";

export type Routing = "nearest" | "fixed";

export interface RoutePlan {
  endpoints: GpuEndpoint[];
  /** the estimated round trip per endpoint id (nearest routing only) */
  rttMs?: (endpoint: GpuEndpoint) => number | undefined;
}

export function routeRegions(
  endpoints: readonly GpuEndpoint[],
  routing: Routing,
  estimate: (region: string) => number | undefined,
): RoutePlan {
  if (routing === "fixed") return { endpoints: [...endpoints] };
  const rtt = new Map(endpoints.map((e) => [e.id, estimate(e.region)]));
  const key = (e: GpuEndpoint): number => rtt.get(e.id) ?? Infinity;
  const ordered = endpoints
    .map((e, i) => ({ e, i }))
    .sort((a, b) => {
      const d = key(a.e) - key(b.e);
      return (Number.isNaN(d) ? 0 : d) || a.i - b.i;
    })
    .map(({ e }) => e);
  return { endpoints: ordered, rttMs: (e) => rtt.get(e.id) };
}
