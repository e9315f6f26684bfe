/**
 * Drills that run outside the worker and post their report here (POST /admin/drills/reports): the D1 restore drill
 * (`npm run drill:restore`, scripts/drill-restore.mjs) restores the latest backup into a scratch database and
 * verifies it — work a Worker cannot do. Its report is stored in drill_runs like the in-worker scenarios' (so
 * /admin/drills and the dashboard show it), and a failed run raises the `drill:<scenario>` alert; the next pass
 * resolves it.
 */
import { drizzle } from "drizzle-orm/d1";
import { z } from "zod";
import { drillRuns } from "../db/schema-drills";
import type { Bindings } from "../env";
import { newRunId, type StoredRun, toRow, updateAlert } from "./runner";

export const EXTERNAL_SCENARIOS = ["d1_restore"] as const;
export type ExternalScenarioId = (typeof EXTERNAL_SCENARIOS)[number];

const ms = z.number().int().min(0).max(86_400_000);
const epochMs = z.number().int().min(1_500_000_000_000).max(4_102_444_800_000);

export const externalReportSchema = z
  .object({
    scenario: z.enum(EXTERNAL_SCENARIOS),
    status: z.enum(["pass", "fail", "skipped"]),
    trigger: z.enum(["cron", "admin", "test"]),
    startedAt: epochMs,
    finishedAt: epochMs,
    reason: z.string().max(4000).optional(),
    timeToDetectMs: ms.nullable().optional(),
    timeToFailoverMs: ms.nullable().optional(),
    /** the restore drill: the measured restore time */
    timeToRecoverMs: ms.nullable(),
    checks: z
      .array(z.object({ name: z.string().max(200), ok: z.boolean(), detail: z.string().max(4000) }).strict())
      .max(100),
    measurements: z.record(z.unknown()),
    timeline: z.array(z.object({ t: ms, event: z.string().max(100) }).passthrough()).max(500),
  })
  .strict()
  .refine((r) => r.finishedAt >= r.startedAt, { message: "finishedAt is before startedAt", path: ["finishedAt"] });
export type ExternalReport = z.infer<typeof externalReportSchema>;

/** Stores a posted report as a drill run and updates its alert; answers the run id. */
export async function storeExternalReport(env: Bindings, r: ExternalReport): Promise<string> {
  const id = newRunId(r.scenario);
  const run: StoredRun = {
    ...r,
    id,
    timeToDetectMs: r.timeToDetectMs ?? null,
    timeToFailoverMs: r.timeToFailoverMs ?? null,
    probes: 0,
    non2xx: 0,
    aborted: false,
    results: { targets: null, checks: r.checks, measurements: r.measurements },
  };
  await drizzle(env.DB).insert(drillRuns).values(toRow(run));
  try {
    await updateAlert(env, run);
  } catch (err) {
    console.error(JSON.stringify({ event: "drill_alert_write_failed", id, error: String(err) }));
  }
  return id;
}
