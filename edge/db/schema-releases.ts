/**
 * Model releases (issue #9): one row per release of a model version (gate → canary → promoted | rolled back) and
 * one row per step decision the edge took, with the figures that decided it. The CLI (`npm run release`) writes a
 * release through POST /admin/releases; the edge's cron and POST /admin/releases/:id/tick walk its canary.
 */
import { sqliteTable, text, integer, real, index, primaryKey } from "drizzle-orm/sqlite-core";

export const RELEASE_KINDS = ["light", "heavy", "recs-light", "recs-heavy"] as const;
export type ReleaseKind = (typeof RELEASE_KINDS)[number];
export const RELEASE_STATUSES = ["gating", "refused", "canary", "promoted", "rolled_back", "aborted"] as const;
export type ReleaseStatus = (typeof RELEASE_STATUSES)[number];
export const RELEASE_DECISIONS = ["promote-step", "hold", "rollback", "promoted"] as const;
export type ReleaseDecisionKind = (typeof RELEASE_DECISIONS)[number];

export const releases = sqliteTable(
  "releases",
  {
    id: text("id").primaryKey(),
    kind: text("kind", { enum: RELEASE_KINDS }).notNull(),
    store: text("store").notNull().default("esci"),
    /** "search" (light, heavy) | "recommend" (recs-light, recs-heavy) */
    surface: text("surface").notNull(),
    version: text("version").notNull(),
    baselineVersion: text("baseline_version"),
    status: text("status", { enum: RELEASE_STATUSES }).notNull(),
    /** JSON int[]: canary weight per step, percent */
    steps: text("steps").notNull(),
    stepSeconds: integer("step_seconds").notNull(),
    stepIndex: integer("step_index").notNull().default(0),
    /** when the current step began (its analysis window starts here), ms */
    stepStartedAt: integer("step_started_at"),
    reason: text("reason"),
    /** JSON: the offline gate's report */
    gateReport: text("gate_report").notNull().default("{}"),
    startedBy: text("started_by").notNull(),
    /** the experiment the canary runs in, its canary variant, and (JSON string[]) the live variants it is compared
     * with — the baseline arm (null for a refused release) */
    experimentId: text("experiment_id"),
    canaryVariant: text("canary_variant"),
    baselineVariants: text("baseline_variants"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("releases_by_created").on(t.createdAt), index("releases_by_status").on(t.status, t.surface)],
);

export const releaseDecisions = sqliteTable(
  "release_decisions",
  {
    releaseId: text("release_id")
      .notNull()
      .references(() => releases.id),
    stepIndex: integer("step_index").notNull(),
    /** the canary's weight (percent) while the step ran */
    weight: real("weight").notNull(),
    decision: text("decision", { enum: RELEASE_DECISIONS }).notNull(),
    /** JSON: the step analysis' figures (canary vs baseline) and the reasons */
    figures: text("figures").notNull(),
    at: integer("at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.releaseId, t.at, t.stepIndex] })],
);
