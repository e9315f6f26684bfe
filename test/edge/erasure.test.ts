/**
 * Erasure (issue 24): DELETE /admin/stores/{store}/users/{user} through the whole worker with the real local D1 and
 * the real EventsBuffer Durable Object. A user with trained history and MF vector, live purchases and clicks (with
 * eventIds) and events still held by the buffer (D1 failing through a test double at the events' D1 access layer)
 * is erased: every row goes and the answer and the audit give the counts per place (no user id in the audit); the
 * next /v1/recommend for the user is the cold-start answer (not personalised, the anonymous answer's items); the
 * buffer's drain brings nothing back; erasing again removes 0; an unknown store is a 404, no token a 401.
 */
import { createExecutionContext, env, runInDurableObject, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { Bindings } from "../../edge/env";
import type { ErasureRecord } from "../../edge/erasure/erase";
import { acceptEvents } from "../../edge/events/accept";
import type { EventsBuffer } from "../../edge/events/buffer-object";
import type { EventsSink } from "../../edge/events/sink";
import { eventsBuffer } from "../../edge/events/writer";
import { invalidateExperimentConfig } from "../../edge/experiments/config";
import fixture from "../fixtures/recs-features-parity.json";
import { loadRecsTables, type TablesJson } from "./recs-tables";

const BASE = "http://vitrine.test";
const STORE = "online-retail";
const VERSION = "recs-light-erasure";
const ADMIN = { authorization: "Bearer test-admin-token" };
const tables = (fixture as unknown as { tables: TablesJson }).tables;
/** a user with trained history and an MF vector in the fixture */
const USER = Object.keys(tables.history).find((u) => u in tables.user_vectors)!;
const items = Object.keys(tables.items);
const bindings = env as unknown as Bindings;
const downSink: EventsSink = { apply: () => Promise.resolve({ outcome: "failed", error: "D1 down (test double)" }) };

interface RecommendBody {
  mode: string;
  personalised: boolean;
  items: { id: string }[];
}

async function recommend(user?: string): Promise<{ cache: string | null; body: RecommendBody }> {
  const res = await SELF.fetch(`${BASE}/v1/recommend?store=${STORE}&k=5${user ? `&user=${user}` : ""}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return { cache: res.headers.get("x-vitrine-cache"), body: await res.json<RecommendBody>() };
}

const erase = (store: string, user: string, headers: Record<string, string> = ADMIN): Promise<Response> =>
  SELF.fetch(`${BASE}/admin/stores/${store}/users/${encodeURIComponent(user)}`, { method: "DELETE", headers });

async function rowsOf(user: string): Promise<Record<string, number>> {
  const count = (sql: string) =>
    env.DB.prepare(sql)
      .bind(STORE, user)
      .first<{ n: number }>()
      .then((r) => r?.n ?? 0);
  return {
    history: await count("SELECT count(*) AS n FROM recs_history WHERE store = ? AND user_id = ?"),
    views: await count("SELECT count(*) AS n FROM recs_views WHERE store = ? AND user_id = ?"),
    eventIds: await count("SELECT count(*) AS n FROM event_ids WHERE store = ? AND user_id = ?"),
    vectors: await count("SELECT count(*) AS n FROM recs_vectors WHERE store = ? AND kind = 'user' AND key = ?"),
  };
}

beforeAll(async () => {
  await loadRecsTables(env.DB, tables, STORE, VERSION);
  const stmt = env.DB.prepare("INSERT OR IGNORE INTO products (id, title, price, store) VALUES (?1, ?2, 1.5, ?3)");
  await env.DB.batch(items.map((id) => stmt.bind(id, `Retail item ${id}`, STORE)));
  invalidateExperimentConfig();
});

describe("DELETE /admin/stores/{store}/users/{user}", () => {
  it("removes history, views, event ids, vectors and buffered events; the next recommend is cold-start", async () => {
    const trained = (await rowsOf(USER)).history;
    expect(trained).toBeGreaterThan(0);
    const events = [
      { type: "purchase", store: STORE, user: USER, productId: items[0], eventId: "erase-p1" },
      { type: "click", store: STORE, user: USER, productId: items[1], eventId: "erase-c1" },
      { type: "purchase", store: STORE, user: "someone-else", productId: items[0], eventId: "erase-other" },
    ];
    const posted = await SELF.fetch(`${BASE}/v1/events`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ events }),
    });
    expect(posted.status).toBe(202);
    // two more of the user's events held by the durable buffer (D1 failing), beside another user's
    const held = await acceptEvents(
      bindings,
      createExecutionContext(),
      [
        { type: "purchase", store: STORE, user: USER, productId: items[2]! },
        { type: "click", store: STORE, user: USER, productId: items[2]! },
        { type: "purchase", store: STORE, user: "someone-else", productId: items[2]! },
      ],
      { sink: downSink, buffer: eventsBuffer(bindings), bufferDeadlineMs: 5_000 },
    );
    expect(held).toMatchObject({ ok: true, buffered: 3 });
    // held until the erasure: no alarm drains them here (EVENTS_RETRY_FIRST_MS in test/vitest.config.ts)
    const before = await rowsOf(USER);
    expect(before).toMatchObject({ views: 1, eventIds: 2, vectors: 1 });
    const personal = await recommend(USER);
    expect(personal.body.personalised).toBe(true);
    expect(personal.cache).toBe("BYPASS");

    const res = await erase(STORE, USER, { ...ADMIN, "x-vitrine-actor": "dpo@shop.example" });
    expect(res.status).toBe(200);
    const record = await res.json<ErasureRecord>();
    expect(record).toMatchObject({
      store: STORE,
      actor: "dpo@shop.example",
      removed: { history: before.history, views: 1, eventIds: 2, vectors: 1, buffered: 2 },
    });
    expect(await rowsOf(USER)).toEqual({ history: 0, views: 0, eventIds: 0, vectors: 0 });

    // the buffer kept the other user's event only; its drain brings nothing of the erased user back
    await runInDurableObject(eventsBuffer(bindings), (b: EventsBuffer) => b.drain());
    expect(await rowsOf(USER)).toEqual({ history: 0, views: 0, eventIds: 0, vectors: 0 });
    const other = await env.DB.prepare("SELECT sum(n) AS n FROM recs_history WHERE store = ? AND user_id = ?")
      .bind(STORE, "someone-else")
      .first<{ n: number }>();
    expect(other?.n).toBe(2);

    const after = await recommend(USER);
    const anonymous = await recommend();
    expect(after.body.personalised).toBe(false);
    expect(after.cache).not.toBe("BYPASS");
    expect(after.body.items.map((i) => i.id)).toEqual(anonymous.body.items.map((i) => i.id));
    expect(after.body.items.map((i) => i.id)).not.toEqual(personal.body.items.map((i) => i.id));
  });

  it("is recorded with counts only (GET /admin/erasures), and erasing again removes 0", async () => {
    const again = await erase(STORE, USER);
    expect(again.status).toBe(200);
    expect(await again.json<ErasureRecord>()).toMatchObject({
      actor: "admin-token",
      removed: { history: 0, views: 0, eventIds: 0, vectors: 0, buffered: 0 },
    });
    const list = await SELF.fetch(`${BASE}/admin/erasures?store=${STORE}`, { headers: ADMIN });
    expect(list.status).toBe(200);
    const body = await list.json<{ erasures: ErasureRecord[] }>();
    expect(body.erasures.map((e) => e.actor)).toEqual(["admin-token", "dpo@shop.example"]);
    expect(JSON.stringify(body)).not.toContain(USER); // the user's id is recorded nowhere
    const { results } = await env.DB.prepare("SELECT * FROM erasures").all();
    expect(JSON.stringify(results)).not.toContain(USER);
  });

  it("answers 404 for an unknown store, 401 without the token, 400 for a bad actor label", async () => {
    const unknown = await erase("no-such-store", USER);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: "unknown_store" });
    expect((await erase(STORE, USER, {})).status).toBe(401);
    const bad = await erase(STORE, USER, { ...ADMIN, "x-vitrine-actor": "x".repeat(65) });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: "invalid_request" });
  });
});
