/**
 * Experiment configuration from D1 (experiments + experiment_variants, drizzle), read once per isolate and
 * refreshed when older than CONFIG_TTL_S — never per request. Concurrent requests share one in-flight load; a
 * failed refresh keeps serving the previous config. With no active experiment for the surface, a built-in
 * single-variant default (the bundled default light/heavy models) is used.
 */
import { and, asc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
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
}

export interface ExperimentConfig {
  experimentId: string;
  salt: string;
  variants: Variant[];
  builtin: boolean;
  loadedAt: number;
}

export const BUILTIN_EXPERIMENT_ID = "builtin-default";

/** The bundled default models of a surface: the recommendation ones for "recommend", else the search ones. */
export function defaultModels(surface: string): { lightModel: string; heavyModel: string } {
  return surface === "recommend"
    ? { lightModel: DEFAULT_RECS_LIGHT_MODEL, heavyModel: DEFAULT_RECS_HEAVY_MODEL }
    : { lightModel: DEFAULT_LIGHT_MODEL, heavyModel: DEFAULT_HEAVY_MODEL };
}

export function builtinConfig(now: number, surface = "search"): ExperimentConfig {
  return {
    experimentId: BUILTIN_EXPERIMENT_ID,
    salt: BUILTIN_EXPERIMENT_ID,
    builtin: true,
    loadedAt: now,
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

/** Reads the active experiment of a surface; undefined when none (or it has no positively weighted variant). */
export async function readExperimentConfig(
  db: D1Database,
  surface: string,
  now: number,
): Promise<ExperimentConfig | undefined> {
  const orm = drizzle(db);
  const [exp] = await orm
    .select()
    .from(experiments)
    .where(and(eq(experiments.surface, surface), eq(experiments.active, 1)))
    .orderBy(asc(experiments.id))
    .limit(1);
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
    }));
  if (variants.length === 0) return undefined;
  return { experimentId: exp.id, salt: exp.salt, variants, builtin: false, loadedAt: now };
}

interface CacheSlot {
  config?: ExperimentConfig;
  inflight?: Promise<ExperimentConfig>;
}

const slots = new Map<string, CacheSlot>();

/** The isolate's config for a surface, refreshed when older than CONFIG_TTL_S. */
export async function getExperimentConfig(env: Bindings, surface = "search"): Promise<ExperimentConfig> {
  const ttlMs = config(env).experiments.configTtlMs;
  const now = Date.now();
  let slot = slots.get(surface);
  if (!slot) slots.set(surface, (slot = {}));
  if (slot.config && now - slot.config.loadedAt < ttlMs) return slot.config;
  if (!slot.inflight) {
    const s = slot;
    s.inflight = readExperimentConfig(env.DB, surface, now)
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
