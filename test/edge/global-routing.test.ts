/**
 * Global traffic in workerd: GPU regions as configuration, region order from the request's colo and from learned
 * round trips, the network/compute budget split, `gpu_out_of_reach` without a call, and a breaker per region. The GPU
 * regions are stand-ins for our own GPU tier (fetch stubbed by URL origin), reached through the real SageMaker
 * client; requests go through the real worker with a `cf` override for their colo.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { app } from "../../edge/app";
import { config } from "../../edge/config";
import type { Bindings } from "../../edge/env";
import { invalidateExperimentConfig } from "../../edge/experiments/config";
import { gpuEndpoints, type GpuEndpoint } from "../../edge/gpu/endpoints";
import { breakerStates, heavyRank, resetGpuStateForTests, routeFor, rttLearner } from "../../edge/gpu/index";
import { requestLocation } from "../../edge/gpu/request-location";
import { CircuitBreaker } from "../../edge/gpu/breaker";
import { rankWithFailover, type GpuCall } from "../../edge/gpu/resilient";
import { routeRegions } from "../../edge/gpu/routing";
import { configuredRtt, COLO_COORDS } from "../../edge/gpu/rtt-table";
import { edgeLocation, estimateRtt, LOCAL_HALF_LIFE_MS, RttLearner } from "../../edge/gpu/rtt";
import { scoredIds, type HeavyRankRequest } from "../../edge/gpu/types";
import { insertFixtureProducts, regionsStandIn } from "./fixtures";
import { flushNow } from "../../edge/metrics/collector";
import { routingConditions } from "../../edge/metrics/geo-alert";
import { fleetRtt, loadFleetRtt, resetFleetRttForTests } from "../../edge/gpu/rtt-store";

const URLS: Record<string, string> = {
  "us-east-1": "http://10.0.0.1:7001",
  "eu-central-1": "http://10.0.0.2:7002",
  "ap-southeast-2": "http://10.0.0.3:7003",
};
const ALL = Object.keys(URLS).map((region) => ({ region, endpoint: "vitrine-ranker", url: URLS[region]! }));

/** What the stand-in regions saw: region and the request's CustomAttributes, per call. */
const calls: { region: string; attributes: string }[] = [];
const down = new Set<string>();

function envWith(regions: typeof ALL, extra: Partial<Bindings> = {}): Bindings {
  const uncached = { CACHE_TTL_S: "0", DEGRADED_CACHE_TTL_S: "0" };
  // a region is in reach within 130 ms (round trip + 870 ms minimum compute ≤ 1000 ms), while a call in reach has a
  // whole second to answer: a loaded test machine does not turn an in-reach call into a timeout
  const budget = { GPU_DEADLINE_MS: "1000", GPU_MIN_COMPUTE_MS: "870" };
  return { ...env, GPU_REGIONS: JSON.stringify(regions), ...budget, ...uncached, ...extra } as Bindings;
}

const REQ: HeavyRankRequest = { query: "red shoes", documents: [{ id: "a", title: "Red shoe" }], model: "heavy-test" };
const at = (colo: string) => edgeLocation({ colo });

beforeAll(async () => {
  await insertFixtureProducts(env.DB);
  invalidateExperimentConfig();
  vi.stubGlobal(
    "fetch",
    regionsStandIn(URLS, {
      down,
      // workerd's clock moves only across I/O: a 2 ms hold makes each call's measured GPU time non-zero
      delayMs: Object.fromEntries(Object.keys(URLS).map((r) => [r, 2])),
      onCall: (region, req) =>
        calls.push({ region, attributes: req.headers.get("x-amzn-sagemaker-custom-attributes") ?? "" }),
    }),
  );
});
afterAll(() => vi.unstubAllGlobals());
beforeEach(() => {
  resetGpuStateForTests();
  calls.length = 0;
  down.clear();
});

describe("regions as configuration", () => {
  it("GPU_REGIONS lists the regions in order, each its own endpoint; a malformed list falls back to GPU_*", () => {
    expect(gpuEndpoints(envWith(ALL)).map((e) => [e.role, e.region, e.url])).toEqual([
      ["primary", "us-east-1", URLS["us-east-1"]],
      ["secondary", "eu-central-1", URLS["eu-central-1"]],
      ["secondary", "ap-southeast-2", URLS["ap-southeast-2"]],
    ]);
    const legacy = gpuEndpoints(env).map((e) => e.region);
    for (const bad of ["not json", "[]", JSON.stringify([ALL[0], ALL[0]]), JSON.stringify([{ region: "x" }])])
      expect(gpuEndpoints({ ...env, GPU_REGIONS: bad } as Bindings).map((e) => e.region)).toEqual(legacy);
    expect(legacy).toEqual(["us-east-1", "us-west-2"]);
  });

  it("GPU_RTT_TABLE: the operator's measured round trips replace the built-in table's; a malformed table is ignored", () => {
    const regions = (e: Bindings) => routeFor(e, at("NRT")).endpoints.map((x) => x.region);
    expect(regions(envWith(ALL))).toEqual(["ap-southeast-2", "us-east-1", "eu-central-1"]);
    // measured: NRT reaches us-east-1 faster than the published figures say; the unlisted pair keeps the built-in one
    const measured = envWith(ALL, {
      GPU_RTT_TABLE: JSON.stringify({ NRT: { "us-east-1": 40, "ap-southeast-2": 120 } }),
    });
    const plan = routeFor(measured, at("NRT"));
    expect(plan.endpoints.map((x) => x.region)).toEqual(["us-east-1", "ap-southeast-2", "eu-central-1"]);
    expect(plan.endpoints.map((x) => Math.round(plan.rttMs!(x)!))).toEqual([
      40,
      120,
      Math.round(configuredRtt(COLO_COORDS.NRT!, "eu-central-1")!),
    ]);
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    for (const bad of [
      "not json",
      JSON.stringify({ nrt: { "us-east-1": 40 } }),
      JSON.stringify({ NRT: { "us-east-1": -1 } }),
    ])
      expect(regions(envWith(ALL, { GPU_RTT_TABLE: bad }))).toEqual(["ap-southeast-2", "us-east-1", "eu-central-1"]);
    expect(warn.mock.calls.some(([line]) => String(line).includes('"name":"GPU_RTT_TABLE"'))).toBe(true);
    warn.mockRestore();
  });

  it("the colo header is honoured only with GPU_TRUST_COLO_HEADER on (off by default)", () => {
    const req = new Request("http://vitrine.test/", { headers: { "x-vitrine-colo": "syd" } });
    expect(config(env).gpu.trustColoHeader).toBe(false);
    expect(requestLocation(env, req).colo).toBe("");
    expect(requestLocation({ ...env, GPU_TRUST_COLO_HEADER: "on" } as Bindings, req)).toEqual({
      colo: "SYD",
      at: COLO_COORDS.SYD,
    });
  });
});

describe("region order", () => {
  const endpoints = gpuEndpoints(envWith(ALL));
  const order = (colo: string, learner = new RttLearner(() => 20)) =>
    routeRegions(endpoints, "nearest", (r) => estimateRtt(at(colo), r, learner)).endpoints.map((e) => e.region);

  it("nearest first by the configured table: IAD, FRA, SYD, NRT, GRU", () => {
    expect(order("IAD")).toEqual(["us-east-1", "eu-central-1", "ap-southeast-2"]);
    expect(order("FRA")).toEqual(["eu-central-1", "us-east-1", "ap-southeast-2"]);
    expect(order("SYD")).toEqual(["ap-southeast-2", "us-east-1", "eu-central-1"]);
    expect(order("NRT")).toEqual(["ap-southeast-2", "us-east-1", "eu-central-1"]);
    expect(order("GRU")).toEqual(["us-east-1", "eu-central-1", "ap-southeast-2"]);
    // the published figures the issue quotes: Sydney ↔ us-east-1 ≈ 200+ ms, Frankfurt ↔ us-east-1 ≈ 90 ms
    expect(configuredRtt(COLO_COORDS.SYD!, "us-east-1")).toBeGreaterThan(200);
    expect(configuredRtt(COLO_COORDS.FRA!, "us-east-1")).toBeGreaterThan(85);
    expect(configuredRtt(COLO_COORDS.FRA!, "us-east-1")).toBeLessThan(100);
  });

  it("learned round trips override the table: a slow path from NRT to Sydney sends NRT to us-east-1", () => {
    const learner = new RttLearner(() => 20);
    for (let i = 0; i < 5; i++) learner.observe("NRT", "ap-southeast-2", 400);
    expect(estimateRtt(at("NRT"), "ap-southeast-2", learner)).toBeGreaterThan(300);
    expect(order("NRT", learner)[0]).toBe("us-east-1");
    // one sample only blends in (1/5 weight): 0.2 × 200 + 0.8 × ~106 stays below us-east-1's ~147
    const one = new RttLearner(() => 20);
    one.observe("NRT", "ap-southeast-2", 200);
    expect(order("NRT", one)[0]).toBe("ap-southeast-2");
  });

  it("stalls do not count as distance: the estimate is a low quantile of the window, and follows a real route change", () => {
    const learner = new RttLearner(() => 10);
    // SYD → ap-southeast-2 is ~6 ms on the wire; every other call waited 300 ms in a stalled tier before its clock ran
    for (let i = 0; i < 10; i++) learner.observe("SYD", "ap-southeast-2", i % 2 === 0 ? 6 + i : 300 + i);
    expect(learner.local("SYD", "ap-southeast-2")).toMatchObject({ ms: 6, n: 10 });
    expect(estimateRtt(at("SYD"), "ap-southeast-2", learner)).toBeCloseTo(6, 1);
    expect(order("SYD", learner)[0]).toBe("ap-southeast-2");
    // (their mean, ~155 ms, would leave only ~0 ms of a 150 ms budget's compute); a route that really got slow fills
    // the window and moves the estimate within one window of samples
    for (let i = 0; i < 5; i++) learner.observe("SYD", "ap-southeast-2", 400 + i);
    expect(learner.local("SYD", "ap-southeast-2")!.ms).toBe(12); // fast samples of the old route are still in the window
    for (let i = 5; i < 10; i++) learner.observe("SYD", "ap-southeast-2", 400 + i);
    expect(learner.local("SYD", "ap-southeast-2")!.ms).toBe(400);
    expect(order("SYD", learner)[0]).toBe("us-east-1");
  });

  it("a learned estimate fades back to the prior without new samples (a region pushed out of reach is retried)", () => {
    let t = 1_000_000;
    const learner = new RttLearner(
      () => 20,
      () => t,
    );
    for (let i = 0; i < 5; i++) learner.observe("NRT", "ap-southeast-2", 400);
    expect(order("NRT", learner)[0]).toBe("us-east-1");
    t += 4 * LOCAL_HALF_LIFE_MS; // weight 1/16: ≈ 0.06 × 400 + 0.94 × 106
    expect(estimateRtt(at("NRT"), "ap-southeast-2", learner)).toBeLessThan(130);
    expect(order("NRT", learner)[0]).toBe("ap-southeast-2");
  });

  it("fixed routing keeps the configured order and has no round-trip estimate", () => {
    const fixed = routeRegions(endpoints, "fixed", () => 1);
    expect(fixed.endpoints.map((e) => e.region)).toEqual(["us-east-1", "eu-central-1", "ap-southeast-2"]);
    expect(fixed.rttMs).toBeUndefined();
  });

  it("an unknown location keeps the configured order", () => {
    expect(order("")).toEqual(["us-east-1", "eu-central-1", "ap-southeast-2"]);
  });
});

describe("budget split", () => {
  const ep = (region: string): GpuEndpoint => ({ role: "secondary", name: "r", region, url: "", id: region });
  const breakers = new Map<string, CircuitBreaker>();
  const breakerFor = (e: GpuEndpoint) => {
    let b = breakers.get(e.id);
    if (!b) breakers.set(e.id, (b = new CircuitBreaker(e.id, config(env).gpu.breaker)));
    return b;
  };
  const answers: GpuCall = async (_e, req) => ({ kind: "ok", scores: scoredIds(req).map(() => 1), model: req.model });

  it("each attempt is sent the compute budget: what is left minus the region's round trip", async () => {
    const sent: (number | undefined)[] = [];
    const r = await rankWithFailover(
      {
        endpoints: [ep("near")],
        breakerFor,
        call: (e, req, s) => (sent.push(req.deadlineMs), answers(e, req, s)),
        rttMs: () => 60,
        minComputeMs: 20,
      },
      REQ,
      1_000,
    );
    expect(r.ok).toBe(true);
    expect(sent[0]).toBeLessThanOrEqual(940);
    expect(sent[0]).toBeGreaterThan(800);
  });

  it("a region whose round trip + minimum compute exceeds the budget is skipped; none in reach → out_of_reach, no call", async () => {
    const called: string[] = [];
    const call: GpuCall = (e, req, s) => (called.push(e.id), answers(e, req, s));
    const rtt = new Map([
      ["far", 200],
      ["farther", 300],
      ["near", 100],
    ]);
    const skipped: string[] = [];
    const deps = {
      breakerFor,
      call,
      rttMs: (e: GpuEndpoint) => rtt.get(e.id),
      minComputeMs: 20,
      onSkip: (e: GpuEndpoint, reason: string) => skipped.push(`${e.id}:${reason}`),
    };
    const none = await rankWithFailover({ ...deps, endpoints: [ep("far"), ep("farther")] }, REQ, 150);
    expect(none).toMatchObject({ ok: false, reason: "out_of_reach", attempts: 0 });
    expect(called).toEqual([]);
    expect(skipped).toEqual(["far:out_of_reach", "farther:out_of_reach"]);
    const one = await rankWithFailover({ ...deps, endpoints: [ep("far"), ep("near")] }, REQ, 150);
    expect(one).toMatchObject({ ok: true, region: "near", attempts: 1 });
    expect(called).toEqual(["near"]);
  });
});

async function search(e: Bindings, colo: string, q: string) {
  const ctx = createExecutionContext();
  const res = await app.fetch(
    new Request(`http://vitrine.test/v1/search?q=${encodeURIComponent(q)}&k=5`, { cf: { colo } } as RequestInit),
    e,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  const body = await res.json<{ degraded: boolean; degradedReason?: string; items: unknown[] }>();
  return { status: res.status, region: res.headers.get("x-vitrine-gpu-region"), body };
}

describe("the worker routes by the request's colo", () => {
  it("SYD is ranked by ap-southeast-2, FRA by eu-central-1; the colo travels to the tier", async () => {
    const e = envWith(ALL);
    const syd = await search(e, "SYD", "coffee mug");
    expect(syd).toMatchObject({ status: 200, region: "ap-southeast-2", body: { degraded: false } });
    expect(calls.map((c) => c.region)).toEqual(["ap-southeast-2"]);
    expect(calls[0]!.attributes).toContain("colo=SYD");
    const fra = await search(e, "FRA", "coffee mug");
    expect(fra).toMatchObject({ status: 200, region: "eu-central-1", body: { degraded: false } });
    // the isolate learned the network part of each call (call time − the tier's reported compute time)
    expect(rttLearner.local("SYD", "ap-southeast-2")?.n).toBe(1);
  });

  it("no region within reach: degraded gpu_out_of_reach without calling any region", async () => {
    const e = envWith([ALL[0]!]); // us-east-1 only: ≈ 230 ms from Sydney, reach 130
    const syd = await search(e, "SYD", "coffee mug");
    expect(syd.status).toBe(200);
    expect(syd.body).toMatchObject({ degraded: true, degradedReason: "gpu_out_of_reach" });
    expect(syd.body.items.length).toBeGreaterThan(0);
    expect(calls).toEqual([]);
    // fixed routing (today's behaviour) does call it
    await search({ ...e, GPU_ROUTING: "fixed" } as Bindings, "SYD", "coffee mug");
    expect(calls.map((c) => c.region)).toEqual(["us-east-1"]);
  });

  it("a breaker per region: the nearest region down opens its own breaker and the next nearest answers", async () => {
    const e = envWith(ALL, { GPU_MIN_COMPUTE_MS: "20" });
    down.add("eu-central-1");
    for (let i = 0; i < 4; i++) {
      const fra = await search(e, "FRA", `coffee mug ${i}`);
      expect(fra).toMatchObject({ status: 200, region: "us-east-1", body: { degraded: false } });
    }
    const states = Object.fromEntries(breakerStates(e).map((b) => [b.endpoint.split("@")[1], b.state]));
    expect(states).toEqual({ "us-east-1": "closed", "eu-central-1": "open", "ap-southeast-2": "closed" });
    // after it opened, FRA goes straight to us-east-1: 3 failed tries of eu-central-1 in all
    expect(calls.filter((c) => c.region === "eu-central-1")).toHaveLength(3);
    // SYD is unaffected
    const syd = await heavyRank(e, REQ, { deadlineMs: 1000, geo: { location: at("SYD") } });
    expect(syd).toMatchObject({ ok: true, region: "ap-southeast-2" });
  });
});

describe("geography in the rollups", () => {
  beforeEach(async () => {
    await flushNow(env.DB);
    await env.DB.exec("DELETE FROM metrics_geo; DELETE FROM metrics_geo_gpu;");
    resetFleetRttForTests();
  });

  it("per (colo, nearest region): requests, degraded, GPU p50/p99, learned round trip; served by ?groupBy=region", async () => {
    for (let i = 0; i < 3; i++) await search(envWith(ALL), "SYD", "coffee mug");
    await search(envWith([ALL[0]!]), "SYD", "coffee mug"); // us-east-1 only: out of reach from Sydney
    const res = await app.fetch(
      new Request("http://vitrine.test/admin/metrics?groupBy=region", {
        headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
      }),
      envWith(ALL),
      createExecutionContext(),
    );
    expect(res.status).toBe(200);
    const body = await res.json<{ groupBy: string; geo: Record<string, unknown>[] }>();
    expect(body.groupBy).toBe("region");
    const cell = (colo: string, region: string) => body.geo.find((c) => c.colo === colo && c.region === region);
    expect(cell("SYD", "ap-southeast-2")).toMatchObject({
      requests: 3,
      degraded: 0,
      degradedShare: 0,
      failovers: 0,
      rttSamples: 3,
      gpuMs: { count: 3 },
    });
    expect((cell("SYD", "ap-southeast-2")!.gpuMs as { p99: number }).p99).toBeGreaterThan(0);
    expect(cell("SYD", "us-east-1")).toMatchObject({ requests: 1, degraded: 1, degradedShare: 1, rttSamples: 0 });
  });

  it("the fleet's learned round trips are read back from D1 and reorder a colo", async () => {
    const ts = Math.floor(Date.now() / 1000 / 60) * 60;
    await env.DB.prepare(
      "INSERT INTO metrics_geo (res, ts, colo, region, traffic, rtt_samples, rtt_sum_ms) VALUES (60, ?, 'NRT', 'ap-southeast-2', 'live', 30, ?)",
    )
      .bind(ts, 30 * 400)
      .run();
    // a minute in which the calls stalled (mean 900 ms) does not move the fleet's estimate: its lowest minute counts
    await env.DB.prepare(
      "INSERT INTO metrics_geo (res, ts, colo, region, traffic, rtt_samples, rtt_sum_ms) VALUES (60, ?, 'NRT', 'ap-southeast-2', 'live', 10, ?)",
    )
      .bind(ts - 60, 10 * 900)
      .run();
    await loadFleetRtt(env.DB);
    expect(fleetRtt("NRT", "ap-southeast-2")).toBe(400);
    const learner = new RttLearner(() => 20);
    const endpoints = gpuEndpoints(envWith(ALL));
    const order = routeRegions(endpoints, "nearest", (r) => estimateRtt(at("NRT"), r, learner, fleetRtt));
    expect(order.endpoints[0]!.region).toBe("us-east-1");
  });

  it("routing alert: a colo degraded while its nearest region serves the others fine (not when the region is down)", async () => {
    const ts = Math.floor(Date.now() / 1000 / 60) * 60;
    const row = (colo: string, requests: number, degraded: number, rtt: number) =>
      env.DB.prepare(
        "INSERT INTO metrics_geo (res, ts, colo, region, traffic, requests, degraded, rtt_samples, rtt_sum_ms) VALUES (60, ?, ?, 'ap-southeast-2', 'live', ?, ?, ?, ?)",
      )
        .bind(ts, colo, requests, degraded, rtt, rtt * 5)
        .run();
    await row("SYD", 40, 20, 0);
    await row("NRT", 40, 0, 40);
    const cfg = config(env).metrics;
    const now = Math.floor(Date.now() / 1000);
    const byId = (cs: Awaited<ReturnType<typeof routingConditions>>) => Object.fromEntries(cs.map((c) => [c.id, c]));
    const fired = byId(await routingConditions(env.DB, cfg, now));
    expect(fired["routing:SYD"]).toMatchObject({
      active: true,
      value: 0.5,
      labels: { colo: "SYD", region: "ap-southeast-2" },
    });
    expect(fired["routing:NRT"]).toMatchObject({ active: false });
    // the region degrades the others too: an outage (the SLO alerts' business), not a routing problem
    await env.DB.exec("UPDATE metrics_geo SET degraded = 30 WHERE colo = 'NRT'");
    expect(byId(await routingConditions(env.DB, cfg, now))["routing:SYD"]).toMatchObject({ active: false });
  });
});
