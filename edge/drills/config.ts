/** Drill targets and schedule settings (wrangler vars DRILL_*; defaults here). */
import type { Bindings } from "../env";
import { SCENARIOS, type ScenarioId } from "./context";

export interface DrillTargets {
  /** recovery time objective: after the fault is lifted, probes are served normally again within this */
  rtoMs: number;
  /** the fault must be detected (breaker opened / failed flush seen / cold cache seen) within this */
  detectMs: number;
  /** probes must be served by the fallback path (secondary / light ranking) within this */
  failoverMs: number;
  /** non-2xx answers to probes tolerated (zero) */
  maxNon2xx: number;
  /** an answer may exceed the GPU deadline by at most this (slow-endpoint scenario) */
  deadlineSlackMs: number;
}

export interface DrillSettings {
  targets: DrillTargets;
  /** scenarios the cron runs */
  scheduled: ScenarioId[];
  /** hard cap per scenario */
  scenarioBudgetMs: number;
  /** pause between probes */
  probeGapMs: number;
  /** GPU deadline cap for probes under a "slow" fault */
  slowProbeDeadlineMs: number;
  probeQuery: string;
}

function num(raw: string | undefined, fallback: number, min: number, max: number): number {
  const n = Number(raw);
  if (raw === undefined || raw === "" || !Number.isFinite(n)) return fallback;
  return Math.min(max, Math.max(min, n));
}

export function parseScenarioList(raw: string | undefined): ScenarioId[] {
  if (raw === undefined || raw.trim() === "" || raw.trim() === "all") return [...SCENARIOS];
  const wanted = raw.split(",").map((s) => s.trim());
  return SCENARIOS.filter((s) => wanted.includes(s));
}

export function drillSettings(env: Bindings): DrillSettings {
  const rtoMs = num(env.DRILL_RTO_MS, 10_000, 1_000, 60_000);
  return {
    targets: { rtoMs, detectMs: 5_000, failoverMs: 5_000, maxNon2xx: 0, deadlineSlackMs: 50 },
    scheduled: parseScenarioList(env.DRILL_SCENARIOS),
    scenarioBudgetMs: 15_000,
    probeGapMs: 100,
    slowProbeDeadlineMs: 300,
    probeQuery: (env.DRILL_PROBE_QUERY ?? "").trim(),
  };
}
