/**
 * The GPU drills per region: a run's probes are labelled with a colo (DrillRun.colo: the admin's choice, DRILL_COLO, or
 * the admin request's own cf.colo) and are routed like a shopper's there (edge/gpu/routing.ts). The drill's "home"
 * region is that colo's nearest region (with no colo, or GPU_ROUTING=fixed, the first configured one: the primary);
 * primary_down takes it down, and the report says which region took over and what it cost in latency — the GPU stage's
 * and the whole answer's p50 under the fault against the healthy baseline of the same run.
 */
import { config } from "../config";
import { routeFor } from "../gpu/index";
import { edgeLocation } from "../gpu/rtt";
import { gpuResult, type ProbeResult, servedByRegion } from "./probe";
import type { DrillRun } from "./run";

export interface RegionPlan {
  /** the colo the probes come from ("" = none) */
  colo: string;
  /** the region the colo's probes are served by when healthy: its nearest */
  home: string;
  /** every region in the colo's order, nearest first, with its estimated round trip (null = unknown) */
  order: { region: string; rttMs: number | null }[];
  /**
   * the region expected to take over when `home` is down: the next in the colo's order whose round trip leaves
   * GPU_MIN_COMPUTE_MS of the GPU budget (undefined: none — the probes then answer the light ranking at once)
   */
  takeover?: string;
}

/** The drill's view of the colo's routing, read from the same route heavyRank takes; undefined: no region configured. */
export function regionPlan(run: DrillRun): RegionPlan | undefined {
  const route = routeFor(run.env, edgeLocation({ colo: run.colo }));
  const order = route.endpoints.map((e) => ({ region: e.region, rttMs: round(route.rttMs?.(e)) }));
  const home = order[0];
  if (!home) return undefined;
  const { gpu, search } = config(run.env);
  const inReach = (rtt: number | null): boolean => rtt === null || rtt + gpu.minComputeMs <= search.gpuDeadlineMs;
  const takeover = order.slice(1).find((r) => inReach(r.rttMs))?.region;
  return { colo: run.colo, home: home.region, order, ...(takeover ? { takeover } : {}) };
}

function round(ms: number | undefined): number | null {
  return ms === undefined ? null : Math.round(ms * 10) / 10;
}

/** The p50 (lower median) of some figures; null when there are none. */
function p50(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

export interface LatencySummary {
  probes: number;
  /** the GPU stage (heavyRank's own time, failover included) */
  gpuP50Ms: number | null;
  /** the whole answer, as the probe measured it */
  e2eP50Ms: number | null;
}

export function latencyOf(probes: ProbeResult[]): LatencySummary {
  return {
    probes: probes.length,
    gpuP50Ms: p50(probes.flatMap((p) => gpuResult(p)?.ms ?? [])),
    e2eP50Ms: p50(probes.map((p) => p.ms)),
  };
}

const added = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : a - b);

/** The regions that served probes, most probes first: `{region: count}`. */
export function regionsServing(probes: ProbeResult[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const p of probes) {
    const r = servedByRegion(p);
    if (r) counts[r] = (counts[r] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1]));
}

/**
 * The report's region figures (run.measurements): the colo, its home region, the region expected to take over and
 * the one that did (most probes under the fault), and the latency added by the failover: p50 under the fault (the
 * probes answered as expected) minus the healthy baseline's p50.
 */
export function measureTakeover(
  run: DrillRun,
  plan: RegionPlan,
  baseline: ProbeResult[],
  underFault: ProbeResult[],
): { takeover: string | null } {
  const healthy = latencyOf(baseline);
  const faulted = latencyOf(underFault);
  const served = regionsServing(underFault);
  const takeover = Object.keys(served)[0] ?? null;
  Object.assign(run.measurements, {
    colo: plan.colo || null,
    homeRegion: plan.home,
    expectedTakeover: plan.takeover ?? null,
    takeoverRegion: takeover,
    servedUnderFault: served,
    estimatedRttMs: Object.fromEntries(plan.order.map((r) => [r.region, r.rttMs])),
    baseline: healthy,
    underFault: faulted,
    addedGpuP50Ms: added(faulted.gpuP50Ms, healthy.gpuP50Ms),
    addedE2eP50Ms: added(faulted.e2eP50Ms, healthy.e2eP50Ms),
  });
  return { takeover };
}
