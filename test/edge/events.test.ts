/**
 * POST /v1/events through the whole worker (SELF) against the real local D1: validation (400 JSON), stores (default,
 * unknown → 404), purchases and cart adds landing in recs_history at once, eventId dedupe (history and feedback
 * rollups), a history write that fails because D1 is broken for real (table renamed away) is held by the durable
 * buffer (202 `buffered`) and lands exactly once after D1 is repaired, and the retention sweep of event ids. The
 * buffer itself (failure doubles, redelivery, dead letters): test/edge/events-durability.test.ts.
 */
import { env, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { config } from "../../edge/config";
import { flushNow } from "../../edge/metrics/collector";
import { applyRetention } from "../../edge/metrics/maintenance";

const BASE = "http://vitrine.test";

interface Accepted {
  accepted: number;
  buffered: number;
  pending: number;
}
interface HistoryRow {
  store: string;
  item_id: string;
  n: number;
  qty: number;
  last_day: number;
}

function post(body: unknown): Promise<Response> {
  return SELF.fetch(`${BASE}/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function history(user: string, store = "online-retail"): Promise<HistoryRow[]> {
  const { results } = await env.DB.prepare(
    "SELECT store, item_id, n, qty, last_day FROM recs_history WHERE store = ? AND user_id = ? ORDER BY item_id",
  )
    .bind(store, user)
    .all<HistoryRow>();
  return results;
}

async function feedbackFor(variant: string): Promise<{ impressions: number; purchases: number }> {
  await flushNow(env.DB);
  const row = await env.DB.prepare(
    "SELECT COALESCE(SUM(impressions), 0) AS impressions, COALESCE(SUM(purchases), 0) AS purchases FROM metrics_feedback WHERE variant = ?",
  )
    .bind(variant)
    .first<{ impressions: number; purchases: number }>();
  return row ?? { impressions: 0, purchases: 0 };
}

let broken = false;
afterEach(async () => {
  if (broken) await env.DB.exec("ALTER TABLE recs_history_broken RENAME TO recs_history");
  broken = false;
});

describe("POST /v1/events validation", () => {
  it.each([
    ["unknown type", { type: "like", productId: "p" }, "events.0.type"],
    ["no productId", { type: "click", requestId: "r", position: 0 }, "events.0.productId"],
    ["position without requestId", { type: "click", productId: "p", position: 3 }, "events.0.position"],
    ["negative position", { type: "click", productId: "p", requestId: "r", position: -1 }, "events.0.position"],
    ["ts in the future", { type: "purchase", productId: "p", ts: Date.now() + 7 * 86_400_000 }, "events.0.ts"],
    ["ts not a date", { type: "purchase", productId: "p", ts: "yesterday" }, "events.0.ts"],
    ["unknown field", { type: "purchase", productId: "p", quantity: 2 }, "events.0"],
    ["empty store", { type: "purchase", productId: "p", store: "" }, "events.0.store"],
  ])("%s → 400 naming the field", async (_name, event, path) => {
    const res = await post({ events: [event] });
    expect(res.status).toBe(400);
    const body = await res.json<{ error: string; issues: { path: string }[] }>();
    expect(body.error).toBe("invalid_request");
    expect(body.issues.map((i) => i.path)).toContain(path);
  });

  it("refuses an empty list and a body without events", async () => {
    expect((await post({ events: [] })).status).toBe(400);
    expect((await post({})).status).toBe(400);
  });

  it("answers 404 unknown_store for an event of a store that does not exist, and writes nothing", async () => {
    const res = await post({
      events: [
        { type: "purchase", store: "online-retail", user: "u-unknown-store", productId: "22382" },
        { type: "purchase", store: "no-such-store", user: "u-unknown-store", productId: "22382" },
      ],
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: "unknown_store", issues: [{ path: "events.store" }] });
    expect(await history("u-unknown-store")).toEqual([]);
  });
});

describe("purchase history", () => {
  it("a purchase with a user lands in recs_history at once (the shape the acceptance check posts)", async () => {
    const res = await post({ events: [{ type: "purchase", store: "online-retail", user: "u-1", productId: "22382" }] });
    expect(res.status).toBe(202);
    expect(await res.json<Accepted>()).toMatchObject({ accepted: 1, buffered: 0, pending: 0 });
    const rows = await history("u-1");
    expect(rows).toMatchObject([{ item_id: "22382", n: 1, qty: 1 }]);
    expect(rows[0]!.last_day).toBeCloseTo(Date.now() / 86_400_000, 2);
  });

  it("counts repeat purchases, keeps the latest day, and takes the event time when given", async () => {
    const day = Date.UTC(2011, 11, 1);
    await post({
      events: [
        { type: "purchase", store: "online-retail", user: 17850, productId: "85123A", ts: day },
        { type: "purchase", store: "online-retail", user: "17850", productId: "85123A", ts: "2011-11-01T10:00:00Z" },
      ],
    });
    expect(await history("17850")).toMatchObject([{ item_id: "85123A", n: 2, qty: 2, last_day: day / 86_400_000 }]);
  });

  it("an add_to_cart adds a not-yet-bought row (n = 0) and never changes a purchased one", async () => {
    await post({ events: [{ type: "purchase", store: "online-retail", user: "u-cart", productId: "21212" }] });
    await post({
      events: [
        {
          type: "add_to_cart",
          store: "online-retail",
          user: "u-cart",
          productId: "21212",
          ts: Date.UTC(2030, 0, 1) - 1e12,
        },
        { type: "add_to_cart", store: "online-retail", user: "u-cart", productId: "22423" },
      ],
    });
    const rows = await history("u-cart");
    expect(rows).toMatchObject([
      { item_id: "21212", n: 1, qty: 1 },
      { item_id: "22423", n: 0, qty: 0 },
    ]);
    expect(rows[0]!.last_day).toBeCloseTo(Date.now() / 86_400_000, 2);
  });

  it("events without a user, impressions and clicks do not touch history; no store = the default store", async () => {
    await post({
      events: [
        { type: "purchase", productId: "B0FIX00001" },
        { type: "click", user: "u-default", productId: "B0FIX00002", requestId: "r", position: 1 },
        { type: "purchase", user: "u-default", productId: "B0FIX00003" },
      ],
    });
    expect(await history("u-default", "esci")).toMatchObject([{ store: "esci", item_id: "B0FIX00003", n: 1 }]);
    expect(await history("u-default")).toEqual([]);
  });
});

describe("eventId dedupe", () => {
  it("counts a repeated eventId once, across requests and within one, in history and in the rollups", async () => {
    const e = {
      type: "purchase",
      store: "online-retail",
      user: "u-dedupe",
      productId: "22720",
      eventId: "ev-1",
      variant: "dedupe-v",
    };
    const first = await post({ events: [e, e] });
    expect(await first.json<Accepted>()).toMatchObject({ accepted: 2, pending: 0 });
    const again = await post({ events: [e, { ...e, eventId: "ev-2" }] }); // a client retry plus one new purchase
    expect(again.status).toBe(202);
    expect(await history("u-dedupe")).toMatchObject([{ item_id: "22720", n: 2 }]);
    expect(await feedbackFor("dedupe-v")).toMatchObject({ purchases: 2 });
  });

  it("scopes event ids by store", async () => {
    const e = { type: "purchase", user: "u-scope", productId: "22720", eventId: "shared-id" };
    await post({ events: [{ ...e, store: "online-retail" }] });
    await post({ events: [{ ...e, store: "esci" }] });
    expect(await history("u-scope")).toMatchObject([{ n: 1 }]);
    expect(await history("u-scope", "esci")).toMatchObject([{ n: 1 }]);
  });

  it("forgets event ids past EVENT_ID_RETENTION_H in the maintenance sweep", async () => {
    const cfg = config(env).metrics;
    const now = Math.floor(Date.now() / 1000);
    await env.DB.prepare(
      "INSERT INTO event_ids (store, event_id, seen_at, payload_id) VALUES (?, ?, ?, 'old'), (?, ?, ?, 'new')",
    )
      .bind("esci", "ev-old", now - cfg.eventIdRetentionS - 60, "esci", "ev-new", now - 60)
      .run();
    await applyRetention(env.DB, cfg, now);
    const { results } = await env.DB.prepare(
      "SELECT event_id FROM event_ids WHERE event_id IN ('ev-old', 'ev-new')",
    ).all();
    expect(results).toEqual([{ event_id: "ev-new" }]);
  });
});

describe("a failed history write", () => {
  it("is held by the durable buffer (202 buffered) and lands exactly once on the next write after D1 is repaired", async () => {
    await env.DB.exec("ALTER TABLE recs_history RENAME TO recs_history_broken");
    broken = true;
    const e = { type: "purchase", store: "online-retail", user: "u-retry", productId: "22384", variant: "retry-v" };
    const res = await post({ events: [{ ...e, eventId: "retry-1" }] });
    expect(res.status).toBe(202);
    expect(await res.json<Accepted>()).toMatchObject({ accepted: 1, buffered: 1, pending: 1 });
    expect(await feedbackFor("retry-v")).toMatchObject({ purchases: 0 }); // not counted until it lands

    await env.DB.exec("ALTER TABLE recs_history_broken RENAME TO recs_history");
    broken = false;
    // the next events request writes its own payload, then drains what its isolate handed the buffer
    const next = await post({ events: [{ ...e, productId: "22386", eventId: "retry-2" }] });
    expect(await next.json<Accepted>()).toMatchObject({ buffered: 0, pending: 0 });
    expect(await history("u-retry")).toMatchObject([
      { item_id: "22384", n: 1 },
      { item_id: "22386", n: 1 },
    ]);
    expect(await feedbackFor("retry-v")).toMatchObject({ purchases: 2 });
  });
});
