/**
 * Experiments through the admin API (issue 25; routes: edge/routes/admin-experiments.ts): create one for a store's
 * surface, reweight or end it, read them and their audit trail. The rules:
 *  - one active experiment per (store, surface), and none created or changed while a release's canary runs there
 *    (the canary's analysis compares arms whose weights must not move under it) → 409 with a JSON error;
 *  - every model a variant names is one this edge can serve (edge/experiments/models.ts) → else 422;
 *  - every change is one D1 batch guarded by the state it was read in (a concurrent change → 409), which writes the
 *    experiment, bumps experiments.updated_at (the version every isolate checks within CONFIG_VERSION_CHECK_S,
 *    edge/experiments/config.ts) and records the change with its actor and the experiment before and after
 *    (experiment_changes, migration 0016).
 */
import { and, asc, desc, eq, inArray, sql, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { BatchItem } from "drizzle-orm/batch";
import { experimentChanges, experimentVariants, experiments, type ExperimentAction } from "../db/schema";
import { canaryOn } from "../releases/store";
import { activeExperiment, type ExperimentScope, type Surface } from "./config";
import { unknownModels } from "./models";

export type ExperimentRow = typeof experiments.$inferSelect;
export type VariantRow = typeof experimentVariants.$inferSelect;
export type ChangeRow = typeof experimentChanges.$inferSelect;

export interface VariantSpec {
  name: string;
  weight: number;
  /** "" (or absent): the surface's bundled default */
  lightModel?: string | undefined;
  heavyModel?: string | undefined;
  gpuTargetVariant?: string | undefined;
  topM?: number | undefined;
}

export interface NewExperiment extends ExperimentScope {
  id?: string | undefined;
  variants: VariantSpec[];
}

/** An experiment with its variants, as the API answers it and the audit trail stores it. */
export interface ExperimentState {
  id: string;
  store: string;
  surface: string;
  salt: string;
  active: boolean;
  updatedAt: number;
  variants: Array<{
    name: string;
    weight: number;
    lightModel: string;
    heavyModel: string;
    gpuTargetVariant: string;
    topM: number | null;
    /** the release whose canary this variant is (null: an arm of the experiment) */
    releaseId: string | null;
  }>;
}

export type Refusal = { ok: false; httpStatus: 404 | 409 | 422; error: string; message: string };
export type ChangeResult = { ok: true; experiment: ExperimentState } | Refusal;

const refuse = (httpStatus: Refusal["httpStatus"], error: string, message: string): Refusal => ({
  ok: false,
  httpStatus,
  error,
  message,
});

const describe = (scope: ExperimentScope): string => `the ${scope.surface} of store ${scope.store}`;

function stateOf(exp: ExperimentRow, variants: VariantRow[]): ExperimentState {
  return {
    id: exp.id,
    store: exp.store,
    surface: exp.surface,
    salt: exp.salt,
    active: exp.active === 1,
    updatedAt: exp.updatedAt,
    variants: variants
      .map((v) => ({
        name: v.name,
        weight: v.weight,
        lightModel: v.lightModel,
        heavyModel: v.heavyModel,
        gpuTargetVariant: v.gpuTargetVariant,
        topM: v.topM,
        releaseId: v.releaseId,
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  };
}

export async function readExperiment(d1: D1Database, id: string): Promise<ExperimentState | undefined> {
  const db = drizzle(d1);
  const [exp] = await db.select().from(experiments).where(eq(experiments.id, id)).limit(1);
  if (!exp) return undefined;
  return stateOf(exp, await db.select().from(experimentVariants).where(eq(experimentVariants.experimentId, id)));
}

export interface ExperimentFilter {
  store?: string | undefined;
  surface?: Surface | undefined;
  active?: boolean | undefined;
  limit: number;
}

export async function listExperiments(d1: D1Database, f: ExperimentFilter): Promise<ExperimentState[]> {
  const db = drizzle(d1);
  const where = [
    f.store !== undefined ? eq(experiments.store, f.store) : undefined,
    f.surface !== undefined ? eq(experiments.surface, f.surface) : undefined,
    f.active !== undefined ? eq(experiments.active, f.active ? 1 : 0) : undefined,
  ].filter((w): w is SQL => w !== undefined);
  const rows = await db
    .select()
    .from(experiments)
    .where(and(...where))
    .orderBy(desc(experiments.active), desc(experiments.updatedAt), asc(experiments.id))
    .limit(f.limit);
  if (rows.length === 0) return [];
  const variants = await db
    .select()
    .from(experimentVariants)
    .where(
      inArray(
        experimentVariants.experimentId,
        rows.map((r) => r.id),
      ),
    );
  return rows.map((r) =>
    stateOf(
      r,
      variants.filter((v) => v.experimentId === r.id),
    ),
  );
}

export async function experimentChangesOf(d1: D1Database, id: string): Promise<ChangeRow[]> {
  return drizzle(d1)
    .select()
    .from(experimentChanges)
    .where(eq(experimentChanges.experimentId, id))
    .orderBy(asc(experimentChanges.at), asc(experimentChanges.id));
}

/** When the experiment began taking traffic: its create change, else (made by a release or by SQL) undefined. */
export async function createdAt(d1: D1Database, id: string): Promise<number | undefined> {
  const [row] = await drizzle(d1)
    .select({ at: experimentChanges.at })
    .from(experimentChanges)
    .where(and(eq(experimentChanges.experimentId, id), eq(experimentChanges.action, "create")))
    .limit(1);
  return row?.at;
}

/** 409 while a release's canary runs on the scope. */
async function canaryRefusal(d1: D1Database, scope: ExperimentScope): Promise<Refusal | undefined> {
  const running = await canaryOn(d1, scope);
  if (!running) return undefined;
  return refuse(
    409,
    "release_in_progress",
    `release ${running.id} (${running.kind} ${running.version}) is in canary on ${describe(scope)}: ` +
      `experiments there cannot be created or changed until it is promoted, rolled back or aborted`,
  );
}

function newId(scope: ExperimentScope, now: number): string {
  const rand = Array.from(crypto.getRandomValues(new Uint8Array(3)), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${scope.store}:${scope.surface}-exp-${new Date(now).toISOString().replace(/[-:T]/g, "").slice(0, 14)}-${rand}`;
}

function changeRow(
  db: ReturnType<typeof drizzle>,
  c: {
    id: string;
    scope: ExperimentScope;
    action: ExperimentAction;
    actor: string;
    before: ExperimentState | null;
    after: ExperimentState;
    reason: string | null;
    now: number;
  },
  guard: SQL,
) {
  return db.insert(experimentChanges).select(
    sql`SELECT NULL, ${c.id}, ${c.scope.store}, ${c.scope.surface}, ${c.action}, ${c.actor},
        ${c.before ? JSON.stringify(c.before) : null}, ${JSON.stringify(c.after)}, ${c.reason}, ${c.now}
        WHERE ${guard}`,
  );
}

/**
 * Creates an active experiment for a store's surface (the store must exist: the route checks). 409 when another is
 * active there, a canary runs there, or the id is taken; 422 when a variant names a model this edge cannot serve.
 */
export async function createExperiment(
  d1: D1Database,
  input: NewExperiment,
  actor: string,
  reason: string | null,
  now: number,
): Promise<ChangeResult> {
  const db = drizzle(d1);
  const scope: ExperimentScope = { store: input.store, surface: input.surface };
  const canary = await canaryRefusal(d1, scope);
  if (canary) return canary;
  const active = await activeExperiment(d1, scope);
  if (active)
    return refuse(
      409,
      "experiment_active",
      `experiment ${active.id} is active on ${describe(scope)}: end it (PATCH /admin/experiments/{id} {"active": false}) or reweight it`,
    );
  const unknown = await unknownModels(d1, scope.surface, input.variants);
  if (unknown.length) return refuse(422, "unknown_model", unknown.join("; "));
  const id = input.id ?? newId(scope, now);
  if (await readExperiment(d1, id)) return refuse(409, "experiment_exists", `experiment ${id} already exists`);

  const exp: ExperimentRow = {
    id,
    store: scope.store,
    surface: scope.surface,
    salt: `vitrine-${id}`,
    active: 1,
    updatedAt: now,
  };
  const variants: VariantRow[] = input.variants.map((v) => ({
    experimentId: id,
    name: v.name,
    weight: v.weight,
    lightModel: v.lightModel ?? "",
    heavyModel: v.heavyModel ?? "",
    gpuTargetVariant: v.gpuTargetVariant ?? "",
    topM: v.topM ?? null,
    releaseId: null,
  }));
  // the experiment row goes in only if nothing is active and no canary runs on the scope; the rest only if it went in
  const inserted = sql`EXISTS (SELECT 1 FROM experiments WHERE id = ${id} AND updated_at = ${now} AND active = 1)`;
  const stmts: BatchItem<"sqlite">[] = [
    db.insert(experiments).select(
      sql`SELECT ${id}, ${scope.store}, ${scope.surface}, ${exp.salt}, 1, ${now}
        WHERE NOT EXISTS (SELECT 1 FROM experiments WHERE id = ${id}
            OR (store = ${scope.store} AND surface = ${scope.surface} AND active = 1))
          AND NOT EXISTS (SELECT 1 FROM releases WHERE store = ${scope.store} AND surface = ${scope.surface}
            AND status = 'canary')`,
    ),
    ...variants.map((v) =>
      db.insert(experimentVariants).select(
        sql`SELECT ${id}, ${v.name}, ${v.weight}, ${v.lightModel}, ${v.heavyModel}, ${v.gpuTargetVariant}, ${v.topM},
            NULL WHERE ${inserted}`,
      ),
    ),
    changeRow(
      db,
      { id, scope, action: "create", actor, before: null, after: stateOf(exp, variants), reason, now },
      inserted,
    ),
  ];
  await db.batch(stmts as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  const after = await readExperiment(d1, id);
  if (!after || after.updatedAt !== now)
    return (
      (await canaryRefusal(d1, scope)) ??
      refuse(409, "experiment_active", `another experiment became active on ${describe(scope)}`)
    );
  return { ok: true, experiment: after };
}

export interface ExperimentPatch {
  /** variant name → new weight (> 0); variants not named keep theirs */
  weights?: Record<string, number> | undefined;
  /** false ends the experiment: its surface serves the built-in default (or the next experiment created) */
  active?: false | undefined;
}

/** Reweights or ends an active experiment. 404 unknown id; 409 ended, canary running, or changed meanwhile. */
export async function patchExperiment(
  d1: D1Database,
  id: string,
  patch: ExperimentPatch,
  actor: string,
  reason: string | null,
  now: number,
): Promise<ChangeResult> {
  const db = drizzle(d1);
  const before = await readExperiment(d1, id);
  if (!before) return refuse(404, "not_found", `no experiment ${id}`);
  if (!before.active) return refuse(409, "experiment_ended", `experiment ${id} has ended; create a new one`);
  const scope: ExperimentScope = { store: before.store, surface: before.surface as Surface };
  const canary = await canaryRefusal(d1, scope);
  if (canary) return canary;
  const weights = patch.weights ?? {};
  const names = new Set(before.variants.map((v) => v.name));
  const missing = Object.keys(weights).filter((n) => !names.has(n));
  if (missing.length)
    return refuse(
      422,
      "unknown_variant",
      `experiment ${id} has no variant ${missing.join(", ")} (variants: ${[...names].join(", ")})`,
    );
  // a release's canary variant (kept at 0 % after a rollback or abort) is the release's, never an arm to reweight
  const canaries = before.variants.filter((v) => v.releaseId !== null && Object.hasOwn(weights, v.name));
  if (canaries.length)
    return refuse(
      422,
      "canary_variant",
      `${canaries.map((v) => `${v.name} is the canary of release ${v.releaseId}`).join("; ")}: it cannot be reweighted`,
    );
  const ending = patch.active === false;
  const action: ExperimentAction = ending ? "end" : "reweight";
  const updatedAt = Math.max(now, before.updatedAt + 1);
  const after: ExperimentState = {
    ...before,
    active: !ending,
    updatedAt,
    variants: before.variants.map((v) => ({ ...v, weight: weights[v.name] ?? v.weight })),
  };
  // every statement applies only to the experiment as it was read (a concurrent change wins; this one is refused)
  const unchanged = sql`EXISTS (SELECT 1 FROM experiments WHERE id = ${id} AND active = 1 AND updated_at = ${before.updatedAt})
    AND NOT EXISTS (SELECT 1 FROM releases WHERE store = ${scope.store} AND surface = ${scope.surface} AND status = 'canary')`;
  const stmts: BatchItem<"sqlite">[] = [
    changeRow(db, { id, scope, action, actor, before, after, reason, now }, unchanged),
    ...Object.entries(weights).map(([name, weight]) =>
      db
        .update(experimentVariants)
        .set({ weight })
        .where(and(eq(experimentVariants.experimentId, id), eq(experimentVariants.name, name), unchanged)),
    ),
    db
      .update(experiments)
      .set({ active: ending ? 0 : 1, updatedAt })
      .where(and(eq(experiments.id, id), unchanged)),
  ];
  const results = await db.batch(stmts as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  const last = results[results.length - 1] as D1Result | undefined;
  if ((last?.meta.changes ?? 0) === 0)
    return (
      (await canaryRefusal(d1, scope)) ??
      refuse(409, "concurrent_change", `experiment ${id} changed while this change was applied; read it and retry`)
    );
  return { ok: true, experiment: (await readExperiment(d1, id)) ?? after };
}
