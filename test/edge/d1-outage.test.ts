/**
 * Serving through a D1 read outage, in workerd against the real local D1 / KV / Cache API. workerd cannot make the
 * real D1 fail on demand, so the fault is injected at our own D1 access layer (edge/db/guarded.ts injectD1Fault: an
 * env whose every read fails there, with a breaker of its own): stale answers with header + reason, the recommend
 * last-known-good list from KV (written by the scheduled worker), the 503 catalog_unavailable with Retry-After, never
 * a 500; /healthz lists D1, /livez answers without it; the D1 breaker opens and stops calling D1, a deadline cuts a
 * slow read short; the d1_read_down drill scenarios (search and recommend) report detection, failover and recovery.
 */
import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { app } from "../../edge/app";
import { injectD1Fault, newD1Breaker } from "../../edge/db/d1-breaker";
import type { D1Event } from "../../edge/db/d1-scope";
import { D1Unavailable, d1Reader } from "../../edge/db/guarded";
import { runDrill } from "../../edge/drills/runner";
import type { Bindings } from "../../edge/env";
import { invalidateExperimentConfig } from "../../edge/experiments/config";
import { readLastKnownGood } from "../../edge/recs/last-known-good";
import worker from "../../edge/index";
import { EVERY_MINUTE } from "../../edge/scheduled";
import fixture from "../fixtures/recs-features-parity.json";
import { drillTestEnv, gpuRegionsStandIn, insertFixtureProducts } from "./fixtures";
import { insertRecsStore, type TablesJson } from "./recs-tables";

const BASE = "http://vitrine.test";
const RECS_STORE = "online-retail";
const VERSION = "recs-light-fixture";
const tables = (fixture as unknown as { tables: TablesJson }).tables;
const storeItems = Object.keys(tables.items);

interface Answer {
  items: { id: string }[];
  degraded: boolean;
  degradedReason?: string;
  error?: string;
  models?: { data?: string | null };
}

async function call(e: Bindings, path: string, init?: RequestInit): Promise<{ res: Response; body: Answer }> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`${BASE}${path}`, init), e, ctx);
  await waitOnExecutionContext(ctx); // the cache writes (ctx.waitUntil) land before the next request
  return { res, body: (await res.json()) as Answer };
}

const down = (): Bindings => injectD1Fault(env);

beforeAll(async () => {
  await insertFixtureProducts(env.DB);
  await insertRecsStore(env.DB, tables, RECS_STORE, VERSION);
  invalidateExperimentConfig();
});

describe("search through a D1 outage", () => {
  it("serves the last good answer past its TTL, marked STALE + degraded d1_unavailable", async () => {
    // GPU unreachable here: the answer is degraded (light ranking), so its fresh TTL is DEGRADED_CACHE_TTL_S
    const short = { ...env, CACHE_TTL_S: "1", DEGRADED_CACHE_TTL_S: "1" };
    const fresh = await call(short, "/v1/search?q=coffee+mug&k=5");
    expect(fresh.res.status).toBe(200);
    expect(fresh.body.degradedReason ?? "").not.toContain("d1_unavailable");
    expect(fresh.body.items.length).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 1_100)); // past its 1 s freshness

    const stale = await call(down(), "/v1/search?q=coffee+mug&k=5");
    expect(stale.res.status).toBe(200);
    expect(stale.res.headers.get("x-vitrine-cache")).toBe("STALE");
    expect(stale.body.degraded).toBe(true);
    expect(stale.body.degradedReason?.split(",")).toContain("d1_unavailable");
    expect(stale.body.items.map((i) => i.id)).toEqual(fresh.body.items.map((i) => i.id));
  });

  it("no cached answer → a fast 503 catalog_unavailable with Retry-After; rerank too; never a 500", async () => {
    const e = down();
    const miss = await call(e, "/v1/search?q=never+asked+before&k=5");
    expect(miss.res.status).toBe(503);
    expect(miss.body.error).toBe("catalog_unavailable");
    expect(miss.res.headers.get("retry-after")).toBe("5");

    const rerank = await call(e, "/v1/rerank", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "coffee mug", candidates: ["B0FIX00001", "B0FIX00002"] }),
    });
    expect(rerank.res.status).toBe(503);
    expect(rerank.body.error).toBe("catalog_unavailable");

    // unknown store names, unseen asks, every ranking route: D1 down never gives a 500
    const paths = [
      "/v1/search?q=lamp&k=3",
      "/v1/search?q=lamp&k=3&store=no-such-store",
      `/v1/recommend?store=${RECS_STORE}&user=u-new&k=3`,
      "/v1/recommend?store=no-such-store&k=3",
      "/v1/recommend?k=3",
    ];
    for (const p of paths) {
      const { res } = await call(e, p);
      expect([200, 503], `${p} → ${res.status}`).toContain(res.status);
    }
  });

  it("a stale answer is not served past STALE_IF_ERROR_S", async () => {
    await call({ ...env, CACHE_TTL_S: "1", DEGRADED_CACHE_TTL_S: "1" }, "/v1/search?q=red+kettle&k=4");
    await new Promise((r) => setTimeout(r, 2_100));
    const e = injectD1Fault({ ...env, STALE_IF_ERROR_S: "1" });
    const { res, body } = await call(e, "/v1/search?q=red+kettle&k=4");
    expect(res.status).toBe(503);
    expect(body.error).toBe("catalog_unavailable");
  });
});

describe("recommend through a D1 outage", () => {
  it("the scheduled worker keeps a last-known-good list per store in KV", async () => {
    const ctx = createExecutionContext();
    await worker.scheduled!(createScheduledController({ cron: EVERY_MINUTE, scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    const list = await readLastKnownGood(env, RECS_STORE);
    expect(list?.version).toBe(VERSION);
    expect(list!.items.length).toBeGreaterThan(5);
    const trends = list!.items.map((i) => i.trend);
    expect(trends).toEqual([...trends].sort((a, b) => b - a));
    for (const i of list!.items) expect(storeItems).toContain(i.id);
  });

  it("without a cached answer: the KV list, filtered to k without the page id, degraded d1_unavailable", async () => {
    const list = (await readLastKnownGood(env, RECS_STORE))!;
    const page = list.items[0]!.id;
    const { res, body } = await call(down(), `/v1/recommend?store=${RECS_STORE}&user=u-17850&item=${page}&k=4`);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-vitrine-cache")).toBe("STALE");
    expect(body.degradedReason).toBe("d1_unavailable");
    expect(body.items.map((i) => i.id)).toEqual(
      list.items
        .map((i) => i.id)
        .filter((id) => id !== page)
        .slice(0, 4),
    );
  });

  it("with a cached answer of the same page: that answer, stale", async () => {
    const item = storeItems[3]!;
    const fresh = await call(env, `/v1/recommend?store=${RECS_STORE}&item=${item}&k=5`);
    expect(fresh.res.status).toBe(200);
    const stale = await call(down(), `/v1/recommend?store=${RECS_STORE}&item=${item}&k=5`);
    expect(stale.res.status).toBe(200);
    expect(stale.res.headers.get("x-vitrine-cache")).toBe("STALE");
    expect(stale.body.degradedReason?.split(",")).toContain("d1_unavailable");
    expect(stale.body.items.map((i) => i.id)).toEqual(fresh.body.items.map((i) => i.id));
  });

  it("a store with neither: 503 catalog_unavailable", async () => {
    const { res, body } = await call(down(), "/v1/recommend?store=esci&item=B0FIX00001&k=5");
    expect(res.status).toBe(503);
    expect(body.error).toBe("catalog_unavailable");
  });
});

describe("health and liveness", () => {
  it("/healthz stays 200 with status degraded and d1 listed; /livez answers without D1", async () => {
    const e = down();
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request(`${BASE}/healthz`), e, ctx);
    expect(res.status).toBe(200);
    const h = (await res.json()) as {
      status: string;
      failing: string[];
      dependencies: { d1: { ok: boolean; breaker: string; error?: string }; gpu: { ok: boolean } };
    };
    expect(h.status).toBe("degraded");
    expect(h.failing).toContain("d1");
    expect(h.dependencies.d1.ok).toBe(false);
    expect(h.dependencies.d1.error).toMatch(/D1 unavailable/);

    const live = await app.fetch(new Request(`${BASE}/livez`), e, createExecutionContext());
    expect(live.status).toBe(200);
    expect(await live.json()).toMatchObject({ status: "ok" });

    const healthy = (await (await app.fetch(new Request(`${BASE}/healthz`), env, createExecutionContext())).json()) as {
      dependencies: { d1: { ok: boolean; breaker: string } };
      failing: string[];
    };
    expect(healthy.dependencies.d1).toMatchObject({ ok: true, breaker: "closed" });
    expect(healthy.failing).not.toContain("d1");
  });
});

describe("the D1 access layer", () => {
  it("opens its breaker after D1_BREAKER_FAILURES failures and stops calling D1", async () => {
    const events: D1Event[] = [];
    const breaker = newD1Breaker(env, (t) => events.push({ type: "breaker", ...t }));
    const reader = d1Reader(env, { breaker, observe: (ev) => events.push(ev) });
    let calls = 0;
    const failing = (): Promise<never> => {
      calls += 1;
      return Promise.reject(new Error("D1_ERROR: database is locked: SQLITE_BUSY"));
    };
    for (let i = 0; i < 3; i++) await expect(reader.read(failing)).rejects.toMatchObject({ kind: "error" });
    expect(breaker.state).toBe("open");
    await expect(reader.read(failing)).rejects.toMatchObject({ kind: "circuit_open" });
    expect(calls).toBe(3); // the open breaker refused the fourth read without calling D1
    expect(events.filter((ev) => ev.type === "breaker").map((ev) => ev.type === "breaker" && ev.to)).toEqual(["open"]);
  });

  it("a read past D1_DEADLINE_MS fails as D1Unavailable(timeout); a query error is rethrown and not counted", async () => {
    const e = { ...env, D1_DEADLINE_MS: "50" };
    const breaker = newD1Breaker(e);
    const reader = d1Reader(e, { breaker });
    const never = new Promise<never>(() => {});
    const err = await reader.read(() => never).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(D1Unavailable);
    expect((err as D1Unavailable).kind).toBe("timeout");
    expect(breaker.snapshot().failuresInRow).toBe(1);

    // D1 answered a bad query: the query's error as it is, a success for the breaker
    const bad = await reader.read((db) => db.prepare("SELECT * FROM no_such_table").all()).catch((x: unknown) => x);
    expect(bad).not.toBeInstanceOf(D1Unavailable);
    expect(String(bad)).toMatch(/no such table/);
    expect(breaker.snapshot()).toMatchObject({ state: "closed", failuresInRow: 0, window: { total: 2, failed: 1 } });
    expect(await reader.read((db) => db.prepare("SELECT 1 AS one").first<{ one: number }>())).toEqual({ one: 1 });
  });
});

describe("drill: d1_read_down", () => {
  const PRIMARY = "http://gpu-primary.d1drill.test";
  const SECONDARY = "http://gpu-secondary.d1drill.test";
  const drillEnv = drillTestEnv(PRIMARY, SECONDARY, { D1_BREAKER_COOLDOWN_MS: "500" });
  beforeAll(() => vi.stubGlobal("fetch", gpuRegionsStandIn(PRIMARY, SECONDARY)));
  afterAll(() => vi.unstubAllGlobals());

  it.each(["d1_read_down", "recommend_d1_read_down"] as const)(
    "%s: probes answered stale or 503 (never 500), the run's D1 breaker detects it, recovery measured",
    async (scenario) => {
      const realBefore = (await call(env, "/healthz")).body as unknown as { dependencies: { d1: { breaker: string } } };
      const r = await runDrill(app.fetch, drillEnv, createExecutionContext(), scenario, "test");
      expect({ status: r.status, reason: r.reason }).toEqual({ status: "pass", reason: undefined });
      expect(r.timeToDetectMs).toEqual(expect.any(Number));
      expect(r.timeToFailoverMs).toEqual(expect.any(Number));
      expect(r.timeToRecoverMs).toEqual(expect.any(Number));
      const events = r.timeline.map((e) => e.event);
      expect(events).toEqual(expect.arrayContaining(["steady_state_ok", "fault_injected", "detected", "recovered"]));
      expect(r.timeline.find((e) => e.event === "d1_breaker" && e.to === "open")).toBeDefined();
      const under = r.timeline.filter((e) => e.event === "probe" && e.phase === "fault");
      expect(under.length).toBeGreaterThan(0);
      for (const p of under) expect(p.status === 200 ? p.degradedReason : p.status).toMatch(/d1_unavailable|503/);
      expect(under.every((p) => p.route === (scenario === "d1_read_down" ? "search" : "recommend"))).toBe(true);
      // the injected fault never touched real traffic's breaker
      const realAfter = (await call(env, "/healthz")).body as unknown as { dependencies: { d1: { breaker: string } } };
      expect(realAfter.dependencies.d1.breaker).toBe(realBefore.dependencies.d1.breaker);
    },
  );
});
