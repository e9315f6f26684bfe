// The restore drill's report, in the shape /admin/drills stores for every scenario (POST /admin/drills/reports,
// scenario d1_restore): checks, measured times (time to recover = the restore time), measurements, a timeline.
import { REQUIRED_TABLES } from "./manifest.mjs";

/**
 * @typedef {object} DrillReportBody
 * @property {"d1_restore"} scenario
 * @property {"pass" | "fail" | "skipped"} status
 * @property {"cron" | "admin" | "test"} trigger
 * @property {number} startedAt
 * @property {number} finishedAt
 * @property {string} [reason]
 * @property {number | null} timeToRecoverMs
 * @property {{ name: string, ok: boolean, detail: string }[]} checks
 * @property {Record<string, unknown>} measurements
 * @property {{ t: number, event: string, [k: string]: unknown }[]} timeline
 */

/**
 * @param {{ trigger: DrillReportBody["trigger"], startedAt: number, maxAgeMs: number, rtoMs: number,
 *           result?: import("./restore.mjs").RestoreResult, error?: string, skipped?: string,
 *           timeline: DrillReportBody["timeline"], backupMs?: number }} o
 * @returns {DrillReportBody}
 */
export function drillReport(o) {
  const finishedAt = Date.now();
  const base = {
    scenario: /** @type {const} */ ("d1_restore"),
    trigger: o.trigger,
    startedAt: o.startedAt,
    finishedAt,
  };
  if (o.skipped)
    return {
      ...base,
      status: "skipped",
      reason: o.skipped,
      timeToRecoverMs: null,
      checks: [],
      measurements: {},
      timeline: o.timeline,
    };
  const r = o.result;
  if (!r)
    return {
      ...base,
      status: "fail",
      reason: o.error ?? "restore failed",
      timeToRecoverMs: null,
      checks: [{ name: "restore", ok: false, detail: o.error ?? "restore failed" }],
      measurements: {},
      timeline: o.timeline,
    };
  const ageMs = o.startedAt - Date.parse(r.createdAt);
  const problemOf = (/** @type {string} */ t) => r.problems.find((p) => p.table === t);
  const checks = [
    ...REQUIRED_TABLES.map((t) => {
      const p = problemOf(t);
      return { name: `table:${t}`, ok: !p, detail: p ? p.problem : `${r.rows[t]} rows, checksum matches` };
    }),
    {
      name: "all_tables",
      ok: r.problems.length === 0,
      detail: r.problems.length
        ? r.problems.map((p) => `${p.table}: ${p.problem}`).join("; ")
        : `${Object.keys(r.rows).length} tables match`,
    },
    {
      name: "fts_indexes",
      ok: r.indexes.every((i) => i.ok),
      detail: r.indexes.map((i) => `${i.table}: ${i.detail}`).join("; ") || "none",
    },
    ...(r.registry
      ? [
          {
            name: "registry",
            ok: r.registry.problems.length === 0,
            detail: `${r.registry.files} files, ${r.registry.problems.length} differ`,
          },
        ]
      : []),
    { name: "restore_time", ok: r.restoreMs <= o.rtoMs, detail: `${r.restoreMs} ms (target ≤ ${o.rtoMs} ms)` },
    {
      name: "backup_age",
      ok: ageMs <= o.maxAgeMs,
      detail: `${Math.round(ageMs / 60_000)} min old (RPO target ≤ ${Math.round(o.maxAgeMs / 60_000)} min)`,
    },
  ];
  const failed = checks.filter((c) => !c.ok);
  return {
    ...base,
    status: failed.length ? "fail" : "pass",
    ...(failed.length ? { reason: failed.map((c) => `${c.name}: ${c.detail}`).join("; ") } : {}),
    timeToRecoverMs: r.restoreMs,
    checks,
    measurements: {
      backup: r.backup,
      backupCreatedAt: r.createdAt,
      backupAgeMs: ageMs,
      ...(o.backupMs !== undefined ? { backupMs: o.backupMs } : {}),
      restoreMs: r.restoreMs,
      verifyMs: r.verifyMs,
      rows: r.rows,
    },
    timeline: o.timeline,
  };
}

/** Posts the report to the edge's admin API; answers the stored run id. */
export async function postDrillReport(
  /** @type {string} */ edge,
  /** @type {string} */ token,
  /** @type {DrillReportBody} */ report,
) {
  const res = await fetch(new URL("/admin/drills/reports", edge), {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(report),
    signal: AbortSignal.timeout(30_000),
  });
  const body = await res.json().catch(() => ({}));
  if (res.status !== 201) throw new Error(`POST /admin/drills/reports answered ${res.status}: ${JSON.stringify(body)}`);
  return /** @type {{ id: string }} */ (body).id;
}
