/**
 * The routing alert (README "Global traffic"): a colo whose degraded share rises while the GPU region it is routed
 * to first is healthy — a routing problem (a wrong round-trip estimate, a region out of reach, a stuck breaker in
 * that colo's isolates), not an outage, which the SLO burn-rate alerts cover.
 *
 * Per colo over the last WINDOW_S of live traffic (edge/metrics/geo.ts): it fires when the colo has at least
 * MIN_REQUESTS requests, its degraded share is at least MIN_SHARE and at least RISE above its own share in the hour
 * before, and its nearest region (the one most of its requests tried first) is healthy: that region answered calls
 * in the window (learned round-trip samples) and the other colos routed to it first are degraded at most
 * HEALTHY_SHARE of the time.
 */
import type { MetricsConfig } from "../config";
import { geoCells, type GeoCell } from "./geo";

export const WINDOW_S = 10 * 60;
export const BASELINE_S = 3600;
export const MIN_REQUESTS = 20;
export const MIN_SHARE = 0.1;
export const RISE = 0.05;
export const HEALTHY_SHARE = 0.05;

const share = (degraded: number, requests: number): number => (requests > 0 ? degraded / requests : 0);

function byColo(cells: GeoCell[]): Map<string, { requests: number; degraded: number; nearest: GeoCell | undefined }> {
  const out = new Map<string, { requests: number; degraded: number; nearest: GeoCell | undefined }>();
  for (const c of cells) {
    const o = out.get(c.colo) ?? { requests: 0, degraded: 0, nearest: undefined };
    o.requests += c.requests;
    o.degraded += c.degraded;
    if (c.requests > (o.nearest?.requests ?? 0)) o.nearest = c;
    out.set(c.colo, o);
  }
  return out;
}

/** An alert condition of the routing rule (the shape of alerts.ts Condition, kind "routing"). */
export interface RoutingCondition {
  id: string;
  rule: string;
  kind: "routing";
  severity: "ticket";
  active: boolean;
  value: number;
  threshold: number;
  summary: string;
  forS: number;
  labels: Record<string, string>;
}

export async function routingConditions(db: D1Database, cfg: MetricsConfig, now: number): Promise<RoutingCondition[]> {
  const end = now - (now % 60) + 60;
  const window = await geoCells(db, { from: end - WINDOW_S, to: end, traffic: "live" }, cfg.minuteRetentionS, now);
  const before = byColo(
    await geoCells(
      db,
      { from: end - WINDOW_S - BASELINE_S, to: end - WINDOW_S, traffic: "live" },
      cfg.minuteRetentionS,
      now,
    ),
  );
  const out: RoutingCondition[] = [];
  for (const [colo, w] of byColo(window)) {
    const region = w.nearest?.region;
    if (!region || w.requests < MIN_REQUESTS) continue;
    const value = share(w.degraded, w.requests);
    const b = before.get(colo);
    const baseline = b ? share(b.degraded, b.requests) : 0;
    const others = window.filter((c) => c.region === region && c.colo !== colo);
    const otherRequests = others.reduce((n, c) => n + c.requests, 0);
    const otherDegraded = others.reduce((n, c) => n + c.degraded, 0);
    const answered = window.some((c) => c.region === region && c.rttSamples > 0);
    const healthy = answered && share(otherDegraded, otherRequests) <= HEALTHY_SHARE;
    out.push({
      id: `routing:${colo}`,
      rule: "colo_degraded_region_healthy",
      kind: "routing",
      severity: "ticket",
      active: healthy && value >= MIN_SHARE && value >= baseline + RISE,
      value,
      threshold: Math.max(MIN_SHARE, baseline + RISE),
      summary: `${colo}: ${(value * 100).toFixed(1)}% degraded (${w.requests} requests, ${(baseline * 100).toFixed(1)}% the hour before) while its nearest GPU region ${region} is healthy — a routing problem, not an outage`,
      forS: 120,
      labels: { colo, region },
    });
  }
  return out;
}
