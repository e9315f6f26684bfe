/**
 * The drill runner: one scenario at a time, each bounded (DrillSettings.scenarioBudgetMs).
 *
 * A run: store a "running" row → steady-state check (skip with a reason when the system is already unhealthy) →
 * inject the scenario's fault into its own probes only → measure time to detect / fail over / recover after the
 * fault is lifted → judge against the targets → store the report (D1 drill_runs) → raise or resolve the drill alert.
 * Abort conditions (edge/drills/run.ts) stop the run at once and fail it.
 */
import { drizzle } from "drizzle-orm/d1";
import { withStoreIndex } from "../catalog/store-index";
import { storeSet } from "../stores/resolve";
import { eq } from "drizzle-orm";
import { drillRuns } from "../db/schema-drills";
import { config } from "../config";
import type { Bindings } from "../env";
import { openRunScope } from "./scope";
import { raiseAlert, resolveAlert } from "../metrics/alerts";
import { SCENARIOS, type ScenarioId } from "./context";
import { pruneNonces } from "./header";
import type { AppFetch, ProbeTarget } from "./probe";
import { DrillAborted, DrillRun, DrillSkipped, type DrillReport, type DrillStatus, type DrillTrigger } from "./run";
import { SCENARIO_RUNNERS } from "./scenarios";

export type { DrillReport, DrillStatus, DrillTrigger } from "./run";

// ---- probe query -------------------------------------------------------------------------------------------------

/**
 * DRILL_PROBE_QUERY, else a narrow query picked from the catalog: a title word matching only a few products (few
 * candidates → small GPU requests → short drills even on a CPU gpu-tier), falling back to the rarest word seen.
 */
export async function probeQuery(env: Bindings, configured: string): Promise<string | undefined> {
  if (configured) return configured;
  const store = (await storeSet(env)).defaultId; // the store the probes search: they name none
  const { results } = await env.DB.prepare(
    "SELECT title FROM products WHERE store = ?1 AND available = 1 ORDER BY rowid LIMIT 20",
  )
    .bind(store)
    .all<{ title: string }>();
  const words = [
    ...new Set(
      results.flatMap((r) =>
        (r.title.toLowerCase().match(/[a-z]{5,}/g) ?? []).sort((a, b) => b.length - a.length).slice(0, 2),
      ),
    ),
  ];
  let best: { word: string; n: number } | undefined;
  for (const word of words.slice(0, 12)) {
    const row = await env.DB.prepare(withStoreIndex("SELECT count(*) AS n FROM {{fts}} WHERE {{fts}} MATCH ?1", store))
      .bind(`"${word}"`)
      .first<{ n: number }>();
    const n = Number(row?.n ?? 0);
    if (n >= 2 && n <= 20) return word;
    if (n >= 1 && (!best || n < best.n)) best = { word, n };
  }
  return best?.word ?? results[0]?.title.slice(0, 60);
}

/**
 * What the scenario's probes ask: the recommend_* scenarios probe /v1/recommend on a store with recommendation
 * tables (the default store when it has them, else the first such store); undefined when no store has any.
 */
export async function probeTarget(env: Bindings, scenario: ScenarioId): Promise<ProbeTarget | undefined> {
  if (!scenario.startsWith("recommend_")) return { route: "search" };
  const def = (await storeSet(env)).defaultId;
  const row = await env.DB.prepare("SELECT store FROM recs_current ORDER BY store = ?1 DESC, store LIMIT 1")
    .bind(def)
    .first<{ store: string }>();
  return row ? { route: "recommend", store: row.store } : undefined;
}

// ---- storage and alerting ----------------------------------------------------------------------------------------

/** A run as stored: a scenario the worker runs, or one run outside it (edge/drills/external.ts: no targets). */
export type StoredRun = Omit<DrillReport, "scenario" | "results"> & {
  scenario: string;
  results: Omit<DrillReport["results"], "targets"> & { targets: DrillReport["results"]["targets"] | null };
};

export function toRow(r: StoredRun): typeof drillRuns.$inferInsert {
  return {
    id: r.id,
    scenario: r.scenario,
    status: r.status,
    trigger: r.trigger,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    reason: r.reason ?? null,
    timeToDetectMs: r.timeToDetectMs,
    timeToFailoverMs: r.timeToFailoverMs,
    timeToRecoverMs: r.timeToRecoverMs,
    probes: r.probes,
    non2xx: r.non2xx,
    aborted: r.aborted ? 1 : 0,
    results: JSON.stringify(r.results),
    timeline: JSON.stringify(r.timeline),
  };
}

/**
 * A failed drill fires the alert `drill:<scenario>` in the monitoring alert table (and its webhook); a later pass
 * resolves it. Same state machine and notifier as the monitoring rules (edge/metrics/alerts.ts).
 */
export async function updateAlert(
  env: Bindings,
  r: Pick<DrillReport, "id" | "status" | "reason"> & { scenario: string },
): Promise<void> {
  const id = `drill:${r.scenario}`;
  const now = Math.floor(Date.now() / 1000);
  const webhookUrl = config(env).metrics.alertWebhookUrl;
  if (r.status === "fail") {
    const summary = `drill ${r.scenario} failed: ${r.reason ?? "targets not met"} (run ${r.id})`;
    const labels = { scenario: r.scenario, drill: r.id };
    await raiseAlert(
      env.DB,
      {
        id,
        rule: "drill_failed",
        kind: "drill",
        severity: "page",
        value: null,
        threshold: null,
        summary,
        forS: 0,
        labels,
      },
      now,
      webhookUrl,
    );
    console.error(JSON.stringify({ event: "drill_failed", id: r.id, scenario: r.scenario, reason: r.reason }));
  } else if (r.status === "pass") {
    await resolveAlert(env.DB, id, now, webhookUrl);
  }
}

// ---- running -----------------------------------------------------------------------------------------------------

/** one drill at a time per isolate (cron and admin share it) */
let running: string | undefined;

export function drillInProgress(): string | undefined {
  return running;
}

export function newRunId(scenario: string): string {
  const rand = crypto.getRandomValues(new Uint8Array(4));
  return `drill-${Date.now().toString(36)}-${[...rand].map((b) => b.toString(16).padStart(2, "0")).join("")}-${scenario}`;
}

/** Runs one scenario; its probes go through `app` (the worker's `app.fetch`). */
export async function runDrill(
  app: AppFetch,
  env: Bindings,
  ctx: ExecutionContext,
  scenario: ScenarioId,
  trigger: DrillTrigger,
  opts: { colo?: string } = {},
): Promise<DrillReport> {
  const settings = config(env).drills;
  /** the colo the probes come from (the per-region drill takes its nearest region down): asked, else DRILL_COLO */
  const colo = (opts.colo || settings.colo).toUpperCase();
  const id = newRunId(scenario);
  const db = drizzle(env.DB);
  const startedAt = Date.now();
  await db.insert(drillRuns).values({ id, scenario, status: "running", trigger, startedAt });

  const finish = async (
    run: DrillRun | undefined,
    status: DrillStatus,
    reason: string | undefined,
    aborted = false,
  ): Promise<DrillReport> => {
    const report: DrillReport = {
      id,
      scenario,
      status,
      trigger,
      startedAt,
      finishedAt: Date.now(),
      ...(reason ? { reason } : {}),
      timeToDetectMs: run?.timeToDetectMs ?? null,
      timeToFailoverMs: run?.timeToFailoverMs ?? null,
      timeToRecoverMs: run?.timeToRecoverMs ?? null,
      probes: run?.probes.length ?? 0,
      non2xx: run?.non2xx ?? 0,
      aborted,
      results: { targets: settings.targets, checks: run?.checks ?? [], measurements: run?.measurements ?? {} },
      timeline: run?.timeline ?? [{ t: 0, event: "skipped", reason }],
    };
    await db.update(drillRuns).set(toRow(report)).where(eq(drillRuns.id, id));
    try {
      await updateAlert(env, report);
    } catch (err) {
      console.error(JSON.stringify({ event: "drill_alert_write_failed", id, error: String(err), status, reason }));
    }
    console.log(
      JSON.stringify({
        event: "drill_finished",
        id,
        scenario,
        status,
        reason,
        ttd: report.timeToDetectMs,
        ttf: report.timeToFailoverMs,
        ttr: report.timeToRecoverMs,
      }),
    );
    return report;
  };

  if (!env.DRILL_SECRET) return finish(undefined, "skipped", "DRILL_SECRET is not configured: probes cannot be signed");
  if (running) return finish(undefined, "skipped", `another drill is in progress in this isolate (${running})`);
  const query = await probeQuery(env, settings.probeQuery);
  if (!query)
    return finish(undefined, "skipped", "no probe query: the catalog is empty and DRILL_PROBE_QUERY is not set");

  const target = await probeTarget(env, scenario);
  if (!target) return finish(undefined, "skipped", "no store has recommendation tables to probe /v1/recommend on");

  running = id;
  const run = new DrillRun(app, id, scenario, env, ctx, settings, env.DRILL_SECRET, query, target, colo);
  const closeScope = openRunScope(id, run.onGpuEvent, run.onD1Event);
  try {
    run.mark("start", { scenario, trigger, query, ...(colo ? { colo } : {}) });
    await pruneNonces(env.DB).catch(() => undefined);
    await SCENARIO_RUNNERS[scenario](run);
    const failed = run.checks.filter((c) => !c.ok);
    run.mark("end", { failedChecks: failed.map((c) => c.name) });
    return await finish(
      run,
      failed.length === 0 ? "pass" : "fail",
      failed.length === 0 ? undefined : failed.map((c) => `${c.name}: ${c.detail}`).join("; "),
    );
  } catch (err) {
    if (err instanceof DrillSkipped) {
      run.mark("skipped", { reason: err.message });
      return await finish(run, "skipped", err.message);
    }
    if (err instanceof DrillAborted) {
      run.mark("aborted", { reason: err.message });
      return await finish(run, "fail", `aborted: ${err.message}`, true);
    }
    run.mark("error", { error: String(err) });
    return await finish(run, "fail", `drill error: ${String(err)}`);
  } finally {
    closeScope();
    running = undefined;
  }
}

/** The DRILL_SCHEDULE cron job: every configured scenario, one after another. */
export async function runScheduledDrills(app: AppFetch, env: Bindings, ctx: ExecutionContext): Promise<DrillReport[]> {
  const wanted = config(env).drills.scheduled;
  const scenarios = wanted === "all" ? SCENARIOS : SCENARIOS.filter((s) => wanted.includes(s));
  const out: DrillReport[] = [];
  for (const scenario of scenarios) out.push(await runDrill(app, env, ctx, scenario, "cron"));
  return out;
}
