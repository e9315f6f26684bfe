/**
 * Experiment configuration from D1 (experiments + experiment_variants, drizzle), one per (store, surface): a store's
 * search or recommendation traffic is split only by that store's active experiment, so an A/B test or a release's
 * canary in one store never reaches another's shoppers. Each is read once per isolate and refreshed when older than
 * CONFIG_TTL_S — never per request. In between, at most every CONFIG_VERSION_CHECK_S (2 s), the isolate reads the
 * active experiment's version (its id and updated_at: one row) and re-reads the whole config when it changed, so a
 * release's weight change reaches every isolate within seconds. Whoever changes variants bumps
 * experiments.updated_at (edge/releases/store.ts). Concurrent requests share one in-flight load; a failed refresh
 * keeps serving the previous config. With no active experiment for the (store, surface), a built-in single-variant
 * default (the surface's bundled default light/heavy models) is used.
 */
import { and, asc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { readD1 } from "../db/guarded";
import { experimentVariants, experiments } from "../db/schema";
import { config } from "../config";
import type { Bindings } from "../env";
import {
  DEFAULT_HEAVY_MODEL,
  DEFAULT_LIGHT_MODEL,
  DEFAULT_RECS_HEAVY_MODEL,
  DEFAULT_RECS_LIGHT_MODEL,
} from "../generated/models";

export interface Variant {
  experimentId: string;
  name: string;
  weight: number;
  lightModel: string;
  heavyModel: string;
  /** SageMaker production variant to pin; undefined = endpoint routing */
  gpuTargetVariant?: string;
  /** cascade size sent to the GPU tier; undefined = LIGHT_TOP_M */
  topM?: number;
  /** a release's canary: its own layer, weight = its share of all traffic (edge/experiments/assign.ts) */
  canary?: boolean;
}

export interface ExperimentConfig {
  experimentId: string;
  salt: string;
  variants: Variant[];
  builtin: boolean;
  loadedAt: number;
  /** the experiment's version (id@updated_at; "builtin" for the built-in default) */
  version: string;
  /** when this isolate last confirmed the version */
  checkedAt: number;
}

export const BUILTIN_EXPERIMENT_ID = "builtin-default";
const BUILTIN_VERSION = "builtin";

/** The ranked surfaces: each store has one active experiment per surface. */
export const SURFACES = ["search", "recommend"] as const;
export type Surface = (typeof SURFACES)[number];

/** Whose traffic an experiment splits: one surface of one store (stores.id). */
export interface ExperimentScope {
  store: string;
  surface: Surface;
}

const versionOf = (exp: { id: string; updatedAt: number }): string => `${exp.id}@${exp.updatedAt}`;

/** The active experiment row of a store's surface (the lowest id when several are active). */
export async function activeExperiment(db: D1Database, scope: ExperimentScope) {
  const [exp] = await drizzle(db)
    .select()
    .from(experiments)
    .where(and(eq(experiments.store, scope.store), eq(experiments.surface, scope.surface), eq(experiments.active, 1)))
    .orderBy(asc(experiments.id))
    .limit(1);
  return exp;
}

/** The version of a store's surface config as D1 holds it now: one indexed row. */
export async function readConfigVersion(db: D1Database, scope: ExperimentScope): Promise<string> {
  const exp = await activeExperiment(db, scope);
  return exp ? versionOf(exp) : BUILTIN_VERSION;
}

/** The bundled default models of a surface: the recommendation ones for "recommend", else the search ones. */
export function defaultModels(surface: Surface): { lightModel: string; heavyModel: string } {
  return surface === "recommend"
    ? { lightModel: DEFAULT_RECS_LIGHT_MODEL, heavyModel: DEFAULT_RECS_HEAVY_MODEL }
    : { lightModel: DEFAULT_LIGHT_MODEL, heavyModel: DEFAULT_HEAVY_MODEL };
}

export function builtinConfig(now: number, surface: Surface = "search"): ExperimentConfig {
  return {
    experimentId: BUILTIN_EXPERIMENT_ID,
    salt: BUILTIN_EXPERIMENT_ID,
    builtin: true,
    loadedAt: now,
    version: BUILTIN_VERSION,
    checkedAt: now,
    variants: [
      {
        experimentId: BUILTIN_EXPERIMENT_ID,
        name: "default",
        weight: 1,
        ...defaultModels(surface),
      },
    ],
  };
}

/**
 * Reads the active experiment of a store's surface; undefined when none (or it has no positively weighted variant).
 */
export async function readExperimentConfig(
  db: D1Database,
  scope: ExperimentScope,
  now: number,
): Promise<ExperimentConfig | undefined> {
  const orm = drizzle(db);
  const exp = await activeExperiment(db, scope);
  if (!exp) return undefined;
  const rows = await orm
    .select()
    .from(experimentVariants)
    .where(eq(experimentVariants.experimentId, exp.id))
    .orderBy(asc(experimentVariants.name));
  const variants: Variant[] = rows
    .filter((r) => r.weight > 0)
    .map((r) => ({
      experimentId: r.experimentId,
      name: r.name,
      weight: r.weight,
      lightModel: r.lightModel,
      heavyModel: r.heavyModel,
      ...(r.gpuTargetVariant ? { gpuTargetVariant: r.gpuTargetVariant } : {}),
      ...(r.topM != null && r.topM > 0 ? { topM: r.topM } : {}),
      ...(r.releaseId ? { canary: true } : {}),
    }));
  if (variants.length === 0) return undefined;
  return {
    experimentId: exp.id,
    salt: exp.salt,
    variants,
    builtin: false,
    loadedAt: now,
    version: versionOf(exp),
    checkedAt: now,
  };
}

interface CacheSlot {
  config?: ExperimentConfig;
  inflight?: Promise<ExperimentConfig>;
}

/** One slot per (store, surface). */
const slots = new Map<string, CacheSlot>();
const slotKey = (scope: ExperimentScope): string => `${scope.store}\u0001${scope.surface}`;

/**
 * Reloads the config unless D1's version still matches the cached one; an unchanged version only marks the cached
 * config checked (its loadedAt, hence the TTL, is kept).
 */
async function refresh(
  db: D1Database,
  scope: ExperimentScope,
  cached: ExperimentConfig,
  now: number,
): Promise<ExperimentConfig | undefined> {
  if ((await readConfigVersion(db, scope)) === cached.version) {
    cached.checkedAt = now;
    return cached;
  }
  return readExperimentConfig(db, scope, now);
}

/**
 * The isolate's config for a store's surface: re-read when older than CONFIG_TTL_S, or when its version changed
 * (checked at most every CONFIG_VERSION_CHECK_S). The store is the one the request resolved (edge/stores/resolve.ts).
 */
export async function getExperimentConfig(env: Bindings, scope: ExperimentScope): Promise<ExperimentConfig> {
  const { configTtlMs, versionCheckMs } = config(env).experiments;
  const { surface } = scope;
  const now = Date.now();
  const key = slotKey(scope);
  let slot = slots.get(key);
  if (!slot) slots.set(key, (slot = {}));
  const cached = slot.config;
  if (cached && now - cached.loadedAt < configTtlMs && now - cached.checkedAt < versionCheckMs) return cached;
  if (!slot.inflight) {
    const s = slot;
    const fresh = cached && now - cached.loadedAt < configTtlMs;
    s.inflight = readD1(env, (db) => (fresh ? refresh(db, scope, cached, now) : readExperimentConfig(db, scope, now)))
      .then((cfg) => cfg ?? builtinConfig(now, surface))
      .catch((err: unknown) => {
        console.error("experiment config refresh failed; keeping the previous config", err);
        return s.config ?? builtinConfig(now, surface);
      })
      .then((cfg) => {
        s.config = cfg;
        s.inflight = undefined;
        return cfg;
      });
  }
  return slot.inflight as Promise<ExperimentConfig>;
}

/** Forget the cached configs (tests; an admin "reload now"). */
export function invalidateExperimentConfig(): void {
  slots.clear();
}
