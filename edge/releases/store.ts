/**
 * Releases in D1: recording one, creating its canary beside the live variants of its store's surface (the active
 * experiment of that (store, surface): a release in one store never changes another's traffic), walking the canary's
 * weight, rolling back, promoting, aborting. One canary at a time per (store, surface). Every change of the canary is one D1 batch (a transaction) whose statements are
 * all guarded by the release's state as it was read (status, step, updated_at), so a cron tick and an admin tick
 * racing on the same release change it once; each batch bumps the experiment's updated_at, the version every isolate
 * checks within seconds (edge/experiments/config.ts).
 */
import { and, desc, eq, ne, sql, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { BatchItem } from "drizzle-orm/batch";
import {
  experimentVariants,
  experiments,
  recsCurrent,
  releaseDecisions,
  releases,
  type ReleaseDecisionKind,
  type ReleaseKind,
  type ReleaseStatus,
} from "../db/schema";
import { activeExperiment, type ExperimentScope, type Surface } from "../experiments/config";
import { DEFAULT_HEAVY_MODEL, DEFAULT_LIGHT_MODEL, LIGHT_MODELS } from "../generated/models";

export type ReleaseRow = typeof releases.$inferSelect;
export type DecisionRow = typeof releaseDecisions.$inferSelect;

/** The surface a kind's model serves and the variant column that names it. */
export const KIND_TARGET: Record<ReleaseKind, { surface: Surface; model: "lightModel" | "heavyModel" }> = {
  light: { surface: "search", model: "lightModel" },
  heavy: { surface: "search", model: "heavyModel" },
  "recs-light": { surface: "recommend", model: "lightModel" },
  "recs-heavy": { surface: "recommend", model: "heavyModel" },
};

export interface NewRelease {
  kind: ReleaseKind;
  store: string;
  version: string;
  baselineVersion?: string | undefined;
  steps: number[];
  stepSeconds: number;
  gateReport: Record<string, unknown>;
  startedBy: string;
  status?: "refused" | undefined;
  reason?: string | undefined;
}

export type CreateResult =
  | { ok: true; id: string; status: ReleaseStatus }
  | { ok: false; httpStatus: 409 | 422; error: string; message: string };

/** The release as the admin API answers it: JSON columns parsed, the canary's current weight. */
export interface ReleaseView extends Omit<ReleaseRow, "steps" | "gateReport"> {
  steps: number[];
  gateReport: unknown;
  /** the canary's weight now, percent (0 once rolled back / aborted, 100 once promoted) */
  weight: number;
}

export function releaseView(r: ReleaseRow): ReleaseView {
  const steps = JSON.parse(r.steps) as number[];
  const weight = r.status === "canary" ? (steps[r.stepIndex] ?? 0) : r.status === "promoted" ? 100 : 0;
  return { ...r, steps, gateReport: JSON.parse(r.gateReport) as unknown, weight };
}

function newId(now: number): string {
  const rand = Array.from(crypto.getRandomValues(new Uint8Array(3)), (b) => b.toString(16).padStart(2, "0")).join("");
  return `rel-${new Date(now).toISOString().replace(/[-:T]/g, "").slice(0, 14)}-${rand}`;
}

/** The release in canary on a store's surface, if any. */
export async function canaryOn(d1: D1Database, scope: ExperimentScope): Promise<ReleaseRow | undefined> {
  const [row] = await drizzle(d1)
    .select()
    .from(releases)
    .where(and(eq(releases.store, scope.store), eq(releases.surface, scope.surface), eq(releases.status, "canary")))
    .limit(1);
  return row;
}

/**
 * The experiment a release creates when its store's surface has none, and that experiment's salt: both name the
 * store, so two stores' experiments never share an id (the response cache key and the answers name it) and their
 * shoppers are assigned independently.
 */
export function releaseExperiment(scope: ExperimentScope): { id: string; salt: string } {
  return {
    id: `${scope.store}:${scope.surface}-releases`,
    salt: `vitrine-${scope.store}-${scope.surface}-v1`,
  };
}

const describeScope = (scope: ExperimentScope): string => `${scope.surface} of store ${scope.store}`;

/**
 * Records a release. `status: "refused"` records the gate's refusal only; otherwise the canary is created in the
 * active experiment of the release's store and surface (made from the built-in default when it has none): a variant
 * named after the release, flagged as a canary (its own assignment layer), at steps[0] % of all traffic, a copy of
 * the heaviest live variant with the candidate as its light or heavy model. The live variants (an A/B test may be
 * running) are the baseline arm and keep their weights. `input.store` must be a known store (the admin route checks).
 */
export async function createRelease(d1: D1Database, input: NewRelease, now: number): Promise<CreateResult> {
  const db = drizzle(d1);
  const target = KIND_TARGET[input.kind];
  const id = newId(now);
  const base = {
    id,
    kind: input.kind,
    store: input.store,
    surface: target.surface,
    version: input.version,
    steps: JSON.stringify(input.steps),
    stepSeconds: input.stepSeconds,
    stepIndex: 0,
    gateReport: JSON.stringify(input.gateReport),
    startedBy: input.startedBy,
    createdAt: now,
    updatedAt: now,
  };
  if (input.status === "refused") {
    await db.insert(releases).values({
      ...base,
      baselineVersion: input.baselineVersion ?? null,
      status: "refused",
      reason: input.reason ?? "refused by the offline gate",
    });
    return { ok: true, id, status: "refused" };
  }
  if (input.kind === "light" && !Object.hasOwn(LIGHT_MODELS, input.version))
    return {
      ok: false,
      httpStatus: 422,
      error: "light_model_not_bundled",
      message: `light model ${input.version} is not bundled in this worker (bundled: ${Object.keys(LIGHT_MODELS).join(", ")}); export it and reload the worker first`,
    };
  const scope: ExperimentScope = { store: input.store, surface: target.surface };
  const running = await canaryOn(d1, scope);
  if (running)
    return {
      ok: false,
      httpStatus: 409,
      error: "release_in_progress",
      message: `release ${running.id} (${running.kind} ${running.version}) is in canary on ${describeScope(scope)}`,
    };

  const exp = await activeExperiment(d1, scope);
  // the release row goes first, only if no other canary holds the store's surface; everything else only if it went in
  const inserted = sql`EXISTS (SELECT 1 FROM releases WHERE id = ${id})`;
  const created = releaseExperiment(scope);
  const experimentId = exp?.id ?? created.id;
  const variants = exp
    ? await db.select().from(experimentVariants).where(eq(experimentVariants.experimentId, exp.id))
    : [];
  let live = variants.filter((v) => v.weight > 0 && !v.releaseId);
  const stmts: BatchItem<"sqlite">[] = [];
  if (live.length === 0) {
    // the store's surface serves the built-in default: it becomes the experiment's one variant, the baseline
    const search = target.surface === "search";
    const builtin: typeof experimentVariants.$inferSelect = {
      experimentId,
      name: search ? "default" : `${target.surface}-default`,
      weight: 1,
      lightModel: search ? DEFAULT_LIGHT_MODEL : "",
      heavyModel: search ? DEFAULT_HEAVY_MODEL : "",
      gpuTargetVariant: "",
      topM: null,
      releaseId: null,
    };
    if (!search && input.baselineVersion) builtin[target.model] = input.baselineVersion;
    live = [builtin];
    stmts.push(
      db
        .insert(experiments)
        .select(
          sql`SELECT ${experimentId}, ${input.store}, ${target.surface}, ${created.salt}, 1, ${now} WHERE ${inserted}`,
        )
        .onConflictDoUpdate({ target: experiments.id, set: { active: 1 } }),
      db
        .insert(experimentVariants)
        .select(
          sql`SELECT ${experimentId}, ${builtin.name}, 1, ${builtin.lightModel}, ${builtin.heavyModel}, '', NULL, NULL
            WHERE ${inserted}`,
        )
        .onConflictDoUpdate({
          target: [experimentVariants.experimentId, experimentVariants.name],
          set: { weight: 1, lightModel: builtin.lightModel, heavyModel: builtin.heavyModel, releaseId: null },
        }),
    );
  }
  // the canary copies the heaviest baseline variant (its GPU target, cascade size) with the candidate model
  const template = [...live].sort((x, y) => y.weight - x.weight || x.name.localeCompare(y.name))[0]!;
  const baselineVersion = input.baselineVersion ?? (template[target.model] || defaultModel(target.model));
  const w = (input.steps[0] ?? 0) / 100;
  await db.batch([
    db.insert(releases).select(
      sql`SELECT ${id}, ${input.kind}, ${input.store}, ${target.surface}, ${input.version}, ${baselineVersion},
        'canary', ${base.steps}, ${input.stepSeconds}, 0, ${now}, NULL, ${base.gateReport}, ${input.startedBy},
        ${experimentId}, ${id}, ${JSON.stringify(live.map((v) => v.name))}, ${now}, ${now}
        WHERE NOT EXISTS (SELECT 1 FROM releases WHERE store = ${input.store} AND surface = ${target.surface}
          AND status = 'canary')`,
    ),
    ...stmts,
    db.insert(experimentVariants).select(
      sql`SELECT ${experimentId}, ${id}, ${w}, ${target.model === "lightModel" ? input.version : template.lightModel},
          ${target.model === "heavyModel" ? input.version : template.heavyModel}, ${template.gpuTargetVariant},
          ${template.topM}, ${id} WHERE ${inserted}`,
    ),
    bumpExperiment(db, experimentId, now, inserted),
  ] as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  const [row] = await db.select().from(releases).where(eq(releases.id, id)).limit(1);
  if (!row) {
    const other = await canaryOn(d1, scope);
    return {
      ok: false,
      httpStatus: 409,
      error: "release_in_progress",
      message: `release ${other?.id ?? "?"} is in canary on ${describeScope(scope)}`,
    };
  }
  return { ok: true, id, status: row.status };
}

function defaultModel(model: "lightModel" | "heavyModel"): string {
  return model === "lightModel" ? DEFAULT_LIGHT_MODEL : DEFAULT_HEAVY_MODEL;
}

/** experiments.updated_at := max(updated_at + 1, now): the config version isolates check. */
function bumpExperiment(db: ReturnType<typeof drizzle>, experimentId: string, now: number, guard: SQL) {
  return db
    .update(experiments)
    .set({ updatedAt: sql`MAX(${experiments.updatedAt} + 1, ${now})` })
    .where(and(eq(experiments.id, experimentId), guard));
}

export async function getRelease(d1: D1Database, id: string): Promise<ReleaseRow | undefined> {
  const [row] = await drizzle(d1).select().from(releases).where(eq(releases.id, id)).limit(1);
  return row;
}

/** Releases, newest first; of one store when `store` is given. */
export async function listReleases(d1: D1Database, limit: number, store?: string): Promise<ReleaseRow[]> {
  return drizzle(d1)
    .select()
    .from(releases)
    .where(store === undefined ? undefined : eq(releases.store, store))
    .orderBy(desc(releases.createdAt))
    .limit(limit);
}

export async function releaseDecisionsOf(d1: D1Database, id: string): Promise<DecisionRow[]> {
  return drizzle(d1)
    .select()
    .from(releaseDecisions)
    .where(eq(releaseDecisions.releaseId, id))
    .orderBy(releaseDecisions.at, releaseDecisions.stepIndex);
}

export async function releasesInCanary(d1: D1Database): Promise<ReleaseRow[]> {
  return drizzle(d1).select().from(releases).where(eq(releases.status, "canary"));
}

/** The transition a tick (or an abort) applies to a release in canary. */
export type Transition =
  | { kind: "record"; decision: "hold" | "promote-step"; figures: unknown }
  | { kind: "step"; figures: unknown }
  | { kind: "promote"; figures: unknown }
  | { kind: "rollback"; reason: string; figures: unknown }
  | { kind: "abort"; reason: string };

/**
 * Applies a transition to a release read in state `r`; false when the release had moved on meanwhile (another tick
 * won) and nothing changed.
 */
export async function applyTransition(d1: D1Database, r: ReleaseRow, t: Transition, now: number): Promise<boolean> {
  const db = drizzle(d1);
  if (r.status !== "canary" || !r.experimentId || !r.canaryVariant) return false;
  const steps = JSON.parse(r.steps) as number[];
  const weight = steps[r.stepIndex] ?? 0;
  const unchanged = sql`EXISTS (SELECT 1 FROM releases WHERE id = ${r.id} AND status = 'canary'
    AND step_index = ${r.stepIndex} AND updated_at = ${r.updatedAt})`;
  const decision = (d: ReleaseDecisionKind, figures: unknown) =>
    db
      .insert(releaseDecisions)
      .select(
        sql`SELECT ${r.id}, ${r.stepIndex}, ${weight}, ${d}, ${JSON.stringify(figures)}, ${now} WHERE ${unchanged}`,
      );
  const canaryRow = and(
    eq(experimentVariants.experimentId, r.experimentId),
    eq(experimentVariants.name, r.canaryVariant),
    unchanged,
  );
  /** the canary's share of all traffic; the baseline variants keep their weights */
  const setCanary = (canary: number) => [
    db.update(experimentVariants).set({ weight: canary }).where(canaryRow),
    bumpExperiment(db, r.experimentId!, now, unchanged),
  ];
  /** the canary becomes the surface's default: its layer flag cleared, every other variant of the experiment retired */
  const promote = () => [
    db.update(experimentVariants).set({ weight: 1, releaseId: null }).where(canaryRow),
    db
      .update(experimentVariants)
      .set({ weight: 0 })
      .where(
        and(
          eq(experimentVariants.experimentId, r.experimentId!),
          ne(experimentVariants.name, r.canaryVariant!),
          unchanged,
        ),
      ),
    bumpExperiment(db, r.experimentId!, now, unchanged),
  ];
  const update = (set: Partial<ReleaseRow>) =>
    db
      .update(releases)
      .set({ ...set, updatedAt: Math.max(now, r.updatedAt + 1) })
      .where(and(eq(releases.id, r.id), unchanged));

  let stmts: BatchItem<"sqlite">[];
  switch (t.kind) {
    case "record":
      stmts = [decision(t.decision, t.figures), update({})];
      break;
    case "step":
      stmts = [
        decision("promote-step", t.figures),
        ...setCanary((steps[r.stepIndex + 1] ?? 100) / 100),
        update({ stepIndex: r.stepIndex + 1, stepStartedAt: now }),
      ];
      break;
    case "promote":
      stmts = [
        decision("promoted", t.figures),
        ...promote(),
        ...(r.kind === "recs-light"
          ? [
              db
                .insert(recsCurrent)
                .select(sql`SELECT ${r.store}, ${r.version} WHERE ${unchanged}`)
                .onConflictDoUpdate({ target: recsCurrent.store, set: { modelVersion: r.version } }),
            ]
          : []),
        update({ status: "promoted", reason: "every step passed its guardrails" }),
      ];
      break;
    case "rollback":
      stmts = [decision("rollback", t.figures), ...setCanary(0), update({ status: "rolled_back", reason: t.reason })];
      break;
    case "abort":
      stmts = [...setCanary(0), update({ status: "aborted", reason: t.reason })];
      break;
  }
  const results = await db.batch(stmts as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  const last = results[results.length - 1] as D1Result | undefined;
  return (last?.meta.changes ?? 0) > 0;
}
