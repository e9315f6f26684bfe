/**
 * Failover drills in workerd: every scenario run through the worker's scheduled handler stores a report with
 * measured times; the admin API; skips on an unhealthy system; a failed drill fires an alert; a forged drill
 * header injects nothing.
 *
 * The GPU tier here is an HTTP stand-in for the two regions (the SageMaker container contract: scores per
 * document), reached through the real SageMaker client; the real gpu-tier processes are exercised by
 * test/integration/chaos.test.mjs and by `npm start` + the drill cron.
 */
import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../edge/index";
import { app } from "../../edge/app";
import type { Bindings } from "../../edge/env";
import { invalidateExperimentConfig } from "../../edge/experiments/config";
import { applyConditions } from "../../edge/metrics/alerts";
import { resetGpuStateForTests } from "../../edge/gpu/index";
import type { GpuEvent } from "../../edge/gpu/types";
import { openRunScope } from "../../edge/drills/scope";
import { SCENARIOS } from "../../edge/drills/context";
import { DRILL_HEADER, signDrillHeader } from "../../edge/drills/header";
import { getDrillReport, listDrillReports } from "../../edge/drills/reports";
import { runDrill } from "../../edge/drills/runner";
import { DRILL_SCHEDULE } from "../../edge/scheduled";
import { drillTestEnv, gpuRegionsStandIn, insertFixtureProducts } from "./fixtures";
import fixture from "../fixtures/recs-features-parity.json";
import { insertRecsStore, type TablesJson } from "./recs-tables";

const PRIMARY = "http://gpu-primary.drill.test";
const SECONDARY = "http://gpu-secondary.drill.test";

/** Both regions up, quick cool-down so recovery fits the test. */
const drillEnv: Bindings = drillTestEnv(PRIMARY, SECONDARY);

const gpuCalls: string[] = [];
const gpuStandIn = gpuRegionsStandIn(PRIMARY, SECONDARY, (role) => gpuCalls.push(role));

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

beforeEach(() => {
  resetGpuStateForTests();
  gpuCalls.length = 0;
});

async function scheduled(e: Bindings): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled!(createScheduledController({ cron: DRILL_SCHEDULE, scheduledTime: Date.now() }), e, ctx);
  await waitOnExecutionContext(ctx);
}

function admin(
  path: string,
  init: RequestInit = {},
  e: Bindings = drillEnv,
  token = env.ADMIN_TOKEN,
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token) headers.set("authorization", `Bearer ${token}`);
  return Promise.resolve(
    app.fetch(new Request(`http://vitrine.test${path}`, { ...init, headers }), e, createExecutionContext()),
  );
}

describe("drill scenarios via the scheduled handler", () => {
  it("each scenario passes and stores a report with measured times", async () => {
    const startedAt = Date.now();
    await scheduled(drillEnv);
    const reports = (await listDrillReports(env.DB, 50)).filter((r) => r.startedAt >= startedAt);
    expect(reports.map((r) => r.scenario).sort()).toEqual([...SCENARIOS].sort());
    for (const r of reports) {
      const failed = r.checks.filter((c) => !c.ok);
      expect({ scenario: r.scenario, status: r.status, reason: r.reason, failed }).toEqual({
        scenario: r.scenario,
        status: "pass",
        reason: null,
        failed: [],
      });
      expect(r.trigger).toBe("cron");
      expect(r.non2xx).toBe(0);
      expect(r.probes).toBeGreaterThan(0);
      expect(r.timeToDetectMs).toEqual(expect.any(Number));
      expect(r.timeToFailoverMs).toEqual(expect.any(Number));
      expect(r.timeToRecoverMs).toEqual(expect.any(Number));
      const detail = await getDrillReport(env.DB, r.id);
      const events = detail!.timeline.map((e) => e.event);
      expect(events).toEqual(
        expect.arrayContaining([
          "start",
          "steady_state_ok",
          "fault_injected",
          "detected",
          "fault_lifted",
          "recovered",
          "end",
        ]),
      );
    }
    // the primary_down drill really failed over: its probes were answered by the secondary while the fault was on
    const pd = await getDrillReport(env.DB, reports.find((r) => r.scenario === "primary_down")!.id);
    const underFault = pd!.timeline.filter((e) => e.event === "probe" && e.phase === "fault");
    expect(underFault.length).toBeGreaterThan(0);
    for (const e of underFault)
      expect(e).toMatchObject({
        status: 200,
        degraded: false,
        gpu: { endpoint: expect.stringMatching(/^secondary:/) },
      });
    // and its injected failures never reached the primary region: refused locally (closed port), secondary answered
    expect(gpuCalls).toContain("secondary");
  });

  it("skips with a reason when the system is already unhealthy (GPU unreachable for real traffic)", async () => {
    // the vitest env points both regions at a closed port: the steady-state probe is degraded
    const r = await runDrill(
      app.fetch,
      { ...env, DRILL_PROBE_QUERY: "coffee mug" },
      createExecutionContext(),
      "primary_down",
      "test",
    );
    expect(r.status).toBe("skipped");
    expect(r.reason).toMatch(/steady state not met/);
    expect(r.timeline.map((e) => e.event)).not.toContain("fault_injected");
  });

  it("skips without DRILL_SECRET (probes could not be signed)", async () => {
    const r = await runDrill(
      app.fetch,
      { ...drillEnv, DRILL_SECRET: undefined },
      createExecutionContext(),
      "all_down",
      "test",
    );
    expect(r).toMatchObject({ status: "skipped", reason: expect.stringMatching(/DRILL_SECRET/) });
  });

  it("a drill that misses its RTO fails and fires the drill alert; a later pass resolves it", async () => {
    const slowRecovery = { ...drillEnv, GPU_BREAKER_COOLDOWN_MS: "8000", DRILL_RTO_MS: "1000" }; // recovery ≥ 8 s: never within 1 s, however slow the probes
    const failed = await runDrill(app.fetch, slowRecovery, createExecutionContext(), "primary_down", "test");
    expect(failed.status).toBe("fail");
    expect(failed.results.checks.find((c) => c.name === "rto")).toMatchObject({ ok: false });
    const alert = await env.DB.prepare(
      "SELECT state, kind, summary FROM alerts WHERE id = 'drill:primary_down'",
    ).first<{ state: string; kind: string; summary: string }>();
    expect(alert).toMatchObject({ state: "firing", kind: "drill" });
    expect(alert!.summary).toContain(failed.id);
    // the every-minute alert evaluation leaves drill alerts to the drill runner
    await applyConditions(env.DB, [], Date.now());
    expect(
      (await env.DB.prepare("SELECT state FROM alerts WHERE id = 'drill:primary_down'").first<{ state: string }>())
        ?.state,
    ).toBe("firing");

    const passed = await runDrill(app.fetch, drillEnv, createExecutionContext(), "primary_down", "test");
    expect(passed.status).toBe("pass");
    const after = await env.DB.prepare("SELECT state FROM alerts WHERE id = 'drill:primary_down'").first<{
      state: string;
    }>();
    expect(after?.state).toBe("resolved");
  });
});

describe("fault injection needs the drill secret", () => {
  async function probe(
    header: string | undefined,
    runId: string,
  ): Promise<{ body: { degraded: boolean }; events: GpuEvent[] }> {
    const events: GpuEvent[] = [];
    const stop = openRunScope(runId, (e) => events.push(e));
    try {
      const res = await app.fetch(
        new Request("http://vitrine.test/v1/search?q=coffee%20mug&k=5", {
          headers: header ? { [DRILL_HEADER]: header } : {},
        }),
        drillEnv,
        createExecutionContext(),
      );
      expect(res.status).toBe(200);
      return { body: (await res.json()) as { degraded: boolean }, events };
    } finally {
      stop();
    }
  }

  it("a forged or replayed header is served as ordinary traffic by the primary; a signed one gets its fault", async () => {
    const fault = { gpu: { primary: "refuse" as const, secondary: "refuse" as const } };
    const forged = await signDrillHeader("guessed-secret", { run: "forged-run", scenario: "all_down", fault });
    const f = await probe(forged, "forged-run");
    expect(f.events).toEqual([]);
    expect(f.body.degraded).toBe(false);
    expect(gpuCalls).toEqual(["primary"]);

    const signed = await signDrillHeader(env.DRILL_SECRET!, { run: "signed-run", scenario: "all_down", fault });
    const s = await probe(signed, "signed-run");
    expect(s.body.degraded).toBe(true);
    expect(s.events.filter((e) => e.type === "attempt").map((e) => e.type === "attempt" && e.outcome)).toEqual([
      "unreachable",
      "unreachable",
    ]);

    const replayed = await probe(signed, "signed-run");
    expect(replayed.events).toEqual([]);
    expect(replayed.body.degraded).toBe(false);
  });
});

describe("admin drill API", () => {
  it("requires the admin token and validates input", async () => {
    expect((await admin("/admin/drills", {}, drillEnv, "wrong")).status).toBe(401);
    expect((await admin("/admin/drills/run", { method: "POST", body: "{}" }, drillEnv, "")).status).toBe(401);
    const bad = await admin("/admin/drills/run", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ scenario: "meteor" }),
    });
    expect(bad.status).toBe(400);
    expect((await admin("/admin/drills/nope")).status).toBe(404);
    expect((await admin("/admin/drills?limit=0")).status).toBe(400);
  });

  it("POST /admin/drills/run runs a scenario; GET lists it and returns its timeline", async () => {
    const res = await admin("/admin/drills/run", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ scenario: "all_down" }),
    });
    expect(res.status).toBe(200);
    const report = (await res.json()) as { id: string; status: string; trigger: string };
    expect(report).toMatchObject({ status: "pass", trigger: "admin" });
    const list = (await (await admin("/admin/drills?limit=5")).json()) as {
      drills: { id: string; scenario: string; status: string; timeToRecoverMs: number }[];
    };
    expect(list.drills[0]).toMatchObject({
      id: report.id,
      scenario: "all_down",
      status: "pass",
      timeToRecoverMs: expect.any(Number),
    });
    const detail = (await (await admin(`/admin/drills/${report.id}`)).json()) as { timeline: { event: string }[] };
    expect(detail.timeline.map((e) => e.event)).toContain("fault_injected");
  });
});
