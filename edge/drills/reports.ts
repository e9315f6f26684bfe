/** Reading stored drill reports (admin API and the monitoring dashboard's drill section). */
import { desc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { drillRuns } from "../db/schema-drills";
import type { ScenarioId } from "./context";
import type { DrillCheck, DrillReport, TimelineEvent } from "./run";

export type StoredDrillStatus = DrillReport["status"] | "running";

/** One row of the list: what the dashboard shows (no timeline); a run still going has no finish, reason or checks yet. */
export interface DrillSummary extends Pick<
  DrillReport,
  "id" | "scenario" | "startedAt" | "timeToDetectMs" | "timeToFailoverMs" | "timeToRecoverMs" | "probes" | "non2xx"
> {
  status: StoredDrillStatus;
  trigger: string;
  finishedAt: number | null;
  reason: string | null;
  aborted: boolean;
  checks: DrillCheck[];
  /** a GPU drill's regions (edge/drills/region.ts): where its probes came from, which region took over, what it cost */
  region: RegionFigures | null;
}

export interface RegionFigures {
  colo: string | null;
  home: string;
  takeover: string | null;
  addedGpuP50Ms: number | null;
  addedE2eP50Ms: number | null;
}

const num = (v: unknown): number | null => (typeof v === "number" ? v : null);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);

function regionFigures(m: Record<string, unknown> | undefined): RegionFigures | null {
  const home = str(m?.homeRegion);
  if (!m || !home) return null;
  return {
    colo: str(m.colo),
    home,
    takeover: str(m.takeoverRegion),
    addedGpuP50Ms: num(m.addedGpuP50Ms),
    addedE2eP50Ms: num(m.addedE2eP50Ms),
  };
}

export interface DrillDetail extends DrillSummary {
  targets: unknown;
  measurements: Record<string, unknown>;
  timeline: TimelineEvent[];
}

type Row = typeof drillRuns.$inferSelect;

function parse<T>(raw: string, fallback: T): T {
  try {
    return JSON.parse(raw) as T;
  } catch {
    return fallback;
  }
}

function summary(r: Row): DrillSummary {
  const results = parse<{ checks?: DrillCheck[]; measurements?: Record<string, unknown> }>(r.results, {});
  return {
    id: r.id,
    scenario: r.scenario as ScenarioId,
    status: r.status as StoredDrillStatus,
    trigger: r.trigger,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    reason: r.reason,
    timeToDetectMs: r.timeToDetectMs,
    timeToFailoverMs: r.timeToFailoverMs,
    timeToRecoverMs: r.timeToRecoverMs,
    probes: r.probes,
    non2xx: r.non2xx,
    aborted: r.aborted === 1,
    checks: results.checks ?? [],
    region: regionFigures(results.measurements),
  };
}

/** The most recent drill runs, newest first (limit clamped to 1..200). */
export async function listDrillReports(db: D1Database, limit = 50): Promise<DrillSummary[]> {
  const n = Math.min(200, Math.max(1, Math.floor(limit) || 50));
  const rows = await drizzle(db).select().from(drillRuns).orderBy(desc(drillRuns.startedAt)).limit(n);
  return rows.map(summary);
}

/** One drill run with its timeline, or undefined. */
export async function getDrillReport(db: D1Database, id: string): Promise<DrillDetail | undefined> {
  const rows = await drizzle(db).select().from(drillRuns).where(eq(drillRuns.id, id)).limit(1);
  const r = rows[0];
  if (!r) return undefined;
  const results = parse<{ targets?: unknown; measurements?: Record<string, unknown> }>(r.results, {});
  return {
    ...summary(r),
    targets: results.targets ?? null,
    measurements: results.measurements ?? {},
    timeline: parse<TimelineEvent[]>(r.timeline, []),
  };
}
