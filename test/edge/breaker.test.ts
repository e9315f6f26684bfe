/**
 * GPU resilience units in workerd: the breaker state machine (injected clock, no sleeping), failover order and
 * reasons, the deadline bound, and the drill header (signature, expiry, replay).
 */
import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { CircuitBreaker, type BreakerConfig, type BreakerTransition } from "../../edge/gpu/breaker";
import type { GpuEndpoint } from "../../edge/gpu/endpoints";
import { gpuEndpoints } from "../../edge/gpu/endpoints";
import { heavyRank, resetGpuStateForTests } from "../../edge/gpu/index";
import { rankWithFailover, type GpuCall } from "../../edge/gpu/resilient";
import { scoredIds, type HeavyRankRequest } from "../../edge/gpu/types";
import { probeGpuScope } from "../../edge/drills/scope";
import { outcomeOfError } from "../../edge/gpu/outcome";
import {
  DRILL_HEADER_TTL_S,
  drillContextOf,
  signDrillHeader,
  verifyDrillHeader,
  DRILL_HEADER,
} from "../../edge/drills/header";

const CONFIG: BreakerConfig = {
  consecutiveFailures: 3,
  errorRate: 0.5,
  minRequests: 10,
  windowMs: 10_000,
  coolDownMs: 1_000,
};

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe("circuit breaker", () => {
  it("opens after consecutive failures, half-opens after the cool-down, closes on a successful trial", () => {
    const c = clock();
    const seen: BreakerTransition[] = [];
    const b = new CircuitBreaker("primary", CONFIG, c.now, (t) => seen.push(t));
    expect(b.state).toBe("closed");
    for (let i = 0; i < 2; i++) {
      expect(b.tryAcquire()).toBe(true);
      b.onFailure();
    }
    expect(b.state).toBe("closed");
    expect(b.tryAcquire()).toBe(true);
    b.onFailure();
    expect(b.state).toBe("open");
    expect(b.tryAcquire()).toBe(false);
    c.advance(999);
    expect(b.state).toBe("open");
    expect(b.retryInMs()).toBe(1);
    c.advance(1);
    expect(b.state).toBe("half-open");
    expect(b.tryAcquire()).toBe(true);
    // one trial at a time
    expect(b.tryAcquire()).toBe(false);
    b.onSuccess();
    expect(b.state).toBe("closed");
    expect(seen.map((t) => `${t.from}>${t.to}`)).toEqual(["closed>open", "open>half-open", "half-open>closed"]);
  });

  it("re-opens when the half-open trial fails, with a fresh cool-down", () => {
    const c = clock();
    const b = new CircuitBreaker("primary", CONFIG, c.now);
    for (let i = 0; i < 3; i++) b.onFailure();
    c.advance(1_000);
    expect(b.tryAcquire()).toBe(true);
    b.onFailure("still down");
    expect(b.state).toBe("open");
    c.advance(500);
    expect(b.state).toBe("open");
    c.advance(500);
    expect(b.state).toBe("half-open");
  });

  it("a success resets the consecutive count; the error rate over the window opens it", () => {
    const c = clock();
    const b = new CircuitBreaker("primary", CONFIG, c.now);
    // alternate failure/success: never 3 in a row, but 50% errors over ≥ 10 calls in the window
    for (let i = 0; i < 9; i++) {
      if (i % 2 === 0) b.onFailure();
      else b.onSuccess();
      expect(b.state).toBe("closed");
    }
    b.onSuccess(); // 10 calls, 5 failures... the 10th is a success: rate 0.5 only checked on failure
    expect(b.state).toBe("closed");
    b.onFailure(); // 11 calls, 6 failures
    expect(b.state).toBe("open");
  });

  it("forgets outcomes older than the window", () => {
    const c = clock();
    const b = new CircuitBreaker("primary", { ...CONFIG, consecutiveFailures: 100 }, c.now);
    for (let i = 0; i < 9; i++) b.onFailure();
    c.advance(10_001);
    b.onFailure();
    expect(b.state).toBe("closed");
    expect(b.snapshot().window).toEqual({ total: 1, failed: 1 });
  });

  it("an abandoned half-open trial frees the slot without changing state", () => {
    const c = clock();
    const b = new CircuitBreaker("primary", CONFIG, c.now);
    for (let i = 0; i < 3; i++) b.onFailure();
    c.advance(1_000);
    expect(b.tryAcquire()).toBe(true);
    b.onAbandon();
    expect(b.state).toBe("half-open");
    expect(b.tryAcquire()).toBe(true);
  });
});

const REQ: HeavyRankRequest = { query: "red shoes", documents: [{ id: "a", title: "Red shoe" }], model: "heavy-test" };
const EP = (role: "primary" | "secondary"): GpuEndpoint => ({
  role,
  name: "ranker",
  region: role === "primary" ? "us-east-1" : "us-west-2",
  url: "",
  id: `${role}:ranker`,
});

function breakers() {
  const map = new Map<string, CircuitBreaker>();
  return (ep: GpuEndpoint) => {
    let b = map.get(ep.id);
    if (!b) map.set(ep.id, (b = new CircuitBreaker(ep.id, { ...CONFIG, coolDownMs: 60_000 })));
    return b;
  };
}

const answers: GpuCall = async (_ep, req) => ({
  kind: "ok",
  scores: scoredIds(req).map((_, i) => 1 - i),
  model: req.model,
});
const refuses: GpuCall = async () => ({ kind: "network", detail: "Network connection lost." });

describe("failover under one deadline", () => {
  it("a refused primary fails over to the secondary", async () => {
    const calls: string[] = [];
    const r = await rankWithFailover(
      {
        endpoints: [EP("primary"), EP("secondary")],
        breakerFor: breakers(),
        call: (ep, req, s) => (calls.push(ep.role), ep.role === "primary" ? refuses(ep, req, s) : answers(ep, req, s)),
      },
      REQ,
      1_000,
    );
    expect(r).toMatchObject({ ok: true, endpoint: "secondary:ranker", attempts: 2 });
    expect(calls).toEqual(["primary", "secondary"]);
  });

  it("an open breaker skips its endpoint; both unavailable → circuit_open without a call", async () => {
    const breakerFor = breakers();
    const eps = [EP("primary"), EP("secondary")];
    for (const ep of eps) for (let i = 0; i < 3; i++) breakerFor(ep).onFailure();
    let called = 0;
    const r = await rankWithFailover(
      { endpoints: eps, breakerFor, call: (...a) => (called++, answers(...a)) },
      REQ,
      1_000,
    );
    expect(r).toMatchObject({ ok: false, reason: "circuit_open", attempts: 0 });
    expect(called).toBe(0);
  });

  it("both refusing → unreachable, and the breakers count it", async () => {
    const breakerFor = breakers();
    const eps = [EP("primary"), EP("secondary")];
    const r = await rankWithFailover({ endpoints: eps, breakerFor, call: refuses }, REQ, 1_000);
    expect(r).toMatchObject({ ok: false, reason: "unreachable", attempts: 2 });
    expect(breakerFor(eps[0]!).snapshot().failuresInRow).toBe(1);
  });

  it("zero budget → no_budget without a call", async () => {
    const r = await rankWithFailover({ endpoints: [EP("primary")], breakerFor: breakers(), call: answers }, REQ, 0);
    expect(r).toMatchObject({ ok: false, reason: "no_budget", attempts: 0 });
  });

  it("an HTTP 4xx answer is the request's fault: an error result, but the breaker counts the endpoint healthy", async () => {
    const breakerFor = breakers();
    const badRequest: GpuCall = async () => ({ kind: "http", status: 400, detail: "ValidationError: bad document" });
    const r = await rankWithFailover({ endpoints: [EP("primary")], breakerFor, call: badRequest }, REQ, 1_000);
    expect(r).toMatchObject({ ok: false, reason: "error", attempts: 1 });
    expect(breakerFor(EP("primary")).snapshot()).toMatchObject({ failuresInRow: 0, window: { total: 1, failed: 0 } });
    const unavailable: GpuCall = async () => ({ kind: "http", status: 500, detail: "InternalFailure" });
    await rankWithFailover({ endpoints: [EP("primary")], breakerFor, call: unavailable }, REQ, 1_000);
    expect(breakerFor(EP("primary")).snapshot()).toMatchObject({ failuresInRow: 1, window: { total: 2, failed: 1 } });
  });

  it("a rejected call is classified like the SageMaker call's own failures (status from $metadata, never a message)", async () => {
    const signal = new AbortController().signal;
    const sdkError = Object.assign(new Error("reworded message without a status"), {
      name: "ModelError",
      $metadata: { httpStatusCode: 424 },
    });
    expect(outcomeOfError(sdkError, signal)).toMatchObject({ kind: "http", status: 424 });
    expect(outcomeOfError(new TypeError("Network connection lost."), signal)).toMatchObject({ kind: "network" });
    const timedOut = new AbortController();
    timedOut.abort(new DOMException("deadline exceeded", "TimeoutError"));
    expect(outcomeOfError(new Error("aborted"), timedOut.signal)).toMatchObject({ kind: "timeout" });
  });

  it("a 503/429 from the tier (admission control shed it) is an overloaded outcome", () => {
    const signal = new AbortController().signal;
    for (const status of [503, 429]) {
      const shed = Object.assign(new Error("overloaded"), {
        name: "ServiceUnavailable",
        $metadata: { httpStatusCode: status },
      });
      expect(outcomeOfError(shed, signal)).toMatchObject({ kind: "overloaded", status });
    }
  });

  it("a shedding tier is a fast failure: the breaker counts it, the secondary answers, each attempt is sent its remaining budget", async () => {
    const breakerFor = breakers();
    const budgets: (number | undefined)[] = [];
    const sheds: GpuCall = async () => ({ kind: "overloaded", status: 503, detail: "shed (deadline)" });
    const call: GpuCall = (ep, req, s) => (
      budgets.push(req.deadlineMs),
      ep.role === "primary" ? sheds(ep, req, s) : answers(ep, req, s)
    );
    const t0 = performance.now();
    const r = await rankWithFailover({ endpoints: [EP("primary"), EP("secondary")], breakerFor, call }, REQ, 5_000);
    expect(performance.now() - t0).toBeLessThan(1_000); // nothing waited for the 5 s deadline
    expect(r).toMatchObject({ ok: true, endpoint: "secondary:ranker", attempts: 2 });
    expect(breakerFor(EP("primary")).snapshot()).toMatchObject({ failuresInRow: 1 });
    expect(budgets).toHaveLength(2);
    for (const b of budgets) expect(b).toBeGreaterThan(4_000);
    expect(budgets[1]!).toBeLessThanOrEqual(budgets[0]!);
    const both = await rankWithFailover(
      { endpoints: [EP("primary"), EP("secondary")], breakerFor: breakers(), call: sheds },
      REQ,
      5_000,
    );
    expect(both).toMatchObject({ ok: false, reason: "overloaded", attempts: 2 });
  });

  it("hedging: a slow primary gets the secondary started after the hedge delay; the first answer wins", async () => {
    const events: string[] = [];
    const never: GpuCall = (_ep, _req, signal) =>
      new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
    const r = await rankWithFailover(
      {
        endpoints: [EP("primary"), EP("secondary")],
        breakerFor: breakers(),
        call: (ep, req, s) => (ep.role === "primary" ? never(ep, req, s) : answers(ep, req, s)),
        hedgeAfterMs: () => 20,
        onAttempt: (e) => events.push(`${e.endpoint.role}:${e.outcome}:${e.hedge}`),
      },
      REQ,
      2_000,
    );
    expect(r).toMatchObject({ ok: true, endpoint: "secondary:ranker", attempts: 2 });
    expect(events).toEqual(["secondary:ok:true", "primary:cancelled:false"]);
  });

  it("an endpoint slower than the deadline never delays the answer much past the deadline", async () => {
    // a call that ignores its abort signal entirely: the deadline guard alone must settle the attempt
    const hangs: GpuCall = () => new Promise(() => undefined);
    const deadline = 200;
    const t0 = performance.now();
    const r = await rankWithFailover(
      { endpoints: [EP("primary"), EP("secondary")], breakerFor: breakers(), call: hangs },
      REQ,
      deadline,
    );
    const elapsed = performance.now() - t0;
    expect(r).toMatchObject({ ok: false, reason: "timeout", attempts: 1 });
    expect(elapsed).toBeLessThanOrEqual(deadline + 250); // the guard's timer: late only as far as a loaded machine fires it late
  });
});

describe("endpoints", () => {
  it("primary then secondary; a local primary with no secondary URL has no secondary (it would be a real region)", () => {
    expect(gpuEndpoints({ ...env, GPU_ENDPOINT_URL: "", GPU_SECONDARY_ENDPOINT_URL: "" }).map((e) => e.id)).toEqual([
      "primary:vitrine-ranker@us-east-1",
      "secondary:vitrine-ranker@us-west-2",
    ]);
    expect(
      gpuEndpoints({ ...env, GPU_ENDPOINT_URL: "http://127.0.0.1:8080", GPU_SECONDARY_ENDPOINT_URL: "" }).map(
        (e) => e.role,
      ),
    ).toEqual(["primary"]);
    expect(gpuEndpoints({ ...env, GPU_SECONDARY_ENDPOINT_NAME: "" }).map((e) => e.role)).toEqual(["primary"]);
  });
});

describe("heavyRank (real SageMaker client) with a drill-injected slow endpoint", () => {
  beforeEach(() => resetGpuStateForTests());

  it("answers at the deadline with reason timeout", async () => {
    const deadline = 250;
    const t0 = performance.now();
    const r = await heavyRank(env, REQ, {
      deadlineMs: deadline,
      scope: probeGpuScope({
        id: "unit-slow",
        scenario: "gpu_slow",
        nonce: "n".repeat(16),
        faults: { gpu: { primary: "slow", secondary: "slow" } },
      }),
    });
    const elapsed = performance.now() - t0;
    expect(r).toMatchObject({ ok: false, reason: "timeout" });
    expect(elapsed).toBeLessThanOrEqual(deadline + 250); // the guard's timer: late only as far as a loaded machine fires it late
  });

  it("the test env's closed loopback ports → unreachable after trying both regions", async () => {
    expect(gpuEndpoints(env).map((e) => e.role)).toEqual(["primary", "secondary"]);
    const r = await heavyRank(env, REQ, { deadlineMs: 2_000 });
    expect(r).toMatchObject({ ok: false, reason: "unreachable", attempts: 2 });
  });
});

describe("drill header", () => {
  const SECRET = env.DRILL_SECRET!;
  const fault = { gpu: { primary: "refuse" as const } };

  it("a header signed with DRILL_SECRET verifies once; its replay is refused", async () => {
    const h = await signDrillHeader(SECRET, { run: "run-1", scenario: "primary_down", fault });
    const first = await verifyDrillHeader(env, h);
    expect(first).toMatchObject({ ok: true, drill: { id: "run-1", scenario: "primary_down", faults: fault } });
    expect(await verifyDrillHeader(env, h)).toEqual({ ok: false, reason: "replayed" });
  });

  it("unsigned, badly signed, tampered, expired and future headers have no effect", async () => {
    const now = Date.now();
    const good = await signDrillHeader(SECRET, { run: "run-2", scenario: "all_down", fault });
    const [head, payload, sig] = good.split(".");
    const forged = await signDrillHeader("not-the-secret", { run: "run-2", scenario: "all_down", fault });
    const tamperedPayload = btoa(
      JSON.stringify({
        run: "run-2",
        scenario: "all_down",
        fault: { gpu: { primary: "refuse", secondary: "refuse" } },
        nonce: "x".repeat(20),
        iat: Math.floor(now / 1000),
        exp: Math.floor(now / 1000) + DRILL_HEADER_TTL_S,
      }),
    )
      .replace(/\+/g, "-")
      .replace(/\//g, "_")
      .replace(/=+$/, "");
    const expired = await signDrillHeader(SECRET, {
      run: "run-2",
      scenario: "all_down",
      fault,
      ts: now - DRILL_HEADER_TTL_S * 1000 - 1_000,
    });
    const future = await signDrillHeader(SECRET, { run: "run-2", scenario: "all_down", fault, ts: now + 60_000 });
    expect(await verifyDrillHeader(env, undefined)).toEqual({ ok: false, reason: "absent" });
    expect(await verifyDrillHeader(env, `${head}.${payload}`)).toEqual({ ok: false, reason: "malformed" });
    expect(await verifyDrillHeader(env, `v1.${payload}.${sig}`)).toEqual({ ok: false, reason: "malformed" });
    expect(await verifyDrillHeader(env, "garbage")).toEqual({ ok: false, reason: "malformed" });
    expect(await verifyDrillHeader(env, forged)).toEqual({ ok: false, reason: "bad_signature" });
    expect(await verifyDrillHeader(env, `${head}.${tamperedPayload}.${sig}`)).toEqual({
      ok: false,
      reason: "bad_signature",
    });
    expect(await verifyDrillHeader(env, expired)).toEqual({ ok: false, reason: "expired" });
    expect(await verifyDrillHeader(env, future)).toEqual({ ok: false, reason: "expired" });
    expect(await verifyDrillHeader({ ...env, DRILL_SECRET: undefined }, good)).toEqual({
      ok: false,
      reason: "no_secret",
    });
    // none of them consumed the nonce: the good header still verifies
    expect((await verifyDrillHeader(env, good)).ok).toBe(true);
  });

  it("the request path gets no drill context from a rejected header", async () => {
    const forged = await signDrillHeader("guessed", { run: "run-3", scenario: "primary_down", fault });
    const req = (h: string) => new Request("https://x/v1/search?q=a", { headers: { [DRILL_HEADER]: h } });
    expect(await drillContextOf(env, req(forged))).toBeUndefined();
    const good = await signDrillHeader(SECRET, { run: "run-3", scenario: "primary_down", fault });
    expect(await drillContextOf(env, req(good))).toMatchObject({ id: "run-3" });
    expect(await drillContextOf(env, req(good))).toBeUndefined();
  });
});
