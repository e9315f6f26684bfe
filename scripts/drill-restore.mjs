#!/usr/bin/env node
// npm run drill:restore -- [--backup-first] [--backups DIR] [--edge URL] [--trigger admin|cron|test]
//                          [--rto-ms N] [--max-age-h N] [--scratch DIR] [--keep N] [--no-post]
// --remote-scratch NAME: production, restore into that (new, empty) remote D1 database instead of a local one;
//   with --remote-scratch-shard CATALOG_SHARD_<n>=NAME for each catalogue shard whose backup holds products.
// --keep N: after the drill, delete all but the newest N backups (npm start's schedule keeps 4).
// The restore drill: restores the latest backup (.vitrine/backups, or one taken now with --backup-first) into a
// scratch local database (.vitrine/restores/drill-scratch), verifies row counts and checksums of every table (stores,
// products, purchase history, experiments, releases among them) and the FTS5 indexes, and posts the report with its
// measured restore time to the edge (POST /admin/drills/reports, Bearer ADMIN_TOKEN from the environment or
// .dev.vars): it shows in /admin/drills and the dashboard as scenario d1_restore, and a failed run fires the
// drill:d1_restore alert. Exit 1 when the drill fails.
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { drillReport, postDrillReport } from "./backup/drill-report.mjs";
import { DEFAULT_RESTORES, parseShardTargets, restoreBackup } from "./backup/restore.mjs";
import { REPO } from "./backup/runner.mjs";
import { backupName, DEFAULT_BACKUPS, latestBackup, pruneBackups, takeBackup } from "./backup/take.mjs";

const { values } = parseArgs({
  options: {
    "backup-first": { type: "boolean", default: false },
    backups: { type: "string" },
    "persist-to": { type: "string" },
    "no-registry": { type: "boolean", default: false },
    edge: { type: "string", default: process.env.VITRINE_EDGE_URL ?? "http://127.0.0.1:8787" },
    trigger: { type: "string", default: "admin" },
    "rto-ms": { type: "string", default: "1800000" },
    "max-age-h": { type: "string", default: "26" },
    "no-post": { type: "boolean", default: false },
    scratch: { type: "string" },
    keep: { type: "string" },
    "remote-scratch": { type: "string" },
    "remote-scratch-shard": { type: "string", multiple: true, default: [] },
  },
});
const trigger = /** @type {"admin" | "cron" | "test"} */ (
  ["admin", "cron", "test"].includes(values.trigger) ? values.trigger : "admin"
);
const root = path.resolve(values.backups ?? DEFAULT_BACKUPS);
const scratch = path.resolve(values.scratch ?? path.join(DEFAULT_RESTORES, "drill-scratch"));
const startedAt = Date.now();
/** @type {import("./backup/drill-report.mjs").DrillReportBody["timeline"]} */
const timeline = [];
const mark = (/** @type {string} */ event, data = {}) => timeline.push({ t: Date.now() - startedAt, event, ...data });

/** ADMIN_TOKEN from the environment, else .dev.vars (what npm start writes). */
function adminToken() {
  if (process.env.ADMIN_TOKEN) return process.env.ADMIN_TOKEN;
  const vars = readFileSync(path.join(REPO, ".dev.vars"), "utf8");
  const m = vars.match(/^ADMIN_TOKEN\s*=\s*"?([^"\n]*)"?/m);
  if (!m) throw new Error("no ADMIN_TOKEN in the environment or .dev.vars");
  return m[1];
}

let report;
try {
  let backupMs;
  if (values["backup-first"]) {
    const t0 = Date.now();
    const out = path.join(root, backupName());
    await takeBackup({
      out,
      ...(values["persist-to"] ? { persistTo: path.resolve(values["persist-to"]) } : {}),
      ...(values["no-registry"] ? { registry: null } : {}),
    });
    backupMs = Date.now() - t0;
    mark("backup_taken", { backup: out, ms: backupMs });
  }
  const backup = await latestBackup(root);
  const common = {
    trigger,
    startedAt,
    timeline,
    rtoMs: Number(values["rto-ms"]),
    maxAgeMs: Number(values["max-age-h"]) * 3_600_000,
  };
  if (!backup) report = drillReport({ ...common, skipped: `no backup under ${root}: run npm run backup` });
  else {
    mark("restore_start", { backup });
    try {
      const into = values["remote-scratch"]
        ? { remote: values["remote-scratch"], shards: parseShardTargets(values["remote-scratch-shard"] ?? []) }
        : { persistTo: scratch, replace: true };
      const result = await restoreBackup({ backup, into, verifyRegistry: true });
      mark("restored", { ms: result.restoreMs });
      mark("verified", { ms: result.verifyMs, problems: result.problems.length });
      report = drillReport({ ...common, result, ...(backupMs !== undefined ? { backupMs } : {}) });
      if (report.status === "pass") await rm(scratch, { recursive: true, force: true }); // kept for a look when it fails
    } catch (e) {
      mark("error", { error: String(e) });
      report = drillReport({ ...common, error: String(/** @type {Error} */ (e).message ?? e) });
    }
  }
} catch (e) {
  mark("error", { error: String(e) });
  report = drillReport({
    trigger,
    startedAt,
    timeline,
    rtoMs: 0,
    maxAgeMs: 0,
    error: String(/** @type {Error} */ (e).message ?? e),
  });
}

if (values.keep && report.status === "pass") await pruneBackups(root, Number(values.keep));
const posted = values["no-post"] ? null : await postDrillReport(values.edge, adminToken(), report);
console.log(JSON.stringify({ ...report, ...(posted ? { id: posted } : {}) }, null, 2));
process.exit(report.status === "fail" ? 1 : 0);
