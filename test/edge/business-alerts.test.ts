/**
 * Business alerts per store, in workerd on the real D1 rollups written through the real flush path: a synthetic
 * traffic drop fires `traffic:<store>` (a page) against its learned EWMA band, a CTR drop against the trailing week
 * fires `ctr:<store>` (a ticket) by its binomial test, steady stores and unchanged rates stay quiet, and drill probes
 * — however many, however they stop — fire none.
 */
import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { config } from "../../edge/config";
import { Aggregator, type FlushPayload } from "../../edge/metrics/aggregate";
import { evaluateAlerts, listAlerts } from "../../edge/metrics/alerts";
import { feedbackDropConditions, rateDrop, trafficBand, trafficDropConditions } from "../../edge/metrics/business";
import { applyPayload } from "../../edge/metrics/flush";

const cfg = { ...config(env).metrics, anomalyZ: 4, trafficDropMinRpm: 20, feedbackDropP: 0.001 };
const T0 = Date.UTC(2026, 2, 1, 12, 0, 0) / 1000; // "now" of every evaluation below
const minute = (ago: number) => T0 - ago * 60;

/** Live (or drill) requests of `store`: perMinute(i) requests in each minute i of the `minutes` ending a minute ago. */
async function requests(store: string, minutes: number, perMinute: (i: number) => number, drill = false) {
  const agg = new Aggregator();
  for (let i = 0; i < minutes; i++)
    for (let k = 0; k < perMinute(i); k++)
      agg.addRequest(
        {
          route: "search",
          variant: "control",
          lightModel: "l",
          heavyModel: "h",
          colo: "TST",
          store,
          status: 200,
          cache: "MISS",
          stages: { total: 50 },
          ...(drill ? { drill: true, degradedReason: "gpu_timeout" } : {}),
        },
        minute(minutes - i) * 1000,
      );
  const p = agg.drain(T0 * 1000);
  if (p) expect((await applyPayload(env.DB, p)).outcome).toBe("applied");
}

/** Feedback counts of `store` at one minute (`ago` minutes before now). */
async function feedback(store: string, ago: number, impressions: number, clicks: number, purchases: number) {
  const ts = minute(ago);
  const p: FlushPayload = {
    id: crypto.randomUUID(),
    createdAt: T0,
    minTs: ts,
    maxTs: ts,
    requests: [],
    latency: [],
    degraded: [],
    scores: [],
    events: [],
    feedback: [{ ts, variant: "control", model: "h", store, impressions, clicks, addToCart: 0, purchases }],
  };
  expect((await applyPayload(env.DB, p)).outcome).toBe("applied");
}

beforeEach(async () => {
  await env.DB.exec(
    "DELETE FROM metrics_requests; DELETE FROM metrics_latency; DELETE FROM metrics_degraded; DELETE FROM metrics_feedback; DELETE FROM alerts;",
  );
});

describe("the rules (pure)", () => {
  it("traffic: fires only when every recent minute is below the band of a long enough, busy enough baseline", () => {
    const steady = Array.from({ length: 60 }, (_, i) => 60 + (i % 5) - 2);
    expect(trafficBand([...steady, 10, 12, 9], 4, 20)).toMatchObject({ active: true, judged: true });
    expect(trafficBand([...steady, 10, 58, 9], 4, 20).active).toBe(false); // one minute back in the band
    expect(trafficBand([...steady, 50, 52, 49], 4, 20).active).toBe(false); // a dip inside the band
    expect(trafficBand([...steady.slice(0, 10), 0, 0, 0], 4, 20).judged).toBe(false); // 10 minutes: too short
    const quiet = Array.from({ length: 60 }, () => 5);
    expect(trafficBand([...quiet, 0, 0, 0], 4, 20)).toMatchObject({ active: false, judged: false }); // below min rpm
  });

  it("rates: a one-sided binomial test, not a threshold", () => {
    const worse = rateDrop(2000, 20_000, 50, 1000, 500); // 10 % → 5 %
    expect(worse.judged).toBe(true);
    expect(worse.p!).toBeLessThan(1e-6);
    expect(rateDrop(2000, 20_000, 95, 1000, 500).p!).toBeGreaterThan(0.01); // 9.5 %: noise at this volume
    expect(rateDrop(2000, 20_000, 130, 1000, 500).p!).toBeGreaterThan(0.99); // better is never a drop
    expect(rateDrop(2000, 20_000, 5, 100, 500).judged).toBe(false); // 100 impressions: too few
    expect(rateDrop(30, 20, 1, 1000, 10).judged).toBe(false); // more purchases than impressions: no binomial test
  });
});

describe("business alerts on the D1 rollups", () => {
  it("a synthetic traffic drop of one store pages; a steady store stays quiet", async () => {
    await requests("esci", 43, (i) => (i < 40 ? 60 : 8)); // 40 minutes at 60/min, then 3 at 8/min
    await requests("online-retail", 43, () => 40);
    const byId = Object.fromEntries((await trafficDropConditions(env.DB, cfg, T0)).map((c) => [c.id, c]));
    expect(byId["traffic:esci"]).toMatchObject({ active: true, severity: "page", kind: "business" });
    expect(byId["traffic:esci"]!.threshold!).toBeGreaterThan(8);
    expect(byId["traffic:online-retail"]).toMatchObject({ active: false });

    await evaluateAlerts(env.DB, cfg, T0);
    const firing = (await listAlerts(env.DB)).filter((a) => a.state === "firing");
    expect(firing.map((a) => [a.id, a.severity])).toEqual([["traffic:esci", "page"]]);
    expect(firing[0]!.summary).toContain("8, 8, 8 requests/min");
  });

  it("a CTR drop against the trailing week fires ctr:<store>; its conversion, unchanged, does not", async () => {
    for (let day = 1; day <= 7; day++) await feedback("esci", day * 24 * 60, 3000, 300, 30); // 10 % CTR, 1 % conv.
    await feedback("esci", 30, 1000, 40, 10); // the last hour: CTR 4 %, conversion 1 %
    await feedback("online-retail", 2 * 24 * 60, 5000, 400, 50);
    await feedback("online-retail", 20, 1000, 81, 10); // 8 % → 8.1 %: no change
    const conds = await feedbackDropConditions(env.DB, cfg, T0);
    const byId = Object.fromEntries(conds.map((c) => [c.id, c]));
    expect(byId["ctr:esci"]).toMatchObject({ active: true, severity: "ticket" });
    expect(byId["ctr:esci"]!.value!).toBeLessThan(cfg.feedbackDropP);
    expect(byId["conversion:esci"]!.active).toBe(false);
    expect(byId["ctr:online-retail"]!.active).toBe(false);

    await evaluateAlerts(env.DB, cfg, T0);
    const firing = (await listAlerts(env.DB)).filter((a) => a.state === "firing");
    expect(firing.map((a) => a.id)).toEqual(["ctr:esci"]);
    expect(firing[0]!.summary).toMatch(/ctr 4\.00% over the last hour .* vs 10\.00% over the trailing week/);
  });

  it("a drill run fires none: probes neither build the baseline nor, when they stop, look like a drop", async () => {
    // live traffic steady at 40/min; drill probes at 200/min for 40 minutes, then none (the drill ended)
    await requests("esci", 43, () => 40);
    await requests("esci", 43, (i) => (i < 40 ? 200 : 0), true);
    // a drill while live traffic is quiet (below the minimum rate): still nothing to judge
    await requests("online-retail", 43, (i) => (i < 40 ? 0 : 300), true);
    await evaluateAlerts(env.DB, cfg, T0);
    const open = (await listAlerts(env.DB)).filter((a) => a.state !== "resolved");
    expect(open).toEqual([]);
    const traffic = await trafficDropConditions(env.DB, cfg, T0);
    expect(traffic.map((c) => [c.id, c.active])).toEqual([["traffic:esci", false]]);
  });
});
