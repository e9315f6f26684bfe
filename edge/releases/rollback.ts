/**
 * Rollback after promotion (issue 25; POST /admin/releases/rollback, `npm run release -- rollback`): puts the
 * previous production version of a kind back on a store's surface at once, with no canary, and records it as a
 * release of its own (status promoted, steps [100], gate_report {rollbackOf, reason}).
 *
 * The production history of (store, kind) is its promoted releases in order: a promotion pushes its version (the
 * first one over its baseline), a rollback pops one — so rolling back twice walks two versions back, and a rollback
 * is never "rolled back" into the version it removed. Refused with a 409 when there is no previous version, while a
 * canary runs on the surface, or when the active experiment no longer serves the production version (it was changed
 * after the promotion: change that experiment instead); 422 when a light version is not bundled in this worker.
 */
import { and, asc, eq, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { BatchItem } from "drizzle-orm/batch";
import { experimentVariants, experiments, recsCurrent, releases, type ReleaseKind } from "../db/schema";
import { activeExperiment, defaultModels, type ExperimentScope } from "../experiments/config";
import { LIGHT_MODELS, RECS_LIGHT_MODELS } from "../generated/models";
import { KIND_TARGET, canaryOn, getRelease, releaseExperiment, type ReleaseRow } from "./store";

export interface RollbackInput {
  store: string;
  kind: ReleaseKind;
  reason: string;
  startedBy: string;
}

export type RollbackResult =
  | { ok: true; release: ReleaseRow; from: string; to: string }
  | { ok: false; httpStatus: 409 | 422; error: string; message: string };

/** gate_report of a rollback release */
interface RollbackReport {
  rollbackOf?: string;
}

/** The production versions of (store, kind), oldest first, the last one serving now. */
export async function productionHistory(
  d1: D1Database,
  store: string,
  kind: ReleaseKind,
): Promise<Array<{ version: string; release: string | null }>> {
  const rows = await drizzle(d1)
    .select()
    .from(releases)
    .where(and(eq(releases.store, store), eq(releases.kind, kind), eq(releases.status, "promoted")))
    .orderBy(asc(releases.updatedAt), asc(releases.createdAt), asc(releases.id));
  const stack: Array<{ version: string; release: string | null }> = [];
  for (const r of rows) {
    if ((JSON.parse(r.gateReport) as RollbackReport).rollbackOf !== undefined) {
      stack.pop();
      continue;
    }
    if (stack.length === 0 && r.baselineVersion) stack.push({ version: r.baselineVersion, release: null });
    stack.push({ version: r.version, release: r.id });
  }
  return stack;
}

const refuse = (httpStatus: 409 | 422, error: string, message: string): RollbackResult => ({
  ok: false,
  httpStatus,
  error,
  message,
});

function newId(now: number): string {
  const rand = Array.from(crypto.getRandomValues(new Uint8Array(3)), (b) => b.toString(16).padStart(2, "0")).join("");
  return `rel-${new Date(now).toISOString().replace(/[-:T]/g, "").slice(0, 14)}-${rand}`;
}

export async function rollbackProduction(d1: D1Database, input: RollbackInput, now: number): Promise<RollbackResult> {
  const db = drizzle(d1);
  const target = KIND_TARGET[input.kind];
  const scope: ExperimentScope = { store: input.store, surface: target.surface };
  const where = `the ${scope.surface} of store ${scope.store}`;
  const running = await canaryOn(d1, scope);
  if (running)
    return refuse(
      409,
      "release_in_progress",
      `release ${running.id} (${running.kind} ${running.version}) is in canary on ${where}: abort it first`,
    );
  const history = await productionHistory(d1, input.store, input.kind);
  const current = history.at(-1);
  const previous = history.at(-2);
  if (!current || !previous)
    return refuse(
      409,
      "no_previous_version",
      current
        ? `${input.kind} ${current.version} is the only production version ${where} has had through releases`
        : `no ${input.kind} release has been promoted on ${where}`,
    );
  const bundled = input.kind === "light" ? LIGHT_MODELS : input.kind === "recs-light" ? RECS_LIGHT_MODELS : null;
  if (bundled && !Object.hasOwn(bundled, previous.version))
    return refuse(
      422,
      "light_model_not_bundled",
      `light model ${previous.version} is not bundled in this worker any more; export it and reload the worker first`,
    );

  const id = newId(now);
  const col = target.model;
  const fallback = defaultModels(scope.surface);
  const exp = await activeExperiment(d1, scope);
  const inserted = sql`EXISTS (SELECT 1 FROM releases WHERE id = ${id})`;
  const stmts: BatchItem<"sqlite">[] = [];
  let experimentId: string;
  let variantNames: string[];
  if (exp) {
    const live = (await db.select().from(experimentVariants).where(eq(experimentVariants.experimentId, exp.id))).filter(
      (v) => v.weight > 0 && !v.releaseId,
    );
    const serving = live.filter((v) => (v[col] || fallback[col]) === current.version);
    if (serving.length === 0)
      return refuse(
        409,
        "not_serving",
        `experiment ${exp.id} on ${where} serves ${input.kind} ${current.version} in none of its variants ` +
          `(${live.map((v) => `${v.name}: ${v[col] || fallback[col]}`).join(", ")}): it changed after the promotion; ` +
          `reweight or end it instead (PATCH /admin/experiments/{id})`,
      );
    experimentId = exp.id;
    variantNames = serving.map((v) => v.name);
    for (const v of serving)
      stmts.push(
        db
          .update(experimentVariants)
          .set({ [col]: previous.version })
          .where(and(eq(experimentVariants.experimentId, exp.id), eq(experimentVariants.name, v.name), inserted)),
      );
  } else {
    // the surface serves the built-in default: the release experiment takes over with the previous version
    const made = releaseExperiment(scope);
    experimentId = made.id;
    variantNames = ["default"];
    const models = { ...fallback, [col]: previous.version };
    stmts.push(
      db
        .insert(experiments)
        .select(sql`SELECT ${made.id}, ${scope.store}, ${scope.surface}, ${made.salt}, 1, ${now} WHERE ${inserted}`)
        .onConflictDoUpdate({ target: experiments.id, set: { active: 1 } }),
      db.delete(experimentVariants).where(and(eq(experimentVariants.experimentId, made.id), inserted)),
      db
        .insert(experimentVariants)
        .select(
          sql`SELECT ${made.id}, 'default', 1, ${models.lightModel}, ${models.heavyModel}, '', NULL, NULL WHERE ${inserted}`,
        ),
    );
  }
  if (input.kind === "recs-light")
    // the store's recs tables follow when the previous version's are still loaded
    stmts.push(
      db
        .insert(recsCurrent)
        .select(
          sql`SELECT ${scope.store}, ${previous.version} WHERE ${inserted} AND EXISTS (SELECT 1 FROM recs_vectors
            WHERE store = ${scope.store} AND model_version = ${previous.version})`,
        )
        .onConflictDoUpdate({ target: recsCurrent.store, set: { modelVersion: previous.version } }),
    );
  const report = JSON.stringify({ rollbackOf: current.release, from: current.version, reason: input.reason });
  const reason = `rollback of ${current.release ?? current.version}: ${input.reason}`.slice(0, 2000);
  await db.batch([
    db.insert(releases).select(
      sql`SELECT ${id}, ${input.kind}, ${input.store}, ${target.surface}, ${previous.version}, ${current.version},
        'promoted', '[100]', 0, 0, ${now}, ${reason}, ${report}, ${input.startedBy}, ${experimentId}, NULL,
        ${JSON.stringify(variantNames)}, ${now}, ${now}
        WHERE NOT EXISTS (SELECT 1 FROM releases WHERE store = ${input.store} AND surface = ${target.surface}
          AND status = 'canary')`,
    ),
    ...stmts,
    db
      .update(experiments)
      .set({ updatedAt: sql`MAX(${experiments.updatedAt} + 1, ${now})` })
      .where(and(eq(experiments.id, experimentId), inserted)),
  ] as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  const row = await getRelease(d1, id);
  if (!row) return refuse(409, "release_in_progress", `a release's canary started on ${where} meanwhile`);
  return { ok: true, release: row, from: current.version, to: previous.version };
}
