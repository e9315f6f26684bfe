/**
 * Live recommendations for a store created through the API, before any training: purchase events, one run of the
 * every-minute cron, and /v1/recommend answers the store's item pages with co-purchased products, trending for
 * newcomers and the user's own history for a buyer — only the store's available products. A store that serves a
 * trained recs version keeps it; the tables are rebuilt only when events arrived.
 */
import { createExecutionContext, createScheduledController, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../edge/index";
import { buildLiveTables } from "../../edge/recs/live";
import { EVERY_MINUTE } from "../../edge/scheduled";

const BASE = "http://vitrine.test";
const AUTH = { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" };
const admin = (path: string, method: string, body?: unknown) =>
  SELF.fetch(`${BASE}${path}`, {
    method,
    headers: AUTH,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

async function cron(): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled!(createScheduledController({ cron: EVERY_MINUTE, scheduledTime: Date.now() }), env, ctx);
  await waitOnExecutionContext(ctx);
}

interface Rec {
  personalised: boolean;
  items: { id: string; sources: string[] }[];
  models: { data: string | null };
  degraded: boolean;
}
async function recommend(query: string): Promise<Rec> {
  const res = await SELF.fetch(`${BASE}/v1/recommend?${query}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Rec;
}

const current = async (store: string) =>
  (
    await env.DB.prepare("SELECT model_version AS v FROM recs_current WHERE store = ?1")
      .bind(store)
      .first<{ v: string }>()
  )?.v;

describe("live recommendations from a store's own events", () => {
  it("answers item pages, newcomers and buyers within one cron run of the first purchases", async () => {
    const store = `live-${Date.now().toString(36)}`;
    expect((await admin(`/admin/stores/${store}`, "PUT", { name: "Live shop" })).status).toBe(201);
    const products = Array.from({ length: 30 }, (_, i) => ({ id: `C${i}`, title: `thing ${i}`, price: 1 + i }));
    expect((await admin(`/admin/stores/${store}/products`, "POST", { products })).status).toBe(200);
    // before any event: nothing to recommend from, an empty answer (not an error)
    expect((await recommend(`store=${store}&item=C1&k=5`)).items).toEqual([]);
    const events = Array.from({ length: 40 }, (_, u) =>
      (u % 2 ? ["C1", "C2", "C3"] : ["C10", "C11", "C12"]).map((productId) => ({
        type: "purchase",
        store,
        user: `u${u}`,
        productId,
        eventId: `${store}-${u}-${productId}`,
      })),
    ).flat();
    const posted = await SELF.fetch(`${BASE}/v1/events`, {
      method: "POST",
      headers: AUTH,
      body: JSON.stringify({ events }),
    });
    expect(posted.status).toBe(202);
    await cron();
    expect(await current(store)).toBe(`live-${events.length}`);

    const page = await recommend(`store=${store}&item=C1&k=5`);
    expect(page.models.data).toBe(`live-${events.length}`);
    const onPage = page.items.map((i) => i.id);
    expect(onPage).toEqual(expect.arrayContaining(["C2", "C3"]));
    expect(onPage).not.toContain("C1"); // never the page's own item
    expect(page.items.find((i) => i.id === "C2")!.sources).toContain("copurchase");
    const newcomer = await recommend(`store=${store}&user=someone-new&k=6`);
    expect(newcomer.items.map((i) => i.id).sort()).toEqual(["C1", "C10", "C11", "C12", "C2", "C3"]);
    const buyer = await recommend(`store=${store}&user=u1&k=6`);
    const own = buyer.items.filter((i) => ["C1", "C2", "C3"].includes(i.id));
    expect(own).toHaveLength(3);
    expect(own.every((i) => i.sources.includes("repeat"))).toBe(true);

    // an out-of-stock product leaves the answers at once
    expect((await admin(`/admin/stores/${store}/products/C2`, "PATCH", { available: false })).status).toBe(200);
    expect((await recommend(`store=${store}&item=C1&k=5`)).items.map((i) => i.id)).not.toContain("C2");

    // no new events: the next run leaves the tables as they are; a new event rebuilds them
    await cron();
    expect(await current(store)).toBe(`live-${events.length}`);
    await SELF.fetch(`${BASE}/v1/events`, {
      method: "POST",
      headers: AUTH,
      body: JSON.stringify({ events: [{ type: "purchase", store, user: "u99", productId: "C20" }] }),
    });
    await cron();
    expect(await current(store)).toBe(`live-${events.length + 1}`);
    const stats = await env.DB.prepare(
      "SELECT count(DISTINCT model_version) AS n FROM recs_item_stats WHERE store = ?1",
    )
      .bind(store)
      .first<{ n: number }>();
    expect(stats?.n).toBe(1); // the previous live version's rows are gone
  });

  it("co-view: items the same shoppers clicked recommend each other, before anyone bought them", async () => {
    const store = `views-${Date.now().toString(36)}`;
    expect((await admin(`/admin/stores/${store}`, "PUT", { name: "Window shop" })).status).toBe(201);
    const products = Array.from({ length: 12 }, (_, i) => ({ id: `V${i}`, title: `vase ${i}`, price: 5 }));
    expect((await admin(`/admin/stores/${store}/products`, "POST", { products })).status).toBe(200);
    const clicks = Array.from({ length: 20 }, (_, u) =>
      ["V1", "V2"].map((productId) => ({ type: "click", store, user: `w${u}`, productId })),
    ).flat();
    const buys = [{ type: "purchase", store, user: "b1", productId: "V9" }];
    const posted = await SELF.fetch(`${BASE}/v1/events`, {
      method: "POST",
      headers: AUTH,
      body: JSON.stringify({ events: [...clicks, ...buys] }),
    });
    expect(posted.status).toBe(202);
    await cron();
    const page = await recommend(`store=${store}&item=V1&k=3`);
    expect(page.items.map((i) => i.id)).toContain("V2");
    expect(page.items.find((i) => i.id === "V2")!.sources).toContain("copurchase");
    // a view is not a purchase: the viewers have no purchase history
    const viewer = await recommend(`store=${store}&user=w1&k=3`);
    expect(viewer.personalised).toBe(false);
  });

  it("leaves a store that serves a trained version alone", async () => {
    const store = `trained-${Date.now().toString(36)}`;
    expect((await admin(`/admin/stores/${store}`, "PUT", { name: "Trained shop" })).status).toBe(201);
    await env.DB.prepare("INSERT INTO recs_current (store, model_version) VALUES (?1, 'recs-light-trained')")
      .bind(store)
      .run();
    await SELF.fetch(`${BASE}/v1/events`, {
      method: "POST",
      headers: AUTH,
      body: JSON.stringify({ events: [{ type: "purchase", store, user: "u1", productId: "x" }] }),
    });
    await cron();
    expect(await current(store)).toBe("recs-light-trained");
  });

  it("past the pair-row bound, neighbours come from the store's newest rows; item statistics from every purchase", async () => {
    const store = `bounded-${Date.now().toString(36)}`;
    expect((await admin(`/admin/stores/${store}`, "PUT", { name: "Big shop" })).status).toBe(201);
    const today = Date.now() / 86_400_000;
    // 10 users bought A+B a year ago, 10 others C+D this week: 40 (user, item) rows
    const rows = Array.from({ length: 20 }, (_, u) =>
      (u < 10 ? ["A", "B"] : ["C", "D"]).map((item) => [`u${u}`, item, u < 10 ? today - 365 : today - 2 - u / 100]),
    ).flat();
    await env.DB.batch(
      rows.map(([user, item, day]) =>
        env.DB.prepare(
          "INSERT INTO recs_history (store, user_id, item_id, n, last_day, qty) VALUES (?1, ?2, ?3, 1, ?4, 1)",
        ).bind(store, user, item, day),
      ),
    );
    const neighbours = async (version: string) =>
      (
        await env.DB.prepare(
          "SELECT item_id || '>' || neighbour_id AS pair FROM recs_neighbours WHERE store = ?1 AND model_version = ?2 ORDER BY 1",
        )
          .bind(store, version)
          .all<{ pair: string }>()
      ).results.map((r) => r.pair);
    const popular = async (version: string) =>
      (
        await env.DB.prepare("SELECT item_id FROM recs_item_stats WHERE store = ?1 AND model_version = ?2 ORDER BY 1")
          .bind(store, version)
          .all<{ item_id: string }>()
      ).results.map((r) => r.item_id);
    const all = await buildLiveTables(env.DB, store, 40, Date.now(), 40);
    expect(await neighbours(all)).toEqual(["A>B", "B>A", "C>D", "D>C"]);
    const newest = await buildLiveTables(env.DB, store, 41, Date.now(), 20); // the newest 20 rows: this week's
    expect(await neighbours(newest)).toEqual(["C>D", "D>C"]);
    expect(await popular(newest)).toEqual(["A", "B", "C", "D"]);
  });
});
