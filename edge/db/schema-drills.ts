/** Failover drill tables (issue: drills). */
import { sqliteTable, text, integer, index } from "drizzle-orm/sqlite-core";

/** One drill run: what was injected, whether it met its targets, the measured times and the full timeline. */
export const drillRuns = sqliteTable(
  "drill_runs",
  {
    id: text("id").primaryKey(),
    scenario: text("scenario").notNull(),
    /** "running" while in progress, then "pass" | "fail" | "skipped" */
    status: text("status").notNull(),
    /** "cron" | "admin" | "test" */
    trigger: text("trigger").notNull(),
    startedAt: integer("started_at").notNull(),
    finishedAt: integer("finished_at"),
    /** why it was skipped, failed or aborted */
    reason: text("reason"),
    timeToDetectMs: integer("time_to_detect_ms"),
    timeToFailoverMs: integer("time_to_failover_ms"),
    timeToRecoverMs: integer("time_to_recover_ms"),
    probes: integer("probes").notNull().default(0),
    non2xx: integer("non_2xx").notNull().default(0),
    aborted: integer("aborted").notNull().default(0),
    /** JSON: { targets, checks: [{ name, ok, detail }], extra measurements } */
    results: text("results").notNull().default("{}"),
    /** JSON: [{ t (ms since start), event, ... }] */
    timeline: text("timeline").notNull().default("[]"),
  },
  (t) => [index("drill_runs_by_started").on(t.startedAt), index("drill_runs_by_scenario").on(t.scenario, t.startedAt)],
);

/** Nonces of drill headers already honoured (replay protection); rows expire with the header. */
export const drillNonces = sqliteTable(
  "drill_nonces",
  {
    nonce: text("nonce").primaryKey(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("drill_nonces_by_expiry").on(t.expiresAt)],
);
