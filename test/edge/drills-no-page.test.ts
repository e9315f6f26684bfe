/**
 * Drills never page: drill probes roll up in their own series (traffic = "drill"), which the SLO burn-rate, anomaly
 * and drift rules do not read. A full drill run (every scenario, through the scheduled handler) on a healthy system
 * leaves the alerts quiet although its probes are degraded by design; a real outage of the same size still pages.
 * Real D1, the real flush and alert jobs (the every-minute cron); the GPU regions are the HTTP stand-in of
 * drills.test.ts, reached through the real SageMaker client.
 */
import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../edge/index";
import { app } from "../../edge/app";
import type { Bindings } from "../../edge/env";
import { config } from "../../edge/config";
import { invalidateExperimentConfig } from "../../edge/experiments/config";
import { resetGpuStateForTests } from "../../edge/gpu/index";
import { SCENARIOS } from "../../edge/drills/context";
import { listDrillReports } from "../../edge/drills/reports";
import { burnRate, BURN_WINDOWS } from "../../edge/metrics/burn-rate";
import { flushNow } from "../../edge/metrics/collector";
import { listAlerts } from "../../edge/metrics/alerts";
import { windowCell } from "../../edge/metrics/queries";
import { DRILL_SCHEDULE, EVERY_MINUTE } from "../../edge/scheduled";
import { drillTestEnv, gpuRegionsStandIn, insertFixtureProducts } from "./fixtures";
import fixture from "../fixtures/recs-features-parity.json";
import { insertRecsStore, type TablesJson } from "./recs-tables";

const PRIMARY = "http://gpu-primary.nopage.test";
const SECONDARY = "http://gpu-secondary.nopage.test";

/** Both GPU regions up (the stand-in below). */
const healthy: Bindings = drillTestEnv(PRIMARY, SECONDARY, {
  // the first searches of a test isolate build ORT sessions on a shared CPU: latency is not what this file is about
  SLO_LATENCY_THRESHOLD_MS: "20000",
});
/** Both GPU regions down for real (the vitest env points them at a closed loopback port). */
const outage: Bindings = { ...env, DRILL_PROBE_QUERY: "coffee mug", SLO_LATENCY_THRESHOLD_MS: "20000" };

const gpuStandIn = gpuRegionsStandIn(PRIMARY, SECONDARY);

beforeAll(async () => {
  await insertFixtureProducts(env.DB);
  // a store with recommendation tables: the recommend_* scenarios probe /v1/recommend on it
  await insertRecsStore(
    env.DB,
    (fixture as unknown as { tables: TablesJson }).tables,
    "online-retail",
    "recs-light-fixture",
  );
  invalidateExperimentConfig();
  vi.stubGlobal("fetch", gpuStandIn);
});
afterAll(() => vi.unstubAllGlobals());

beforeEach(async () => {
  resetGpuStateForTests();
  await flushNow(env.DB);
  await env.DB.exec(
    "DELETE FROM metrics_requests; DELETE FROM metrics_latency; DELETE FROM metrics_degraded; DELETE FROM metrics_scores; DELETE FROM alerts;",
  );
});

async function cron(e: Bindings, schedule: string): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled!(createScheduledController({ cron: schedule, scheduledTime: Date.now() }), e, ctx);
  await waitOnExecutionContext(ctx);
}

/** Real (undrilled) searches from distinct shoppers; returns how many came back degraded. Each test asks its own
 * query, so no answer comes from another test's cache entry. */
async function realSearches(e: Bindings, query: string, n: number): Promise<number> {
  let degraded = 0;
  for (let i = 0; i < n; i++) {
    const ctx = createExecutionContext();
    const res = await app.fetch(
      new Request(`http://vitrine.test/v1/search?q=${encodeURIComponent(query)}&k=5&user=shopper-${i}`),
      e,
      ctx,
    );
    expect(res.status).toBe(200);
    if ((await res.json<{ degraded: boolean }>()).degraded) degraded += 1;
    await waitOnExecutionContext(ctx);
  }
  return degraded;
}

const open = async () => (await listAlerts(env.DB)).filter((a) => a.state !== "resolved");
const nowS = () => Math.floor(Date.now() / 1000);
const fastBurn = BURN_WINDOWS.find((w) => w.name === "1h-5m")!;

describe("drills never page", () => {
  it("a full drill run on a healthy system fires no alert; its probes stay in their own series", async () => {
    expect(await realSearches(healthy, "running shoes", 4)).toBe(0);
    const startedAt = Date.now();
    await cron(healthy, DRILL_SCHEDULE);
    const reports = (await listDrillReports(env.DB, 50)).filter((r) => r.startedAt >= startedAt);
    expect(reports.map((r) => [r.scenario, r.status]).sort()).toEqual([...SCENARIOS].sort().map((s) => [s, "pass"]));
    const probes = reports.reduce((s, r) => s + r.probes, 0);

    await cron(healthy, EVERY_MINUTE); // flush, compaction, retention, alert evaluation
    expect(await open()).toEqual([]);

    const cfg = config(healthy).metrics;
    const now = nowS();
    const from = now - 3600;
    const live = await windowCell(env.DB, from, now + 60, cfg.minuteRetentionS, now, "live");
    const drill = await windowCell(env.DB, from, now + 60, cfg.minuteRetentionS, now, "drill");
    expect(live.req.requests).toBe(4);
    expect(live.req.degraded).toBe(0);
    expect(drill.req.requests).toBe(probes);
    expect(drill.req.drill).toBe(probes);
    // the probes alone burn the availability budget far past the page threshold: counted as live, they would page
    const valid = drill.req.requests - drill.req.status4xx;
    expect(drill.req.degraded).toBeGreaterThan(0);
    expect(burnRate({ valid, bad: valid - drill.req.good }, cfg.availabilityTarget)).toBeGreaterThan(fastBurn.factor);

    // the drill series is readable on its own through the admin API
    const res = await app.fetch(
      new Request("http://vitrine.test/admin/metrics?groupBy=traffic", {
        headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
      }),
      healthy,
      createExecutionContext(),
    );
    const body = await res.json<{
      series: { group: string; totals: { count: number; drill: number; degraded: number } }[];
    }>();
    const byTraffic = Object.fromEntries(body.series.map((s) => [s.group, s.totals]));
    expect(byTraffic.live).toMatchObject({ count: 4, drill: 0, degraded: 0 });
    expect(byTraffic.drill).toMatchObject({ count: probes, drill: probes });
  });

  it("a real outage still pages (availability burn rate over 1 h / 5 m)", async () => {
    expect(await realSearches(outage, "rain jacket", 12)).toBe(12);
    await cron(outage, EVERY_MINUTE);
    const firing = (await open()).map((a) => a.id);
    expect(firing).toContain(`slo:availability:${fastBurn.name}`);
    const page = (await listAlerts(env.DB, "firing")).find((a) => a.id === `slo:availability:${fastBurn.name}`);
    expect(page).toMatchObject({ kind: "slo", severity: "page" });
  });

  it("a drill run during a real outage is skipped and the real outage pages, with or without the drill", async () => {
    expect(await realSearches(outage, "desk lamp", 12)).toBe(12);
    const r = await import("../../edge/drills/runner").then((m) =>
      m.runDrill(app.fetch, outage, createExecutionContext(), "all_down", "test"),
    );
    expect(r.status).toBe("skipped"); // steady state not met: the system is already unhealthy
    await cron(outage, EVERY_MINUTE);
    expect((await open()).map((a) => a.id)).toContain(`slo:availability:${fastBurn.name}`);
  });
});
