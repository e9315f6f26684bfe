/**
 * Model releases, edge side (issue #9): the step analysis (pure), and in workerd against the real local D1 the admin
 * API, the canary's creation, weight walk, promotion, rollback (+ alert), abort, the cron tick, the config version
 * check and sticky assignment. Traffic is recorded through the metrics collector (recordRequest) exactly as the
 * search route records it, and flushed to the D1 rollups the analysis reads.
 */
import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../edge/index";
import { app } from "../../edge/app";
import { config } from "../../edge/config";
import type { Bindings } from "../../edge/env";
import { EVERY_MINUTE } from "../../edge/scheduled";
import { analyseStep, erfc, msprtP, srmTest, type ArmFigures, type StepInput } from "../../edge/releases/analysis";
import { tickRelease } from "../../edge/releases/tick";
import { readStepWindow } from "../../edge/releases/window";
import { flushNow, recordRequest } from "../../edge/metrics/collector";
import { minuteOf } from "../../edge/metrics/aggregate";
import { assignVariant } from "../../edge/experiments/assign";
import {
  getExperimentConfig,
  invalidateExperimentConfig,
  readExperimentConfig,
  type ExperimentScope,
} from "../../edge/experiments/config";
import { DEFAULT_HEAVY_MODEL, DEFAULT_LIGHT_MODEL } from "../../edge/generated/models";
import { resetReleaseState } from "./fixtures";

/** the default store's search traffic, where a release names no store */
const ESCI_SEARCH: ExperimentScope = { store: "esci", surface: "search" };
const RETAIL = "online-retail";
const RETAIL_SEARCH: ExperimentScope = { store: RETAIL, surface: "search" };

const guardrails = config(env).releases;

// ---- the step analysis (pure) --------------------------------------------------------------------------------------

const arm = (requests: number, over: Partial<ArmFigures> = {}): ArmFigures => ({
  requests,
  status5xx: 0,
  degraded: 0,
  p99: { total: 80, light: 10, gpu: 40 },
  ...over,
});
const noFeedback = { impressions: 0, clicks: 0, purchases: 0 };
const input = (over: Partial<StepInput> = {}): StepInput => ({
  canary: arm(500),
  baseline: arm(500),
  expectedCanaryShare: 0.5,
  feedback: { canary: noFeedback, baseline: noFeedback },
  stepMs: 30_000,
  elapsedMs: 31_000,
  ...over,
});

describe("step analysis", () => {
  it("promotes the step when every guardrail holds over a complete window", () => {
    const r = analyseStep(input(), guardrails);
    expect(r.decision).toBe("promote-step");
    expect(r.figures.srm.p).toBeGreaterThan(0.5);
    expect(r.figures.window.complete).toBe(true);
  });

  it("holds for volume, naming what is missing", () => {
    const r = analyseStep(input({ canary: arm(guardrails.minRequests - 1, { status5xx: 29 }) }), guardrails);
    expect(r.decision).toBe("hold");
    expect(r.reasons[0]).toMatch(/^volume: 29 canary \/ 500 baseline/);
  });

  it("holds until the step window has elapsed", () => {
    const r = analyseStep(input({ elapsedMs: 12_000 }), guardrails);
    expect(r.decision).toBe("hold");
    expect(r.reasons).toEqual(["window: 12 s of 30 s elapsed"]);
  });

  it("rolls back on the 5xx rate, even mid-window", () => {
    const r = analyseStep(input({ canary: arm(500, { status5xx: 25 }), elapsedMs: 5_000 }), guardrails);
    expect(r.decision).toBe("rollback");
    expect(r.figures.errorRate).toMatchObject({ canary: 0.05, baseline: 0, breached: true });
    expect(r.reasons[0]).toMatch(/^5xx rate: canary 5\.00%/);
  });

  it("rolls back on the degraded rate", () => {
    const r = analyseStep(
      input({ canary: arm(500, { degraded: 60 }), baseline: arm(500, { degraded: 5 }) }),
      guardrails,
    );
    expect(r.decision).toBe("rollback");
    expect(r.figures.degradedRate.breached).toBe(true);
    expect(r.reasons[0]).toMatch(/^degraded rate/);
  });

  it("rolls back on the p99 of a stage (gpu), not on a small difference", () => {
    const slow = analyseStep(input({ canary: arm(500, { p99: { total: 400, light: 10, gpu: 350 } }) }), guardrails);
    expect(slow.decision).toBe("rollback");
    expect(slow.figures.p99.gpu).toMatchObject({ canary: 350, baseline: 40, limit: 40 * 1.5 + 50, breached: true });
    expect(slow.figures.p99.light.breached).toBe(false);
    const close = analyseStep(input({ canary: arm(500, { p99: { total: 120, light: 12, gpu: 70 } }) }), guardrails);
    expect(close.decision).toBe("promote-step");
  });

  it("halts on a sample-ratio mismatch (chi-square p < 0.001)", () => {
    const r = analyseStep(input({ canary: arm(150), baseline: arm(850), expectedCanaryShare: 0.25 }), guardrails);
    expect(r.decision).toBe("rollback");
    expect(r.figures.srm.halt).toBe(true);
    expect(r.figures.srm.p!).toBeLessThan(0.001);
    expect(r.reasons[0]).toMatch(/^sample ratio mismatch/);
    // the split the weights call for is no mismatch
    expect(
      analyseStep(input({ canary: arm(250), baseline: arm(750), expectedCanaryShare: 0.25 }), guardrails).decision,
    ).toBe("promote-step");
  });

  it("rolls back when the mSPRT finds the canary's CTR worse, and only then", () => {
    const withClicks = (canaryClicks: number) =>
      analyseStep(
        input({
          feedback: {
            canary: { impressions: 4000, clicks: canaryClicks, purchases: 20 },
            baseline: { impressions: 4000, clicks: 400, purchases: 22 },
          },
        }),
        guardrails,
      );
    const worse = withClicks(200);
    expect(worse.decision).toBe("rollback");
    expect(worse.figures.sequential.find((t) => t.metric === "ctr")?.verdict).toBe("worse");
    expect(worse.figures.sequential.find((t) => t.metric === "conversion")?.verdict).toBe("inconclusive");
    const same = withClicks(395);
    expect(same.decision).toBe("promote-step");
    expect(same.figures.sequential.map((t) => t.verdict)).toEqual(["inconclusive", "inconclusive"]);
  });

  it("computes the chi-square tail and the mSPRT p-value", () => {
    expect(erfc(0)).toBeCloseTo(1, 6);
    expect(srmTest(500, 500, 0.5)).toEqual({ chi2: 0, p: expect.closeTo(1, 6) as number });
    // chi² = 10.828 is the 0.001 critical value of 1 degree of freedom
    expect(erfc(Math.sqrt(10.828 / 2))).toBeCloseTo(0.001, 5);
    expect(msprtP(100, 1000, 100, 1000, 0.02)).toBe(1);
    expect(msprtP(50, 1000, 150, 1000, 0.02)).toBeLessThan(1e-6);
  });
});

// ---- the release flow in workerd ----------------------------------------------------------------------------------

const HEAVY_CANDIDATE = "heavy-candidate-v2";

function admin(
  path: string,
  init: RequestInit = {},
  token: string | null = env.ADMIN_TOKEN ?? null,
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token) headers.set("authorization", `Bearer ${token}`);
  if (init.body) headers.set("content-type", "application/json");
  return Promise.resolve(
    app.fetch(new Request(`http://vitrine.test${path}`, { ...init, headers }), env, createExecutionContext()),
  );
}

/** POST /admin/releases: a heavy candidate at 10 % then 50 %, 30 s steps, unless `body` says otherwise. */
function postRelease(body: Record<string, unknown> = {}): Promise<Response> {
  return admin("/admin/releases", {
    method: "POST",
    body: JSON.stringify({
      kind: "heavy",
      version: HEAVY_CANDIDATE,
      steps: [10, 50],
      stepSeconds: 30,
      gateReport: { ndcg10: { candidate: 0.41, production: 0.4 } },
      startedBy: "test",
      ...body,
    }),
  });
}

async function startRelease(body: Record<string, unknown> = {}): Promise<string> {
  const res = await postRelease(body);
  expect(res.status).toBe(201);
  const out = await res.json<{ id: string; status: string }>();
  expect(out.status).toBe("canary");
  await stepBeganAtMinuteStart(out.id);
  return out.id;
}

/**
 * Makes the release's current step begin just before this minute (by more than the switch lag), with no traffic
 * recorded yet: the minute's traffic then all belongs to the step, so its expected split is exactly the step's weight.
 * Returns the step's start.
 */
async function stepBeganAtMinuteStart(id: string): Promise<number> {
  const at = minuteOf(Date.now()) * 1000 - 5_000;
  await env.DB.batch([
    env.DB.prepare("UPDATE releases SET step_started_at = ?, created_at = MIN(created_at, ?) WHERE id = ?").bind(
      at,
      at,
      id,
    ),
    ...["metrics_requests", "metrics_latency", "metrics_degraded"].map((t) => env.DB.prepare(`DELETE FROM ${t}`)),
  ]);
  return at;
}

interface Traffic {
  variant: string;
  heavyModel: string;
  n: number;
  status?: number;
  degradedEvery?: number;
  gpuMs?: number;
  /** the store the requests were served for (default esci) */
  store?: string;
}

/** Live requests recorded as the search route records them, then flushed to the rollups. */
async function traffic(...arms: Traffic[]): Promise<void> {
  const ctx = createExecutionContext();
  for (const a of arms)
    for (let i = 0; i < a.n; i++) {
      const gpu = a.gpuMs ?? 40 + (i % 10);
      const degraded = a.degradedEvery !== undefined && i % a.degradedEvery === 0;
      recordRequest(env, ctx, {
        route: "/v1/search",
        variant: a.variant,
        lightModel: DEFAULT_LIGHT_MODEL,
        heavyModel: a.heavyModel,
        colo: "TEST",
        store: a.store ?? "esci",
        status: a.status ?? 200,
        cache: "MISS",
        ...(degraded ? { degradedReason: "gpu_timeout" } : {}),
        stages: { retrieval: 5, light: 8, gpu, total: gpu + 20 },
      });
    }
  await waitOnExecutionContext(ctx);
  await flushNow(env.DB);
}

/** a release's canary variant is named after the release */
const canaryOf = (id: string) => id;

async function release(id: string) {
  const res = await admin(`/admin/releases/${id}`);
  expect(res.status).toBe(200);
  return res.json<{
    status: string;
    stepIndex: number;
    weight: number;
    reason: string | null;
    gateReport: unknown;
    decisions: Array<{ decision: string; stepIndex: number; weight: number; figures: { reasons: string[] } }>;
  }>();
}

async function weights(experimentId?: string): Promise<Record<string, number>> {
  const { results } = await env.DB.prepare(
    "SELECT name, weight FROM experiment_variants WHERE ?1 IS NULL OR experiment_id = ?1",
  )
    .bind(experimentId ?? null)
    .all<{ name: string; weight: number }>();
  return Object.fromEntries(results.map((r) => [r.name, r.weight]));
}

const afterWindow = () => Date.now() + 31_000;

describe("releases in workerd", () => {
  beforeEach(resetReleaseState);

  it("admin auth: every release route needs the bearer token", async () => {
    for (const [path, method] of [
      ["/admin/releases", "GET"],
      ["/admin/releases", "POST"],
      ["/admin/releases/rel-x", "GET"],
      ["/admin/releases/rel-x/tick", "POST"],
      ["/admin/releases/rel-x/abort", "POST"],
    ] as const) {
      expect((await admin(path, { method }, null)).status).toBe(401);
      expect((await admin(path, { method }, "wrong-token")).status).toBe(401);
    }
  });

  it("validates the body (400 JSON) and records a refused release without touching traffic", async () => {
    const bad = await admin("/admin/releases", {
      method: "POST",
      body: JSON.stringify({ kind: "huge", steps: [50, 10] }),
    });
    expect(bad.status).toBe(400);
    expect((await bad.json<{ error: string }>()).error).toBe("invalid_request");
    const res = await admin("/admin/releases", {
      method: "POST",
      body: JSON.stringify({
        kind: "heavy",
        version: "heavy-garbage",
        steps: [50, 100],
        stepSeconds: 30,
        gateReport: { parity: "failed to load model.safetensors" },
        startedBy: "test",
        status: "refused",
        reason: "cannot be loaded",
      }),
    });
    expect(res.status).toBe(201);
    const { id, status } = await res.json<{ id: string; status: string }>();
    expect(status).toBe("refused");
    expect(await release(id)).toMatchObject({ status: "refused", reason: "cannot be loaded", weight: 0 });
    expect(await weights()).toEqual({});
    const list = await (await admin("/admin/releases")).json<{ releases: Array<{ id: string }> }>();
    expect(list.releases.map((r) => r.id)).toEqual([id]);
  });

  it("creates the canary beside the baseline at steps[0] and refuses a second one (409)", async () => {
    const id = await startRelease();
    // the canary's weight is its share of all traffic; the baseline keeps its weight
    expect(await weights()).toEqual({ default: 1, [canaryOf(id)]: 0.1 });
    const cfg = await readExperimentConfig(env.DB, ESCI_SEARCH, Date.now());
    expect(cfg?.variants.map((v) => [v.name, v.heavyModel])).toEqual([
      ["default", DEFAULT_HEAVY_MODEL],
      [canaryOf(id), HEAVY_CANDIDATE],
    ]);
    const again = await postRelease({ kind: "light", version: DEFAULT_LIGHT_MODEL, steps: [10] });
    expect(again.status).toBe(409);
    expect((await again.json<{ error: string }>()).error).toBe("release_in_progress");
    const unbundled = await postRelease({ kind: "recs-light", version: "r1", steps: [10] });
    expect(unbundled.status).toBe(201); // another surface: its own canary
  });

  it("a release is its store's: the canary joins that store's experiment, one canary per store and surface", async () => {
    const retail = await startRelease({ store: RETAIL });
    const [exp] = (
      await env.DB.prepare("SELECT id, store, surface, salt FROM experiments").all<Record<string, string>>()
    ).results;
    expect(exp).toEqual({
      id: "online-retail:search-releases",
      store: RETAIL,
      surface: "search",
      salt: "vitrine-online-retail-search-v1",
    });
    expect(await readExperimentConfig(env.DB, ESCI_SEARCH, Date.now())).toBeUndefined(); // esci untouched
    const again = await postRelease({ kind: "light", store: RETAIL, version: DEFAULT_LIGHT_MODEL, steps: [10] });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({
      error: "release_in_progress",
      message: expect.stringContaining("search of store online-retail") as string,
    });
    // the default store's search surface is free: its own canary, in its own experiment
    const esci = await startRelease();
    expect(await weights("online-retail:search-releases")).toEqual({ default: 1, [retail]: 0.1 });
    expect(await weights("esci:search-releases")).toEqual({ default: 1, [esci]: 0.1 });
    const served = async (scope: typeof ESCI_SEARCH) =>
      (await readExperimentConfig(env.DB, scope, Date.now()))?.variants.map((v) => [v.name, v.heavyModel]);
    expect(await served(RETAIL_SEARCH)).toEqual([
      ["default", DEFAULT_HEAVY_MODEL],
      [retail, HEAVY_CANDIDATE],
    ]);
    expect(await served(ESCI_SEARCH)).toEqual([
      ["default", DEFAULT_HEAVY_MODEL],
      [esci, HEAVY_CANDIDATE],
    ]);

    // the step window reads the release's store only: esci's baseline is also named "default", and its traffic
    // (a split no retail weight predicts) must not reach the retail release's figures
    await stepBeganAtMinuteStart(retail);
    await traffic(
      { variant: canaryOf(retail), heavyModel: HEAVY_CANDIDATE, n: 40, store: RETAIL },
      { variant: "default", heavyModel: DEFAULT_HEAVY_MODEL, n: 360, store: RETAIL },
      { variant: "default", heavyModel: DEFAULT_HEAVY_MODEL, n: 900, status: 503 },
    );
    const stepped = await tickRelease(env, retail, afterWindow());
    expect(stepped).toMatchObject({ decision: "promote-step", stepIndex: 1, weight: 50 });
    expect(stepped?.figures?.requests).toEqual({ canary: 40, baseline: 360 });
    expect(await weights("esci:search-releases")).toEqual({ default: 1, [esci]: 0.1 }); // the other store's canary
    // promotion retires the retail baseline only
    await stepBeganAtMinuteStart(retail);
    await traffic(
      { variant: canaryOf(retail), heavyModel: HEAVY_CANDIDATE, n: 200, store: RETAIL },
      { variant: "default", heavyModel: DEFAULT_HEAVY_MODEL, n: 200, store: RETAIL },
    );
    expect(await tickRelease(env, retail, afterWindow())).toMatchObject({ decision: "promoted" });
    expect(await weights("online-retail:search-releases")).toEqual({ default: 0, [retail]: 1 });
    expect(await weights("esci:search-releases")).toEqual({ default: 1, [esci]: 0.1 });
  });

  it("a release naming an unknown store is a 404 JSON, a malformed one a 400; nothing is recorded", async () => {
    for (const [store, status, error] of [
      ["no-such-store", 404, "unknown_store"],
      ["", 400, "invalid_request"],
      ["x".repeat(65), 400, "invalid_request"],
    ] as const) {
      const res = await postRelease({ store });
      expect(res.status, store).toBe(status);
      expect(await res.json()).toMatchObject({ error, issues: [{ path: "store" }] });
    }
    expect((await env.DB.prepare("SELECT COUNT(*) AS n FROM releases").first<{ n: number }>())?.n).toBe(0);
  });

  it("holds for volume, then walks the steps and promotes: the candidate becomes the default, the old variant retires", async () => {
    const id = await startRelease();
    const canary = canaryOf(id);
    await traffic(
      { variant: canary, heavyModel: HEAVY_CANDIDATE, n: 5 },
      { variant: "default", heavyModel: DEFAULT_HEAVY_MODEL, n: 45 },
    );
    const held = await tickRelease(env, id, afterWindow());
    expect(held).toMatchObject({ decision: "hold", status: "canary", stepIndex: 0, weight: 10 });
    expect(held?.reasons[0]).toMatch(/^volume: 5 canary/);

    await traffic(
      { variant: canary, heavyModel: HEAVY_CANDIDATE, n: 45 },
      { variant: "default", heavyModel: DEFAULT_HEAVY_MODEL, n: 405 },
    );
    const stepped = await tickRelease(env, id, afterWindow());
    expect(stepped).toMatchObject({ decision: "promote-step", status: "canary", stepIndex: 1, weight: 50 });
    expect(stepped?.figures?.srm).toMatchObject({ expectedShare: 0.1, observedShare: 0.1, halt: false });
    expect(await weights()).toEqual({ default: 1, [canary]: 0.5 });

    // inside the new step's window: hold
    const began = await stepBeganAtMinuteStart(id);
    await traffic(
      { variant: canary, heavyModel: HEAVY_CANDIDATE, n: 300 },
      { variant: "default", heavyModel: DEFAULT_HEAVY_MODEL, n: 300 },
    );
    const inside = await tickRelease(env, id, began + 5_000);
    expect(inside).toMatchObject({ decision: "hold", reasons: ["window: 5 s of 30 s elapsed"] });
    const promoted = await tickRelease(env, id, afterWindow());
    expect(promoted).toMatchObject({ decision: "promoted", status: "promoted", weight: 100 });
    expect(await weights()).toEqual({ default: 0, [canary]: 1 });
    const cfg = await getExperimentConfig(env, ESCI_SEARCH);
    expect(cfg.variants.map((v) => [v.name, v.heavyModel, v.weight])).toEqual([[canary, HEAVY_CANDIDATE, 1]]);

    const r = await release(id);
    expect(r.decisions.map((d) => [d.decision, d.stepIndex, d.weight])).toEqual([
      ["hold", 0, 10],
      ["promote-step", 0, 10],
      ["promoted", 1, 50],
    ]);
    expect(r.decisions[2]?.figures.reasons).toEqual(["every guardrail held over the step window"]);
    expect(r.gateReport).toEqual({ ndcg10: { candidate: 0.41, production: 0.4 } });

    // the next release's baseline is the promoted variant
    const next = await startRelease({ version: "heavy-candidate-v3" });
    expect(await weights()).toEqual({ default: 0, [canary]: 1, [canaryOf(next)]: 0.1 });
  });

  it("a 100 % step is the promotion itself (no baseline left to compare with)", async () => {
    const id = await startRelease({ steps: [50, 100] });
    await traffic(
      { variant: canaryOf(id), heavyModel: HEAVY_CANDIDATE, n: 60 },
      { variant: "default", heavyModel: DEFAULT_HEAVY_MODEL, n: 60 },
    );
    expect(await tickRelease(env, id, afterWindow())).toMatchObject({ decision: "promoted", status: "promoted" });
  });

  for (const [what, bad, reason] of [
    ["5xx", { status: 503 }, /^5xx rate/],
    ["degraded answers", { degradedEvery: 2 }, /^degraded rate/],
    ["gpu latency", { gpuMs: 600 }, /p99 gpu: canary 590\.3 ms vs baseline 49\.4 ms/],
  ] as const)
    it(`rolls back on ${what}: canary at 0 % at once, reason recorded, alert fired`, async () => {
      const id = await startRelease();
      await traffic(
        { variant: canaryOf(id), heavyModel: HEAVY_CANDIDATE, n: 40, ...bad },
        { variant: "default", heavyModel: DEFAULT_HEAVY_MODEL, n: 360 },
      );
      // a guardrail acts as soon as the volume is there, before the window ends
      const out = await tickRelease(env, id, Date.now() + 1_000);
      expect(out).toMatchObject({ decision: "rollback", status: "rolled_back", weight: 0 });
      expect(out?.reason).toMatch(reason);
      expect(await weights()).toEqual({ default: 1, [canaryOf(id)]: 0 });
      expect((await getExperimentConfig(env, ESCI_SEARCH)).variants.map((v) => v.name)).toEqual(["default"]);
      const alert = await env.DB.prepare("SELECT state, severity, summary FROM alerts WHERE id = ?")
        .bind(`release:${id}`)
        .first<{ state: string; severity: string; summary: string }>();
      expect(alert).toMatchObject({ state: "firing", severity: "page" });
      expect(alert?.summary).toContain(`release ${id} (heavy ${HEAVY_CANDIDATE}) rolled back at step 1`);
      const r = await release(id);
      expect(r.decisions.map((d) => d.decision)).toEqual(["rollback"]);
      // a later tick does nothing
      expect(await tickRelease(env, id, afterWindow())).toMatchObject({ decision: null, status: "rolled_back" });
    });

  it("halts on a sample-ratio mismatch", async () => {
    const id = await startRelease();
    await traffic(
      { variant: canaryOf(id), heavyModel: HEAVY_CANDIDATE, n: 200 },
      { variant: "default", heavyModel: DEFAULT_HEAVY_MODEL, n: 400 },
    );
    const out = await tickRelease(env, id, afterWindow());
    expect(out).toMatchObject({ decision: "rollback", status: "rolled_back" });
    expect(out?.figures?.srm).toMatchObject({ expectedShare: 0.1, halt: true });
    expect(out?.reason).toMatch(/^sample ratio mismatch/);
  });

  it("POST …/tick runs the analysis; the cron ticks every release in canary; abort sets 0 % at once", async () => {
    const id = await startRelease({ stepSeconds: 1 });
    await traffic(
      { variant: canaryOf(id), heavyModel: HEAVY_CANDIDATE, n: 40 },
      { variant: "default", heavyModel: DEFAULT_HEAVY_MODEL, n: 360 },
    );
    const res = await admin(`/admin/releases/${id}/tick`, { method: "POST" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ decision: "promote-step", status: "canary", stepIndex: 1, weight: 50 });

    await stepBeganAtMinuteStart(id);
    const ctx = createExecutionContext();
    await worker.scheduled!(createScheduledController({ cron: EVERY_MINUTE, scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    // the second step's window had no traffic yet: a recorded hold for volume
    const r = await release(id);
    expect(r.decisions.at(-1)).toMatchObject({ decision: "hold", stepIndex: 1 });

    const abort = await admin(`/admin/releases/${id}/abort`, {
      method: "POST",
      body: JSON.stringify({ reason: "operator" }),
    });
    expect(abort.status).toBe(200);
    expect(await abort.json()).toMatchObject({ status: "aborted", reason: "operator", weight: 0 });
    expect(await weights()).toEqual({ default: 1, [canaryOf(id)]: 0 });
    expect(
      (await admin(`/admin/releases/${id}/abort`, { method: "POST", body: JSON.stringify({ reason: "x" }) })).status,
    ).toBe(409);
    expect((await admin("/admin/releases/rel-nope/tick", { method: "POST" })).status).toBe(404);
  });
});

describe("config propagation and stickiness", () => {
  beforeEach(async () => {
    invalidateExperimentConfig();
    await env.DB.batch(
      ["release_decisions", "releases", "experiment_variants", "experiments"].map((t) =>
        env.DB.prepare(`DELETE FROM ${t}`),
      ),
    );
  });

  it("an isolate sees a weight change made elsewhere within CONFIG_VERSION_CHECK_S (2 s), not CONFIG_TTL_S", async () => {
    const id = await startRelease();
    const e: Bindings = { ...env }; // one env object: its parsed config (default TTL 30 s, version check 2 s) is kept
    const before = await getExperimentConfig(e, ESCI_SEARCH);
    expect(before.variants.map((v) => v.weight)).toEqual([1, 0.1]);
    // another isolate's tick walks the weight: D1 changes, this isolate's cache is not told
    await env.DB.batch([
      env.DB.prepare("UPDATE experiment_variants SET weight = 0.5"),
      env.DB.prepare("UPDATE experiments SET updated_at = updated_at + 1"),
    ]);
    expect(await getExperimentConfig(e, ESCI_SEARCH)).toBe(before); // checked less than 2 s ago: the cached config
    await new Promise((r) => setTimeout(r, 2_100));
    const after = await getExperimentConfig(e, ESCI_SEARCH);
    expect(after.variants.map((v) => [v.name, v.weight])).toEqual([
      ["default", 0.5],
      [canaryOf(id), 0.5],
    ]);
    // an unchanged version keeps the config object (one row read, no reload)
    await new Promise((r) => setTimeout(r, 2_100));
    expect(await getExperimentConfig(e, ESCI_SEARCH)).toBe(after);
  });

  it("sticky, beside a running A/B test: growing the canary only moves baseline users into it; nobody else moves", async () => {
    // the pipeline's seed: control and treatment at 50 % each
    await env.DB.batch([
      env.DB.prepare(
        "INSERT INTO experiments (id, surface, salt, active, updated_at) VALUES ('search-default', 'search', 'vitrine-search-v1', 1, 0)",
      ),
      ...[
        ["control", 50],
        ["treatment", 30],
      ].map(([name, topM]) =>
        env.DB.prepare(
          "INSERT INTO experiment_variants (experiment_id, name, weight, light_model, heavy_model, gpu_target_variant, top_m) VALUES ('search-default', ?, 0.5, ?, ?, '', ?)",
        ).bind(name, DEFAULT_LIGHT_MODEL, DEFAULT_HEAVY_MODEL, topM),
      ),
    ]);
    const units = Array.from({ length: 2000 }, (_, i) => `u:user-${i}`);
    const arms = async () => {
      const cfg = (await readExperimentConfig(env.DB, ESCI_SEARCH, Date.now()))!;
      return Promise.all(units.map(async (u) => (await assignVariant(cfg, u)).name));
    };
    const before = await arms();
    const id = await startRelease({ steps: [10, 25, 50] });
    const cfg = (await readExperimentConfig(env.DB, ESCI_SEARCH, Date.now()))!;
    expect(cfg.variants.map((v) => [v.name, v.weight, v.heavyModel, v.topM ?? null, v.canary ?? false])).toEqual([
      ["control", 0.5, DEFAULT_HEAVY_MODEL, 50, false],
      [id, 0.1, HEAVY_CANDIDATE, 50, true], // a copy of the heaviest live variant (control, by name on a tie)
      ["treatment", 0.5, DEFAULT_HEAVY_MODEL, 30, false],
    ]);
    const at10 = await arms();
    // both live variants are the baseline arm
    await traffic(
      { variant: id, heavyModel: HEAVY_CANDIDATE, n: 40 },
      { variant: "control", heavyModel: DEFAULT_HEAVY_MODEL, n: 180 },
      { variant: "treatment", heavyModel: DEFAULT_HEAVY_MODEL, n: 180 },
    );
    const stepped = await tickRelease(env, id, afterWindow());
    expect(stepped).toMatchObject({ decision: "promote-step", weight: 25 });
    expect(stepped?.figures?.requests).toEqual({ canary: 40, baseline: 360 });
    const at25 = await arms();
    const share = (a: string[]) => a.filter((n) => n === id).length / a.length;
    expect(share(at10)).toBeCloseTo(0.1, 1);
    expect(share(at25)).toBeCloseTo(0.25, 1);
    units.forEach((_, i) => {
      if (at10[i] === id)
        expect(at25[i]).toBe(id); // canary users stay in the canary
      else expect(at10[i]).toBe(before[i]); // baseline users keep their A/B variant…
      if (at25[i] !== id) expect(at25[i]).toBe(before[i]); // …as the canary grows
    });
  });
});

describe("the step window (D1 rollups)", () => {
  it("counts for the sample-ratio test only the minutes wholly under the step's weight", async () => {
    const minute = Math.floor(Date.now() / 60_000) * 60 - 180; // three minutes ago, a minute start (s)
    const row = (ts: number, variant: string, n: number) =>
      env.DB.prepare(
        `INSERT INTO metrics_requests (res, ts, route, variant, light_model, heavy_model, colo, traffic, requests, status_2xx)
         VALUES (60, ?, 'search', ?, 'l', 'h', 'T', 'live', ?, ?)`,
      ).bind(ts, variant, n, n);
    await env.DB.batch([
      env.DB.prepare("DELETE FROM metrics_requests"),
      // the minute the step began in: a burst of baseline traffic before the switch (no weight predicts its split)
      row(minute, "control", 90),
      row(minute, "rel-x", 6),
      // two minutes wholly at this step's weight (10 %)
      row(minute + 60, "control", 180),
      row(minute + 60, "rel-x", 20),
      row(minute + 120, "control", 171),
      row(minute + 120, "rel-x", 19),
    ]);
    const w = await readStepWindow(env.DB, {
      store: "esci",
      canaryVariant: "rel-x",
      baselineVariants: ["control"],
      stepStartedAt: minute * 1000 + 50_000,
      releaseStartedAt: minute * 1000 + 50_000,
      previousWeight: 0,
      weight: 0.1,
      stepSeconds: 120,
      now: (minute + 180) * 1000,
      switchLagMs: 1_000,
      minuteRetentionS: 86_400,
    });
    expect(w.canary.requests).toBe(45); // every minute of the window counts toward volume and guardrails
    expect(w.baseline.requests).toBe(441);
    expect(w.srmCounts).toEqual({ canary: 39, baseline: 351 }); // the straddling minute left out
    expect(w.expectedCanaryShare).toBe(0.1);
    expect(analyseStep(w, guardrails).figures.srm.halt).toBe(false);
  });
});
