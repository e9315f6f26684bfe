/**
 * Which model versions an experiment's variant may name on a surface — what this edge can know exists:
 *  - light: the versions bundled into this worker (the registry export, edge/generated/models): LIGHT_MODELS for
 *    search, RECS_LIGHT_MODELS for recommend — anything else could not be scored here;
 *  - heavy: the export's defaults and blend table, plus every version D1 knows was deployed to the GPU tier — a
 *    release of that kind past its gate (canary, promoted, rolled back, aborted; their baselines too) or a version a
 *    variant of that surface already serves.
 * "" always means the surface's bundled default.
 */
import { and, eq, ne } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { experimentVariants, experiments, releases, type ReleaseKind } from "../db/schema";
import {
  DEFAULT_HEAVY_MODEL,
  DEFAULT_RECS_HEAVY_MODEL,
  HEAVY_BLEND_WEIGHTS,
  LIGHT_MODELS,
  RECS_LIGHT_MODELS,
} from "../generated/models";
import type { Surface } from "./config";

export interface KnownModels {
  light: Set<string>;
  heavy: Set<string>;
}

const HEAVY_KIND: Record<Surface, ReleaseKind> = { search: "heavy", recommend: "recs-heavy" };

export async function knownModels(d1: D1Database, surface: Surface): Promise<KnownModels> {
  const db = drizzle(d1);
  const light = new Set(Object.keys(surface === "search" ? LIGHT_MODELS : RECS_LIGHT_MODELS));
  const heavy = new Set(
    surface === "search" ? [DEFAULT_HEAVY_MODEL, ...Object.keys(HEAVY_BLEND_WEIGHTS)] : [DEFAULT_RECS_HEAVY_MODEL],
  );
  const [released, served] = await Promise.all([
    db
      .select({ version: releases.version, baseline: releases.baselineVersion })
      .from(releases)
      .where(and(eq(releases.kind, HEAVY_KIND[surface]), ne(releases.status, "refused"))),
    db
      .selectDistinct({ heavy: experimentVariants.heavyModel })
      .from(experimentVariants)
      .innerJoin(experiments, eq(experiments.id, experimentVariants.experimentId))
      .where(eq(experiments.surface, surface)),
  ]);
  for (const r of released) {
    heavy.add(r.version);
    if (r.baseline) heavy.add(r.baseline);
  }
  for (const s of served) heavy.add(s.heavy);
  heavy.delete("");
  return { light, heavy };
}

/** What is wrong with the models the variants name ([] when each is known), one sentence per unknown model. */
export async function unknownModels(
  d1: D1Database,
  surface: Surface,
  variants: ReadonlyArray<{ name: string; lightModel?: string | undefined; heavyModel?: string | undefined }>,
): Promise<string[]> {
  const known = await knownModels(d1, surface);
  const out: string[] = [];
  const list = (s: Set<string>) => [...s].sort().join(", ") || "none";
  for (const v of variants) {
    if (v.lightModel && !known.light.has(v.lightModel))
      out.push(
        `variant ${v.name}: light model ${v.lightModel} is not bundled in this worker for ${surface} (bundled: ${list(known.light)})`,
      );
    if (v.heavyModel && !known.heavy.has(v.heavyModel))
      out.push(
        `variant ${v.name}: heavy model ${v.heavyModel} is not known for ${surface} (known: ${list(known.heavy)})`,
      );
  }
  return out;
}
