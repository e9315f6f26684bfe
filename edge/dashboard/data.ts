/**
 * What the monitoring dashboard reads from D1 when it renders (the charts read /admin/metrics from the browser):
 * score drift, recent drill reports, the releases panel, the store list and the models an experiment may name; with a
 * store picked, the releases and the score drift are that store's. Each part that fails to load shows as
 * "unavailable" on the page instead of failing the page.
 */
import { config } from "../config";
import { listDrillReports, type DrillSummary } from "../drills/reports";
import type { Bindings } from "../env";
import { SURFACES, type Surface } from "../experiments/config";
import { knownModels } from "../experiments/models";
import { flushNow } from "../metrics/collector";
import { scoreDrift, type DriftFigure } from "../metrics/drift";
import { listReleases, releaseDecisionsOf, releaseView, type DecisionRow, type ReleaseView } from "../releases/store";
import { storeSet } from "../stores/resolve";

/** The release the dashboard charts: the one in canary, else the latest that reached a canary; and the recent ones. */
export interface ReleasesPanel {
  recent: ReleaseView[];
  focus: ReleaseView | null;
  decisions: DecisionRow[];
}

export interface DashboardData {
  releases: ReleasesPanel | null;
  drift: DriftFigure[];
  drills: DrillSummary[] | null;
  psiThreshold: number;
  range: number;
  step: number;
  /** every store id, and the one the charts are filtered on (undefined: all stores) */
  stores: string[];
  store: string | undefined;
  /** the models an experiment's variant may name, per surface (the create form's suggestions) */
  models: Record<Surface, { light: string[]; heavy: string[] }> | null;
}

async function experimentModels(db: D1Database): Promise<DashboardData["models"]> {
  try {
    const out = {} as NonNullable<DashboardData["models"]>;
    for (const surface of SURFACES) {
      const k = await knownModels(db, surface);
      out[surface] = { light: [...k.light].sort(), heavy: [...k.heavy].sort() };
    }
    return out;
  } catch (err) {
    console.warn("experiment models unavailable", err);
    return null;
  }
}

async function recentDrills(db: D1Database, limit: number): Promise<DrillSummary[] | null> {
  try {
    return await listDrillReports(db, limit);
  } catch (err) {
    console.warn("drill reports unavailable", err);
    return null;
  }
}

async function releasesPanel(db: D1Database, store: string | undefined): Promise<ReleasesPanel | null> {
  try {
    const recent = (await listReleases(db, 10, store)).map(releaseView);
    const focus = recent.find((r) => r.status === "canary") ?? recent.find((r) => r.canaryVariant !== null) ?? null;
    return { recent, focus, decisions: focus ? await releaseDecisionsOf(db, focus.id) : [] };
  } catch (err) {
    console.warn("releases unavailable", err);
    return null;
  }
}

/**
 * The page's data for a time range (seconds), a chart step (raised so a range never holds more than 1440 points)
 * and an optional store (an unknown one shows every store). This isolate's pending metrics are flushed first.
 */
export async function dashboardData(
  env: Bindings,
  q: { range: number; step: number; store?: string | undefined },
): Promise<DashboardData> {
  await flushNow(env.DB).catch((err: unknown) => console.warn("metrics flush before dashboard", err));
  const now = Math.floor(Date.now() / 1000);
  const known = await storeSet(env);
  // a store picked: the releases panel, the score drift and the experiments are that store's alone
  const store = q.store !== undefined && known.ids.has(q.store) ? q.store : undefined;
  const [drift, drills, releases, models] = await Promise.all([
    scoreDrift(env.DB, now, undefined, undefined, store).catch(() => []),
    recentDrills(env.DB, 20),
    releasesPanel(env.DB, store),
    experimentModels(env.DB),
  ]);
  return {
    releases,
    drift,
    drills,
    psiThreshold: config(env).metrics.driftPsiThreshold,
    range: q.range,
    step: Math.max(q.step, Math.ceil(q.range / 1440 / 60) * 60),
    stores: [...known.ids].sort(),
    store,
    models,
  };
}
