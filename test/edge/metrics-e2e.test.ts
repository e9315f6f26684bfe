/**
 * End to end in workerd: samples recorded through `recordRequest` with real execution contexts, flushed by the
 * collector, then read back through GET /admin/metrics (auth, counts, percentiles) and POST /v1/events.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { AppEnv } from "../../edge/env";
import { onError } from "../../edge/middleware/errors";
import { requestId } from "../../edge/middleware/request-id";
import { adminMetrics } from "../../edge/routes/admin-metrics";
import { events } from "../../edge/routes/events";
import { dashboard } from "../../edge/routes/dashboard";
import { FLUSH_MAX_SAMPLES, collectorState, flushNow, recordRequest } from "../../edge/metrics/collector";
import { runMetricsMaintenance } from "../../edge/metrics/jobs";
import { insertFixtureProducts } from "./fixtures";

/** Queries that match the fixture catalog (distinct, so each one misses the cache and calls the GPU tier). */
const FIXTURE_QUERIES = ["red running shoes", "blue rain jacket", "black coffee mug", "white phone case"];

// The same route modules edge/app.ts mounts (the full app also needs the search stack's generated models).
const app = new Hono<AppEnv>();
app.use(requestId);
app.onError(onError);
app.route("/v1", events);
app.route("/admin", adminMetrics);
app.route("/", dashboard);

const AUTH = { authorization: `Bearer ${env.ADMIN_TOKEN}` };

async function call(path: string, init: RequestInit = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`http://vitrine.test${path}`, init), env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

interface MetricsJson {
  totals: {
    count: number;
    status: Record<string, number>;
    degraded: number;
    cacheHitRatio: number | null;
    latencyMs: Record<string, { p50: number; p95: number; p99: number; count: number }>;
    feedback: Record<string, number>;
    ctr: number | null;
  };
  series: Array<{ group: string; totals: { count: number } }>;
}

describe("collection → D1 → /admin/metrics", () => {
  it("rejects missing or wrong tokens with 401 JSON", async () => {
    const none = await call("/admin/metrics");
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ error: "unauthorized" });
    expect((await call("/admin/alerts", { headers: { authorization: "Bearer nope" } })).status).toBe(401);
  });

  it("aggregates requests in the isolate, flushes in batches, and serves counts and percentiles", async () => {
    const total = FLUSH_MAX_SAMPLES + 100;
    await flushNow(env.DB); // restarts the 10 s flush interval: only the 500-sample trigger may flush in the loop
    for (let i = 0; i < total; i++) {
      const ctx = createExecutionContext();
      recordRequest(env, ctx, {
        route: "search",
        variant: i % 2 ? "treatment" : "control",
        lightModel: "light-x",
        heavyModel: "heavy-x",
        colo: "E2E",
        store: "esci",
        status: i % 50 === 0 ? 400 : 200,
        cache: i % 4 === 0 ? "HIT" : "MISS",
        degradedReason: i % 10 === 1 ? "gpu_timeout" : undefined,
        stages: {
          retrieval: 2 + (i % 7),
          light: 4,
          gpu: i % 4 === 0 ? undefined : 30 + (i % 40),
          total: 10 + (i % 100),
        },
        scores: { light: [i % 5, -1], heavy: [0.5] },
      });
      await waitOnExecutionContext(ctx);
    }
    // the 500-sample trigger flushed once already; the rest waits in the isolate
    expect(collectorState().pendingSamples).toBe(total - FLUSH_MAX_SAMPLES);
    const inD1 = await env.DB.prepare("SELECT SUM(requests) AS n FROM metrics_requests WHERE colo = 'E2E'").first<{
      n: number;
    }>();
    expect(inD1?.n).toBe(FLUSH_MAX_SAMPLES);

    const ev = await call("/v1/events", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        events: [
          { type: "impression", requestId: "r1", productId: "p1", position: 0, variant: "control", model: "heavy-x" },
          { type: "impression", requestId: "r1", productId: "p2", position: 1, variant: "control", model: "heavy-x" },
          { type: "click", requestId: "r1", productId: "p2", position: 1, variant: "control", model: "heavy-x" },
        ],
      }),
    });
    expect(ev.status).toBe(202);

    // the cron job flushes what this isolate holds, compacts, applies retention and evaluates alerts
    await runMetricsMaintenance(env, createExecutionContext(), Date.now());
    expect(collectorState().pendingSamples).toBe(0);

    const now = Math.floor(Date.now() / 1000);
    const res = await call(`/admin/metrics?from=${now - 600}&to=${now + 60}&step=60`, { headers: AUTH });
    expect(res.status).toBe(200);
    const body = (await res.json()) as MetricsJson;
    expect(body.totals.count).toBe(total);
    expect(body.totals.status["4xx"]).toBe(12);
    expect(body.totals.degraded).toBe(total / 10);
    expect(body.totals.cacheHitRatio).toBeCloseTo(0.25, 5);
    const lat = body.totals.latencyMs.total!;
    expect(lat.count).toBe(total);
    expect(Math.abs(lat.p50 - 59) / 59).toBeLessThanOrEqual(0.02 + 1e-9);
    expect(Math.abs(lat.p99 - 108) / 108).toBeLessThanOrEqual(0.02 + 1e-9);
    expect(body.totals.latencyMs.gpu!.count).toBe(total - total / 4);
    expect(body.totals.feedback).toMatchObject({ impressions: 2, clicks: 1 });
    expect(body.totals.ctr).toBeCloseTo(0.5, 5);

    const byVariant = (await (
      await call(`/admin/metrics?from=${now - 600}&to=${now + 60}&step=60&groupBy=variant`, { headers: AUTH })
    ).json()) as MetricsJson;
    expect(byVariant.series.map((s) => [s.group, s.totals.count])).toEqual([
      ["control", total / 2],
      ["treatment", total / 2],
    ]);
  });

  it("answers 400 JSON for bad metrics queries and bad events", async () => {
    expect((await call("/admin/metrics?groupBy=planet", { headers: AUTH })).status).toBe(400);
    expect((await call("/admin/metrics?from=200&to=100", { headers: AUTH })).status).toBe(400);
    const bad = await call("/v1/events", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ events: [{ type: "like", requestId: "r", productId: "p", position: -1 }] }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: "invalid_request" });
  });

  it("serves the dashboard login, sets a session cookie for the right token, and serves its script and uPlot locally", async () => {
    const login = await call("/dashboard");
    expect(await login.text()).toContain('action="/dashboard/login"');
    const wrong = await call("/dashboard/login", { method: "POST", body: new URLSearchParams({ token: "nope" }) });
    expect(wrong.status).toBe(401);
    const ok = await call("/dashboard/login", {
      method: "POST",
      body: new URLSearchParams({ token: env.ADMIN_TOKEN! }),
      redirect: "manual",
    });
    expect(ok.status).toBe(303);
    const cookie = ok.headers.get("set-cookie")!.split(";")[0]!;
    expect(cookie).not.toContain(env.ADMIN_TOKEN!);
    const page = await call("/dashboard", { headers: { cookie } });
    const html = await page.text();
    expect(html).toContain('id="chart-latency"');
    // the browser script (edge/dashboard/client/, bundled by scripts/build-dashboard.mjs) at a versioned URL
    const src = /<script src="(\/dashboard\/assets\/dashboard\.js\?v=[0-9a-f]{12})"/.exec(html)?.[1];
    expect(src).toBeDefined();
    const client = await call(src!);
    expect(client.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(await client.text()).toContain("/admin/metrics?from=");
    expect((await call("/admin/alerts", { headers: { cookie } })).status).toBe(200);
    const js = await call("/dashboard/assets/uplot.js");
    expect(await js.text()).toContain("uPlot");
  });
});

describe("through the whole worker (SELF)", () => {
  it("search requests (served, 400 and cache hits alike) show up in /admin/metrics with exact counts", async () => {
    const { SELF } = await import("cloudflare:test");
    const before = Math.floor(Date.now() / 1000);
    const url = `http://vitrine.test/admin/metrics?from=${before - 120}&to=${before + 120}&step=60&groupBy=route`;
    const read = async (): Promise<MetricsJson> =>
      (await (await SELF.fetch(url, { headers: AUTH })).json()) as MetricsJson;
    const searchCount = (m: MetricsJson): number => m.series.find((s) => s.group === "search")?.totals.count ?? 0;
    const start = await read();
    const statuses: number[] = [];
    for (const q of ["red shoes", "red shoes", "usb cable", "!!!", ""]) {
      const res = await SELF.fetch(`http://vitrine.test/v1/search?q=${encodeURIComponent(q)}&user=e2e`);
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    const body = await read();
    const served = statuses.filter((s) => s === 200).length;
    const rejected = statuses.filter((s) => s === 400).length;
    expect(served + rejected).toBe(statuses.length);
    expect(searchCount(body) - searchCount(start)).toBe(statuses.length);
    expect((body.totals.status["4xx"] ?? 0) - (start.totals.status["4xx"] ?? 0)).toBe(rejected);
  });

  it("counts GPU circuit-breaker transitions of real traffic in the rollups", async () => {
    const { SELF } = await import("cloudflare:test");
    const now = Math.floor(Date.now() / 1000);
    const url = `http://vitrine.test/admin/metrics?from=${now - 120}&to=${now + 120}&step=60`;
    const breakerEvents = async (): Promise<Record<string, number>> =>
      ((await (await SELF.fetch(url, { headers: AUTH })).json()) as { events: Record<string, Record<string, number>> })
        .events.breaker ?? {};
    await insertFixtureProducts(env.DB);
    const before = await breakerEvents();
    // the test GPU endpoints refuse connections: three cache-missing searches with candidates open both breakers
    for (const q of FIXTURE_QUERIES) {
      const res = await SELF.fetch(`http://vitrine.test/v1/search?q=${encodeURIComponent(q)}&user=breaker`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    const after = await breakerEvents();
    const opened = Object.entries(after).filter(([name, n]) => name.endsWith("closed→open") && n > (before[name] ?? 0));
    expect(opened.map(([name]) => name.split(" ")[0]!.split(":")[0]).sort()).toEqual(["primary", "secondary"]);
  });
});
