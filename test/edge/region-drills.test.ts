/**
 * The failover drill per region in workerd: primary_down takes the nearest GPU region of the drill's colo down (the
 * colo from the admin request's body, DRILL_COLO, or the admin request's own cf.colo), its probes are routed like a
 * shopper's there, and the report names the region that took over and the latency it added. Three GPU regions are
 * stand-ins (fetch stubbed by URL origin, reached through the real SageMaker client); us-east-1 holds each answer
 * 40 ms, so a failover to it adds at least that to the GPU stage whatever the machine's load.
 */
import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../edge/index";
import { app } from "../../edge/app";
import type { Bindings } from "../../edge/env";
import { invalidateExperimentConfig } from "../../edge/experiments/config";
import { resetGpuStateForTests } from "../../edge/gpu/index";
import { getDrillReport, listDrillReports } from "../../edge/drills/reports";
import { runDrill } from "../../edge/drills/runner";
import type { DrillReport } from "../../edge/drills/run";
import { DRILL_SCHEDULE } from "../../edge/scheduled";
import { drillTestEnv, insertFixtureProducts, regionsStandIn } from "./fixtures";

const URLS: Record<string, string> = {
  "us-east-1": "http://gpu-use1.region-drill.test",
  "eu-central-1": "http://gpu-euc1.region-drill.test",
  "ap-southeast-2": "http://gpu-apse2.region-drill.test",
};
const US_EAST_DELAY_MS = 40;

/** The regions in failover order, the 150 ms GPU budget (FRA ↔ us-east-1 ≈ 91 ms: in reach; GRU ↔ eu-central-1 ≈ 197 ms: not). */
const regionEnv = (extra: Partial<Bindings> = {}): Bindings =>
  drillTestEnv(URLS["us-east-1"]!, URLS["eu-central-1"]!, {
    GPU_REGIONS: JSON.stringify(Object.entries(URLS).map(([region, url]) => ({ region, endpoint: "ranker", url }))),
    GPU_DEADLINE_MS: "150",
    ...extra,
  });

const calls: { region: string }[] = [];

beforeAll(async () => {
  await insertFixtureProducts(env.DB);
  invalidateExperimentConfig();
  vi.stubGlobal(
    "fetch",
    regionsStandIn(URLS, {
      onCall: (region) => calls.push({ region }),
      delayMs: { "us-east-1": US_EAST_DELAY_MS },
    }),
  );
});
afterAll(() => vi.unstubAllGlobals());
beforeEach(() => {
  resetGpuStateForTests();
  calls.length = 0;
});

const faultProbes = async (r: DrillReport | { id: string }) =>
  (await getDrillReport(env.DB, r.id))!.timeline.filter((e) => e.event === "probe" && e.phase === "fault");

describe("primary_down per region", () => {
  it("FRA: eu-central-1 down, us-east-1 takes over; the report gives the added GPU-stage and end-to-end p50", async () => {
    const r = await runDrill(app.fetch, regionEnv(), createExecutionContext(), "primary_down", "test", {
      colo: "FRA",
    });
    expect({ status: r.status, reason: r.reason }).toEqual({ status: "pass", reason: undefined });
    expect(r.results.checks.map((c) => c.name)).toContain("takeover_region");
    const m = r.results.measurements;
    expect(m).toMatchObject({
      colo: "FRA",
      homeRegion: "eu-central-1",
      expectedTakeover: "us-east-1",
      takeoverRegion: "us-east-1",
      baseline: { probes: 3 },
    });
    expect(Object.keys(m.servedUnderFault as object)).toEqual(["us-east-1"]);
    const baseline = m.baseline as { gpuP50Ms: number; e2eP50Ms: number };
    const under = m.underFault as { probes: number; gpuP50Ms: number; e2eP50Ms: number };
    expect(under.probes).toBeGreaterThan(0);
    // us-east-1 holds each answer 40 ms: the GPU stage under the fault is at least that, whatever the load
    expect(under.gpuP50Ms).toBeGreaterThanOrEqual(US_EAST_DELAY_MS);
    expect(m.addedGpuP50Ms).toBe(under.gpuP50Ms - baseline.gpuP50Ms);
    expect(m.addedE2eP50Ms).toBe(under.e2eP50Ms - baseline.e2eP50Ms);
    for (const p of await faultProbes(r))
      expect(p).toMatchObject({ status: 200, degraded: false, gpu: { region: "us-east-1" } });
    // the fault is the drill's own: every call eu-central-1 got served a probe (the baseline's, the recovery's),
    // none came while it was "down" (refused before leaving the edge), and it served again after the fault
    const probes = (await getDrillReport(env.DB, r.id))!.timeline.filter((e) => e.event === "probe");
    const servedByHome = probes.filter((e) => (e.gpu as { region?: string } | undefined)?.region === "eu-central-1");
    expect(calls.filter((c) => c.region === "eu-central-1").length).toBe(servedByHome.length);
    expect(servedByHome.map((e) => e.phase)).toEqual(["steady", "steady", "steady", "recovery"]);
  });

  it("GRU: us-east-1 down and no other region within reach → the light ranking at once, no far region called", async () => {
    const r = await runDrill(app.fetch, regionEnv(), createExecutionContext(), "primary_down", "test", {
      colo: "GRU",
    });
    expect({ status: r.status, reason: r.reason }).toEqual({ status: "pass", reason: undefined });
    expect(r.results.measurements).toMatchObject({
      colo: "GRU",
      homeRegion: "us-east-1",
      expectedTakeover: null,
      takeoverRegion: null,
    });
    const under = await faultProbes(r);
    expect(under.length).toBeGreaterThan(0);
    for (const p of under) {
      expect(p).toMatchObject({ status: 200, degraded: true });
      expect(String(p.degradedReason)).toMatch(/gpu_(out_of_reach|circuit_open|unreachable)/);
    }
    expect(calls.filter((c) => c.region !== "us-east-1")).toEqual([]);
  });

  it("no colo (the cron's default): the first configured region is the one taken down, as before", async () => {
    const r = await runDrill(app.fetch, regionEnv(), createExecutionContext(), "primary_down", "test");
    expect(r.status).toBe("pass");
    expect(r.results.measurements).toMatchObject({
      colo: null,
      homeRegion: "us-east-1",
      takeoverRegion: "eu-central-1",
    });
  });
});

describe("choosing the colo", () => {
  const post = (body: unknown, e: Bindings, cf?: { colo: string }) =>
    app.fetch(
      new Request("http://vitrine.test/admin/drills/run", {
        method: "POST",
        headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify(body),
        ...(cf ? { cf } : {}),
      } as RequestInit),
      e,
      createExecutionContext(),
    );

  it("POST /admin/drills/run takes a colo; without one, DRILL_COLO, else the admin request's own cf.colo", async () => {
    const asked = await post({ scenario: "primary_down", colo: "iad" }, regionEnv(), { colo: "FRA" });
    expect(asked.status).toBe(200);
    expect(((await asked.json()) as DrillReport).results.measurements).toMatchObject({
      colo: "IAD",
      homeRegion: "us-east-1",
      takeoverRegion: "eu-central-1",
    });
    resetGpuStateForTests();
    const own = await post({ scenario: "primary_down" }, regionEnv(), { colo: "FRA" });
    expect(((await own.json()) as DrillReport).results.measurements).toMatchObject({
      colo: "FRA",
      homeRegion: "eu-central-1",
    });
    resetGpuStateForTests();
    const configured = await post({ scenario: "primary_down" }, regionEnv({ DRILL_COLO: "GRU" }), { colo: "FRA" });
    expect(((await configured.json()) as DrillReport).results.measurements).toMatchObject({
      colo: "GRU",
      homeRegion: "us-east-1",
    });
  });

  it("a malformed colo is a 400, and no drill runs", async () => {
    const before = (await listDrillReports(env.DB, 200)).length;
    const res = await post({ scenario: "primary_down", colo: "Sydney" }, regionEnv());
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: expect.any(String) });
    expect((await listDrillReports(env.DB, 200)).length).toBe(before);
  });

  it("the cron drill runs from DRILL_COLO, and the drills list (the dashboard's) carries its region figures", async () => {
    const startedAt = Date.now();
    const e = regionEnv({ DRILL_COLO: "FRA", DRILL_SCENARIOS: "primary_down" });
    const ctx = createExecutionContext();
    await worker.scheduled!(createScheduledController({ cron: DRILL_SCHEDULE, scheduledTime: Date.now() }), e, ctx);
    await waitOnExecutionContext(ctx);
    const runs = (await listDrillReports(env.DB, 50)).filter((d) => d.startedAt >= startedAt);
    expect(runs.map((d) => [d.scenario, d.status])).toEqual([["primary_down", "pass"]]);
    expect(runs[0]!.region).toEqual({
      colo: "FRA",
      home: "eu-central-1",
      takeover: "us-east-1",
      addedGpuP50Ms: expect.any(Number),
      addedE2eP50Ms: expect.any(Number),
    });
    // the dashboard's drills table shows them (behind its login: a session cookie for the admin token)
    const call = (path: string, init: RequestInit = {}) =>
      app.fetch(new Request(`http://vitrine.test${path}`, init), e, createExecutionContext());
    const login = await call("/dashboard/login", {
      method: "POST",
      body: new URLSearchParams({ token: env.ADMIN_TOKEN! }),
      redirect: "manual",
    });
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    const page = await call("/dashboard", { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("FRA: eu-central-1 → us-east-1 (+");
  });
});
