/**
 * What the monitoring dashboard reads from D1 when it renders (the charts read /admin/metrics from the browser):
 * score drift, recent drill reports, the releases panel and the store list. Each part that fails to load shows as
 * "unavailable" on the page instead of failing the page.
 */
import { config } from "../config";
import { listDrillReports, type DrillSummary } from "../drills/reports";
import type { Bindings } from "../env";
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
}

async function recentDrills(db: D1Database, limit: number): Promise<DrillSummary[] | null> {
  try {
    return await listDrillReports(db, limit);
  } catch (err) {
    console.warn("drill reports unavailable", err);
    return null;
  }
}

async function releasesPanel(db: D1Database): Promise<ReleasesPanel | null> {
  try {
    const recent = (await listReleases(db, 10)).map(releaseView);
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
  const [drift, drills, releases, known] = await Promise.all([
    scoreDrift(env.DB, now).catch(() => []),
    recentDrills(env.DB, 20),
    releasesPanel(env.DB),
    storeSet(env),
  ]);
  return {
    releases,
    drift,
    drills,
    psiThreshold: config(env).metrics.driftPsiThreshold,
    range: q.range,
    step: Math.max(q.step, Math.ceil(q.range / 1440 / 60) * 60),
    stores: [...known.ids].sort(),
    store: q.store !== undefined && known.ids.has(q.store) ? q.store : undefined,
  };
}
