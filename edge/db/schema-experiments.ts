/**
 * The experiments API's audit trail (issue 25, migration 0016): every create, reweight and end of an experiment made
 * through /admin/experiments, with the actor label the request named (x-vitrine-actor) and the experiment with its
 * variants as JSON before and after. Written in the same D1 batch as the change (edge/experiments/admin.ts).
 */
import { sqliteTable, text, integer, index } from "drizzle-orm/sqlite-core";

export const EXPERIMENT_ACTIONS = ["create", "reweight", "end"] as const;
export type ExperimentAction = (typeof EXPERIMENT_ACTIONS)[number];

export const experimentChanges = sqliteTable(
  "experiment_changes",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    experimentId: text("experiment_id").notNull(),
    store: text("store").notNull(),
    surface: text("surface").notNull(),
    action: text("action", { enum: EXPERIMENT_ACTIONS }).notNull(),
    actor: text("actor").notNull(),
    /** JSON: the experiment and its variants before the change (null for a create) */
    before: text("before"),
    /** JSON: the experiment and its variants after the change */
    after: text("after").notNull(),
    reason: text("reason"),
    /** unix ms */
    at: integer("at").notNull(),
  },
  (t) => [index("experiment_changes_by_experiment").on(t.experimentId, t.at)],
);
