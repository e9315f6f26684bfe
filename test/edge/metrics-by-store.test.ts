/**
 * Stores as a rollup dimension (issue 14): every request's sample carries the store it was served for, so
 * metrics_requests, metrics_latency, metrics_degraded and metrics_scores hold one series per store, and every feedback
 * event counts under its store in metrics_feedback; `/admin/metrics` groups by store (`groupBy=store`) and filters on
 * one (`store=`, an unknown or malformed id → 400 JSON), CTR and conversion included; compaction keeps the stores
 * apart. Real D1, the real search, rerank, recommend and events routes (the GPU tier is on a closed port: searches
 * are degraded).
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { app } from "../../edge/app";
import { config } from "../../edge/config";
import { Aggregator, HOUR } from "../../edge/metrics/aggregate";
import { flushNow } from "../../edge/metrics/collector";
import { applyPayload } from "../../edge/metrics/flush";
import { compactHours } from "../../edge/metrics/maintenance";
import { queryRollup } from "../../edge/metrics/queries";
import { FIXTURE_PRODUCTS, insertFixtureProducts } from "./fixtures";

const RETAIL = "online-retail";

beforeAll(async () => {
  await insertFixtureProducts(env.DB); // the default store, esci
  // a few products of the second store (ids are unique across stores)
  const retail = FIXTURE_PRODUCTS.slice(0, 12).map((p, i) => ({ ...p, id: `R0FIX${String(i).padStart(5, "0")}` }));
  await insertFixtureProducts(env.DB, retail, { store: RETAIL, firstRowid: 100_000_000 });
});

beforeEach(async () => {
  await flushNow(env.DB);
  await env.DB.exec(
    "DELETE FROM metrics_requests; DELETE FROM metrics_latency; DELETE FROM metrics_degraded; " +
      "DELETE FROM metrics_feedback; DELETE FROM metrics_scores;",
  );
});

async function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`http://vitrine.test${path}`, { headers }), env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

const admin = (query: string): Promise<Response> =>
  get(`/admin/metrics?${query}`, { authorization: `Bearer ${env.ADMIN_TOKEN}` });

async function post(path: string, body: unknown): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(
    new Request(`http://vitrine.test${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
    env,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

type EventType = "impression" | "click" | "add_to_cart" | "purchase";

/** `n` events of each type for one store (none named: the default store's), variant "control". */
const events = (store: string | undefined, counts: Partial<Record<EventType, number>>) =>
  Object.entries(counts).flatMap(([type, n]) =>
    Array.from({ length: n }, () => ({
      type,
      productId: store === RETAIL ? "R0FIX00000" : "B0FIX00000",
      variant: "control",
      model: "h",
      ...(store ? { store } : {}),
    })),
  );

interface Totals {
  count: number;
  degraded: number;
  status: Record<"2xx" | "4xx", number>;
  latencyMs: { total: { count: number } };
  feedback: { impressions: number; clicks: number; addToCart: number; purchases: number };
  ctr: number | null;
  conversion: number | null;
}
interface MetricsBody {
  store: string | null;
  groupBy: string | null;
  series: { group: string; totals: Totals }[];
  totals: Totals;
  degradedReasons: Record<string, number>;
}

const byGroup = (body: MetricsBody): Record<string, Totals> =>
  Object.fromEntries(body.series.map((s) => [s.group, s.totals]));

/** Rows as D1 holds them: requests per (store, route) at minute resolution. */
async function requestRows(): Promise<Record<string, number>> {
  const { results } = await env.DB.prepare(
    "SELECT store, route, SUM(requests) AS n FROM metrics_requests WHERE res = 60 GROUP BY store, route",
  ).all<{ store: string; route: string; n: number }>();
  return Object.fromEntries(results.map((r) => [`${r.store} ${r.route}`, r.n]));
}

/** SUM(column) per store of the rows of a rollup table that `where` selects, stores in order. */
async function perStore(table: string, column: string, where: string): Promise<{ store: string; n: number }[]> {
  const { results } = await env.DB.prepare(
    `SELECT store, SUM(${column}) AS n FROM ${table} WHERE ${where} GROUP BY store ORDER BY store`,
  ).all<{ store: string; n: number }>();
  return results;
}

describe("metrics per store", () => {
  it("search and recommend of two stores roll up into separate rows, grouped and filtered by /admin/metrics", async () => {
    for (const path of [
      "/v1/search?q=coffee+mug&k=5&user=s-1", // no store named: the default store
      "/v1/search?q=rain+jacket&k=5&user=s-2&store=esci",
      "/v1/search?q=desk+lamp&k=5&user=s-3",
      `/v1/search?q=coffee+mug&k=5&user=s-4&store=${RETAIL}`,
      `/v1/search?q=rain+jacket&k=5&user=s-5&store=${RETAIL}`,
      `/v1/recommend?store=${RETAIL}&k=5`, // no recommendation tables in this D1: an empty answer, not degraded
    ]) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
    }
    // an event counts under its store
    expect((await post("/v1/events", { events: events(RETAIL, { impression: 1 }) })).status).toBe(202);
    await flushNow(env.DB);

    expect(await requestRows()).toEqual({
      "esci search": 3,
      [`${RETAIL} search`]: 2,
      [`${RETAIL} recommend`]: 1,
    });
    expect(await perStore("metrics_latency", "count", "stage = 'total'")).toEqual([
      { store: "esci", n: 3 },
      { store: RETAIL, n: 3 },
    ]);

    const grouped = (await (await admin("groupBy=store")).json()) as MetricsBody;
    expect(grouped.groupBy).toBe("store");
    const stores = byGroup(grouped);
    expect(Object.keys(stores).sort()).toEqual(["esci", RETAIL]);
    // the GPU tier is unreachable: every search answer is degraded (light order), the empty recommendation is not
    expect(stores.esci).toMatchObject({ count: 3, degraded: 3, status: { "2xx": 3 } });
    expect(stores.esci!.latencyMs.total.count).toBe(3);
    expect(stores[RETAIL]).toMatchObject({ count: 3, degraded: 2, status: { "2xx": 3 } });
    expect(grouped.totals.count).toBe(6);

    const retail = await admin(`store=${RETAIL}&groupBy=route`);
    expect(retail.status).toBe(200);
    const filtered = (await retail.json()) as MetricsBody;
    expect(filtered.store).toBe(RETAIL);
    expect(byGroup(filtered)).toMatchObject({ search: { count: 2 }, recommend: { count: 1 } });
    // feedback has no route: grouped by route it is left out of the series
    expect(filtered.totals).toMatchObject({ count: 3, degraded: 2, feedback: { impressions: 0 } });
    expect((await (await admin(`store=${RETAIL}`)).json<MetricsBody>()).totals.feedback.impressions).toBe(1);
    // degraded reasons are per store too: only the two retail searches
    expect(Object.values(filtered.degradedReasons).reduce((a, b) => a + b, 0)).toBe(2);
    const all = (await (await admin("")).json()) as MetricsBody;
    expect(all.store).toBeNull();
    expect(all.totals.feedback.impressions).toBe(1);
    expect(Object.values(all.degradedReasons).reduce((a, b) => a + b, 0)).toBe(5);

    const esci = (await (await admin("store=esci")).json()) as MetricsBody;
    expect(esci.series.map((s) => s.group)).toEqual(["all"]);
    expect(esci.totals).toMatchObject({ count: 3, degraded: 3, feedback: { impressions: 0 } });
  });

  it("feedback events count under their store: CTR and conversion per store, filtered and grouped", async () => {
    const posted = await post("/v1/events", {
      events: [
        ...events(undefined, { impression: 10, click: 4, purchase: 1 }), // no store named: the default store
        ...events("esci", { impression: 10, click: 2, add_to_cart: 3, purchase: 1 }),
        ...events(RETAIL, { impression: 5, click: 1, add_to_cart: 2, purchase: 2 }),
      ],
    });
    expect(posted.status).toBe(202);
    // a batch naming an unknown store is refused whole (404): nothing of it is counted anywhere
    const refused = await post("/v1/events", {
      events: [...events(RETAIL, { impression: 7 }), ...events("no-such-store", { click: 1 })],
    });
    expect(refused.status).toBe(404);
    expect((await refused.json<{ error: string }>()).error).toBe("unknown_store");
    await flushNow(env.DB);

    const rows = await env.DB.prepare(
      "SELECT store, SUM(impressions) AS i, SUM(clicks) AS c, SUM(purchases) AS p FROM metrics_feedback GROUP BY store",
    ).all<{ store: string; i: number; c: number; p: number }>();
    expect(rows.results).toEqual([
      { store: "esci", i: 20, c: 6, p: 2 },
      { store: RETAIL, i: 5, c: 1, p: 2 },
    ]);

    const esci = (await (await admin("store=esci")).json()) as MetricsBody;
    expect(esci.store).toBe("esci");
    expect(esci.totals).toMatchObject({
      feedback: { impressions: 20, clicks: 6, addToCart: 3, purchases: 2 },
      ctr: 0.3,
      conversion: 0.1,
    });
    const retail = (await (await admin(`store=${RETAIL}`)).json()) as MetricsBody;
    expect(retail.totals).toMatchObject({
      feedback: { impressions: 5, clicks: 1, addToCart: 2, purchases: 2 },
      ctr: 0.2,
      conversion: 0.4,
    });
    // per variant inside one store: the store filter holds for the variant series too
    const retailByVariant = (await (await admin(`store=${RETAIL}&groupBy=variant`)).json()) as MetricsBody;
    expect(byGroup(retailByVariant).control).toMatchObject({ feedback: { impressions: 5 }, ctr: 0.2 });

    const grouped = (await (await admin("groupBy=store")).json()) as MetricsBody;
    expect(byGroup(grouped)).toMatchObject({
      esci: { ctr: 0.3, conversion: 0.1 },
      [RETAIL]: { ctr: 0.2, conversion: 0.4 },
    });
    const all = (await (await admin("")).json()) as MetricsBody;
    expect(all.totals).toMatchObject({ feedback: { impressions: 25, clicks: 7, purchases: 4 }, ctr: 0.28 });
  });

  it("rerank counts under the store it names, and its scores roll up per store", async () => {
    const ranked = await post("/v1/rerank", {
      query: "coffee mug",
      candidates: ["R0FIX00000", "R0FIX00001", "R0FIX00002"],
      store: RETAIL,
    });
    expect(ranked.status).toBe(200);
    expect((await post("/v1/rerank", { query: "coffee mug", candidates: ["B0FIX00000", "B0FIX00001"] })).status).toBe(
      200,
    );
    await flushNow(env.DB);
    expect(await requestRows()).toEqual({ "esci rerank": 1, [`${RETAIL} rerank`]: 1 });
    expect(await perStore("metrics_scores", "count", "kind = 'light'")).toEqual([
      { store: "esci", n: 2 },
      { store: RETAIL, n: 3 },
    ]);
  });

  it("a request naming an unknown store counts under the default store: no row for a made-up name", async () => {
    const res = await get("/v1/search?q=coffee+mug&store=no-such-store");
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toBe("unknown_store");
    await flushNow(env.DB);
    expect(await requestRows()).toEqual({ "esci search": 1 });
    const body = (await (await admin("store=esci")).json()) as MetricsBody;
    expect(body.totals).toMatchObject({ count: 1, status: { "4xx": 1 } });
  });

  it("an unknown or malformed store filter, or an unknown groupBy, is a 400 JSON naming the parameter", async () => {
    const cases: Array<[string, string]> = [
      ["store=no-such-store", "unknown_store"],
      ["store=", "too_small"],
      [`store=${"x".repeat(65)}`, "too_big"],
      ["groupBy=stores", "invalid_enum_value"],
    ];
    for (const [query, code] of cases) {
      const res = await admin(query);
      expect(res.status, query).toBe(400);
      expect(res.headers.get("content-type")).toContain("application/json");
      const body = (await res.json()) as { error: string; issues: { path: string; code: string }[] };
      expect(body.error, query).toBe("invalid_request");
      expect(body.issues[0], query).toMatchObject({ path: query.split("=")[0], code });
    }
  });

  it("compaction keeps each store's hour rows apart; hour rows answer a store filter", async () => {
    const hour0 = Date.UTC(2026, 2, 1, 8) / 1000;
    const agg = new Aggregator();
    const sample = (store: string, total: number) => ({
      route: "search",
      variant: "control",
      lightModel: "l",
      heavyModel: "h",
      colo: "CMP",
      store,
      status: 200,
      cache: "MISS" as const,
      degradedReason: "gpu_timeout",
      stages: { total },
      scores: { light: [0.5] },
    });
    for (let i = 0; i < 4; i++) agg.addRequest(sample("esci", 10 + i), (hour0 + 60 * i) * 1000);
    for (let i = 0; i < 2; i++) agg.addRequest(sample(RETAIL, 30 + i), (hour0 + 60 * i) * 1000);
    for (const [store, n] of [
      ["esci", 3],
      [RETAIL, 1],
    ] as const)
      for (let i = 0; i < n; i++)
        agg.addFeedback("impression", { variant: "control", model: "h", store }, (hour0 + 60 * i) * 1000);
    expect((await applyPayload(env.DB, agg.drain(hour0 * 1000)!)).outcome).toBe("applied");

    expect(await compactHours(env.DB, hour0 + 2 * HOUR)).toEqual([hour0]);
    const hourRows = await env.DB.prepare(
      `SELECT 'requests' AS t, store, SUM(requests) AS n FROM metrics_requests WHERE res = 3600 GROUP BY store
       UNION ALL SELECT 'latency', store, SUM(count) FROM metrics_latency WHERE res = 3600 AND stage = 'total' GROUP BY store
       UNION ALL SELECT 'degraded', store, SUM(count) FROM metrics_degraded WHERE res = 3600 GROUP BY store
       UNION ALL SELECT 'feedback', store, SUM(impressions) FROM metrics_feedback WHERE res = 3600 GROUP BY store
       UNION ALL SELECT 'scores', store, SUM(count) FROM metrics_scores WHERE res = 3600 GROUP BY store
       ORDER BY 1, 2`,
    ).all<{ t: string; store: string; n: number }>();
    expect(hourRows.results.map((r) => [r.t, r.store, r.n])).toEqual([
      ["degraded", "esci", 4],
      ["degraded", RETAIL, 2],
      ["feedback", "esci", 3],
      ["feedback", RETAIL, 1],
      ["latency", "esci", 4],
      ["latency", RETAIL, 2],
      ["requests", "esci", 4],
      ["requests", RETAIL, 2],
      ["scores", "esci", 4],
      ["scores", RETAIL, 2],
    ]);

    // long after the minute retention, the hour rows answer alone
    const cfg = config(env).metrics;
    const later = hour0 + cfg.minuteRetentionS + 3 * HOUR;
    const q = { from: hour0, to: hour0 + HOUR, step: HOUR };
    const retail = await queryRollup(env.DB, { ...q, store: RETAIL }, cfg.minuteRetentionS, later);
    expect(retail.totals).toMatchObject({ count: 2, degraded: 2, feedback: { impressions: 1 } });
    expect(retail.degradedReasons).toEqual({ gpu_timeout: 2 });
    const grouped = await queryRollup(env.DB, { ...q, groupBy: "store" }, cfg.minuteRetentionS, later);
    expect(grouped.series.map((s) => [s.group, s.totals.count])).toEqual([
      ["esci", 4],
      [RETAIL, 2],
    ]);
  });
});
