/**
 * Releases in D1: recording one, creating its canary beside the surface's live variant, walking the canary's weight,
 * rolling back, promoting, aborting. Every change of the canary is one D1 batch (a transaction) whose statements are
 * all guarded by the release's state as it was read (status, step, updated_at), so a cron tick and an admin tick
 * racing on the same release change it once; each batch bumps the experiment's updated_at, the version every isolate
 * checks within seconds (edge/experiments/config.ts).
 */
import { and, desc, eq, sql, type SQL } from "drizzle-orm";
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
import { DEFAULT_HEAVY_MODEL, DEFAULT_LIGHT_MODEL, LIGHT_MODELS } from "../generated/models";

export type ReleaseRow = typeof releases.$inferSelect;
export type DecisionRow = typeof releaseDecisions.$inferSelect;

/** The surface a kind's model serves and the variant column that names it. */
export const KIND_TARGET: Record<ReleaseKind, { surface: "search" | "recommend"; model: "lightModel" | "heavyModel" }> =
  {
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

/** The release in canary on a surface, if any. */
export async function canaryOn(d1: D1Database, surface: string): Promise<ReleaseRow | undefined> {
  const [row] = await drizzle(d1)
    .select()
    .from(releases)
    .where(and(eq(releases.surface, surface), eq(releases.status, "canary")))
    .limit(1);
  return row;
}

/**
 * Records a release. `status: "refused"` records the gate's refusal only; otherwise the canary is created: the
 * surface's active experiment (created from the built-in default when there is none) must have exactly one live
 * variant, the baseline; the canary is a copy of it with the candidate as its light or heavy model, at steps[0] %,
 * in the next position (its weight range at the end of [0, 1)).
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
  const running = await canaryOn(d1, target.surface);
  if (running)
    return {
      ok: false,
      httpStatus: 409,
      error: "release_in_progress",
      message: `release ${running.id} (${running.kind} ${running.version}) is in canary on ${target.surface}`,
    };

  const [exp] = await db
    .select()
    .from(experiments)
    .where(and(eq(experiments.surface, target.surface), eq(experiments.active, 1)))
    .orderBy(experiments.id)
    .limit(1);
  // the release row goes first, only if no other canary holds the surface; everything else only if it went in
  const inserted = sql`EXISTS (SELECT 1 FROM releases WHERE id = ${id})`;
  const stmts: BatchItem<"sqlite">[] = [];
  let experimentId: string;
  let baseline: typeof experimentVariants.$inferSelect;
  let nextPosition: number;
  if (exp) {
    experimentId = exp.id;
    const variants = await db.select().from(experimentVariants).where(eq(experimentVariants.experimentId, exp.id));
    const live = variants.filter((v) => v.weight > 0);
    if (live.length !== 1 || !live[0])
      return {
        ok: false,
        httpStatus: 409,
        error: "experiment_running",
        message: `experiment ${exp.id} on ${target.surface} has ${live.length} live variants (${live.map((v) => v.name).join(", ")}); a release needs exactly one baseline variant`,
      };
    baseline = live[0];
    nextPosition = Math.max(...variants.map((v) => v.position)) + 1;
  } else {
    // no experiment yet: the built-in default becomes the surface's experiment, its one variant the baseline
    experimentId = `${target.surface}-releases`;
    const search = target.surface === "search";
    baseline = {
      experimentId,
      name: search ? "default" : `${target.surface}-default`,
      weight: 1,
      lightModel: search ? DEFAULT_LIGHT_MODEL : "",
      heavyModel: search ? DEFAULT_HEAVY_MODEL : "",
      gpuTargetVariant: "",
      topM: null,
      position: 0,
    };
    if (!search && input.baselineVersion) baseline[target.model] = input.baselineVersion;
    nextPosition = 1;
    stmts.push(
      db
        .insert(experiments)
        .select(
          sql`SELECT ${experimentId}, ${target.surface}, ${`vitrine-${target.surface}-v1`}, 1, ${now} WHERE ${inserted}`,
        )
        .onConflictDoUpdate({ target: experiments.id, set: { active: 1 } }),
      db
        .update(experimentVariants)
        .set({ weight: 0 })
        .where(and(eq(experimentVariants.experimentId, experimentId), inserted)),
      db
        .insert(experimentVariants)
        .select(
          sql`SELECT ${experimentId}, ${baseline.name}, 1, ${baseline.lightModel}, ${baseline.heavyModel}, '', NULL, 0
            WHERE ${inserted}`,
        )
        .onConflictDoUpdate({
          target: [experimentVariants.experimentId, experimentVariants.name],
          set: { weight: 1, lightModel: baseline.lightModel, heavyModel: baseline.heavyModel, position: 0 },
        }),
    );
  }
  const baselineVersion = input.baselineVersion ?? (baseline[target.model] || defaultModel(target.model));
  const canaryName = `canary-${id}`;
  const w = (input.steps[0] ?? 0) / 100;
  await db.batch([
    db.insert(releases).select(
      sql`SELECT ${id}, ${input.kind}, ${input.store}, ${target.surface}, ${input.version}, ${baselineVersion},
        'canary', ${base.steps}, ${input.stepSeconds}, 0, ${now}, NULL, ${base.gateReport}, ${input.startedBy},
        ${experimentId}, ${baseline.name}, ${canaryName}, ${now}, ${now}
        WHERE NOT EXISTS (SELECT 1 FROM releases WHERE surface = ${target.surface} AND status = 'canary')`,
    ),
    ...stmts,
    db.insert(experimentVariants).select(
      sql`SELECT ${experimentId}, ${canaryName}, ${w}, ${target.model === "lightModel" ? input.version : baseline.lightModel},
          ${target.model === "heavyModel" ? input.version : baseline.heavyModel}, ${baseline.gpuTargetVariant},
          ${baseline.topM}, ${nextPosition} WHERE ${inserted}`,
    ),
    db
      .update(experimentVariants)
      .set({ weight: 1 - w })
      .where(
        and(eq(experimentVariants.experimentId, experimentId), eq(experimentVariants.name, baseline.name), inserted),
      ),
    bumpExperiment(db, experimentId, now, inserted),
  ] as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  const [row] = await db.select().from(releases).where(eq(releases.id, id)).limit(1);
  if (!row) {
    const other = await canaryOn(d1, target.surface);
    return {
      ok: false,
      httpStatus: 409,
      error: "release_in_progress",
      message: `release ${other?.id ?? "?"} is in canary on ${target.surface}`,
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

export async function listReleases(d1: D1Database, limit: number): Promise<ReleaseRow[]> {
  return drizzle(d1).select().from(releases).orderBy(desc(releases.createdAt)).limit(limit);
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
  if (r.status !== "canary" || !r.experimentId || !r.canaryVariant || !r.baselineVariant) return false;
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
  const setWeights = (canary: number) => [
    db
      .update(experimentVariants)
      .set({ weight: canary })
      .where(
        and(
          eq(experimentVariants.experimentId, r.experimentId!),
          eq(experimentVariants.name, r.canaryVariant!),
          unchanged,
        ),
      ),
    db
      .update(experimentVariants)
      .set({ weight: 1 - canary })
      .where(
        and(
          eq(experimentVariants.experimentId, r.experimentId!),
          eq(experimentVariants.name, r.baselineVariant!),
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
        ...setWeights((steps[r.stepIndex + 1] ?? 100) / 100),
        update({ stepIndex: r.stepIndex + 1, stepStartedAt: now }),
      ];
      break;
    case "promote":
      stmts = [
        decision("promoted", t.figures),
        ...setWeights(1),
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
      stmts = [decision("rollback", t.figures), ...setWeights(0), update({ status: "rolled_back", reason: t.reason })];
      break;
    case "abort":
      stmts = [...setWeights(0), update({ status: "aborted", reason: t.reason })];
      break;
  }
  const results = await db.batch(stmts as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  const last = results[results.length - 1] as D1Result | undefined;
  return (last?.meta.changes ?? 0) > 0;
}
