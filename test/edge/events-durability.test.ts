/**
 * Accepted means durable (issue 24), in workerd with the real local D1 and the real EventsBuffer Durable Object.
 * D1 cannot be made to fail on demand here, so the fault is a test double at our own D1 access layer (EventsSink,
 * edge/events/sink.ts): acceptEvents with a failing sink hands the payload to the buffer and accepts it only once the
 * buffer holds it; with the buffer failing too, nothing is accepted. The buffer drains exactly once — a payload
 * applied by a late write-through and again by the buffer, held twice, or drained twice counts once, with or without
 * eventIds — and a payload that keeps failing while D1 takes others goes to the dead letters. The real fault (the
 * D1 file locked, wrangler dev killed) is test/integration/events-durability.test.mjs.
 */
import { createExecutionContext, env, runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import type { Bindings } from "../../edge/env";
import { acceptEvents, type IncomingEvent } from "../../edge/events/accept";
import { eventsPayload, type EventsPayload } from "../../edge/events/apply";
import { eventsBufferConditions } from "../../edge/events/buffer-alert";
import { DEAD_AFTER_ATTEMPTS, type EventsBuffer } from "../../edge/events/buffer-object";
import { config } from "../../edge/config";
import { evaluateAlerts } from "../../edge/metrics/alerts";
import { d1Sink, type EventsSink } from "../../edge/events/sink";
import { eventsBuffer, type WriteDeps } from "../../edge/events/writer";

const STORE = "online-retail";
const bindings = env as unknown as Bindings;

/** D1 failing as an outage would (the test double at the events' D1 access layer). */
const downSink: EventsSink = { apply: () => Promise.resolve({ outcome: "failed", error: "D1 down (test double)" }) };

const stub = (): DurableObjectStub<EventsBuffer> => eventsBuffer(bindings);
const inBuffer = <T>(fn: (b: EventsBuffer) => Promise<T> | T): Promise<T> =>
  runInDurableObject(stub(), (instance: EventsBuffer) => fn(instance));

function deps(sink: EventsSink, buffer: WriteDeps["buffer"] = stub()): WriteDeps {
  return { sink, buffer, bufferDeadlineMs: 5_000 };
}

const purchase = (user: string, productId: string, eventId?: string): IncomingEvent => ({
  type: "purchase",
  store: STORE,
  user,
  productId,
  ...(eventId ? { eventId } : {}),
});

async function historyOf(user: string): Promise<{ item_id: string; n: number }[]> {
  const { results } = await env.DB.prepare(
    "SELECT item_id, n FROM recs_history WHERE store = ? AND user_id = ? ORDER BY item_id",
  )
    .bind(STORE, user)
    .all<{ item_id: string; n: number }>();
  return results;
}

function payloadOf(events: IncomingEvent[]): EventsPayload {
  const now = Date.now();
  return eventsPayload(
    events.map((e) => ({
      store: e.store!,
      type: e.type,
      productId: e.productId,
      ...(e.user ? { user: e.user } : {}),
      ...(e.eventId ? { eventId: e.eventId } : {}),
      tsMs: now,
      variant: "durability",
      model: "durability",
    })),
    now,
  );
}

beforeEach(async () => {
  // every test starts with an empty buffer (the previous test's leftovers drained to D1)
  await inBuffer((b) => b.drain());
  expect((await inBuffer((b) => b.state())).pendingPayloads).toBe(0);
});

describe("POST /v1/events when D1 fails", () => {
  it("is accepted only once the durable buffer holds the events, which reach D1 exactly once on drain", async () => {
    const ctx = createExecutionContext();
    const out = await acceptEvents(
      bindings,
      ctx,
      [purchase("dur-1", "22384"), purchase("dur-1", "22386")],
      deps(downSink),
    );
    expect(out).toEqual({ ok: true, buffered: 2, pending: 1 });
    expect(await historyOf("dur-1")).toEqual([]); // not in D1 yet: held
    expect(await inBuffer((b) => b.state())).toMatchObject({ pendingPayloads: 1, pendingEvents: 2 });
    const admin = await SELF.fetch("http://vitrine.test/admin/events/buffer", {
      headers: { authorization: "Bearer test-admin-token" },
    });
    expect(admin.status).toBe(200);
    expect(await admin.json()).toMatchObject({ pendingPayloads: 1, pendingEvents: 2, deadLetters: 0 });
    expect((await SELF.fetch("http://vitrine.test/admin/events/buffer")).status).toBe(401);

    const report = await inBuffer((b) => b.drain());
    expect(report).toMatchObject({ applied: 1, failed: 0, pending: 0 });
    expect(await historyOf("dur-1")).toEqual([
      { item_id: "22384", n: 1 },
      { item_id: "22386", n: 1 },
    ]);
    expect(await inBuffer((b) => b.drain())).toMatchObject({ applied: 0, duplicates: 0, pending: 0 });
    expect(await historyOf("dur-1")).toHaveLength(2);
  });

  it("is not accepted when the buffer fails too (the route answers 503), and nothing is written", async () => {
    const broken: WriteDeps["buffer"] = {
      hold: () => Promise.reject(new Error("buffer down (test double)")),
      drain: () => Promise.reject(new Error("buffer down (test double)")),
    };
    const out = await acceptEvents(
      bindings,
      createExecutionContext(),
      [purchase("dur-2", "22384")],
      deps(downSink, broken),
    );
    expect(out).toMatchObject({ ok: false, unavailable: expect.stringContaining("buffer down") });
    expect(await inBuffer((b) => b.state())).toMatchObject({ pendingPayloads: 0 });
    expect(await historyOf("dur-2")).toEqual([]);
  });

  it("a buffer that cannot reach D1 keeps the payload and retries by alarm with back-off", async () => {
    await acceptEvents(bindings, createExecutionContext(), [purchase("dur-3", "22384")], deps(downSink));
    const failed = await inBuffer((b) => b.drainWith(downSink));
    expect(failed).toMatchObject({ applied: 0, failed: 1, pending: 1, lastError: "D1 down (test double)" });
    const alarm = await runInDurableObject(stub(), (_: EventsBuffer, state: DurableObjectState) =>
      state.storage.getAlarm(),
    );
    expect(alarm).not.toBeNull();
    // the alarm drains through the real D1
    expect(await runDurableObjectAlarm(stub())).toBe(true);
    expect(await historyOf("dur-3")).toEqual([{ item_id: "22384", n: 1 }]);
    expect(await inBuffer((b) => b.state())).toMatchObject({ pendingPayloads: 0 });
  });
});

describe("exactly once under redelivery", () => {
  it("a payload without eventIds applied by a late write-through and again by the buffer counts once", async () => {
    const p = payloadOf([purchase("dur-4", "22384"), purchase("dur-4", "22384")]);
    // the write-through committed after its deadline: D1 has it, and the buffer was handed it too
    expect(await d1Sink(env.DB, 5_000).apply(p)).toEqual({ outcome: "applied" });
    await stub().hold(p);
    await stub().hold(p); // held twice: one row
    expect(await inBuffer((b) => b.state())).toMatchObject({ pendingPayloads: 1 });
    expect(await inBuffer((b) => b.drain())).toMatchObject({ applied: 0, duplicates: 1, pending: 0 });
    expect(await historyOf("dur-4")).toEqual([{ item_id: "22384", n: 2 }]);
  });

  it("the same eventIds in another payload (a client retry of a buffered request) count once", async () => {
    await acceptEvents(bindings, createExecutionContext(), [purchase("dur-5", "22384", "dur-5-a")], deps(downSink));
    await acceptEvents(bindings, createExecutionContext(), [purchase("dur-5", "22384", "dur-5-a")], deps(downSink));
    expect(await inBuffer((b) => b.drain())).toMatchObject({ applied: 2, pending: 0 });
    expect(await historyOf("dur-5")).toEqual([{ item_id: "22384", n: 1 }]);
  });

  it("a payload that keeps failing while D1 takes others goes to the dead letters, the others land", async () => {
    const poison = payloadOf([purchase("dur-6", "22384")]);
    const good = payloadOf([purchase("dur-6", "22386")]);
    await stub().hold(poison);
    const real = d1Sink(env.DB, 5_000);
    const rejectsPoison: EventsSink = {
      apply: (p) => (p.id === poison.id ? Promise.resolve({ outcome: "failed", error: "poison" }) : real.apply(p)),
    };
    for (let i = 0; i < DEAD_AFTER_ATTEMPTS - 1; i++) await inBuffer((b) => b.drainWith(rejectsPoison));
    expect(await inBuffer((b) => b.state())).toMatchObject({ pendingPayloads: 1, deadLetters: 0 });
    await stub().hold(good);
    const report = await inBuffer((b) => b.drainWith(rejectsPoison));
    expect(report).toMatchObject({ applied: 1, failed: 1, deadLettered: 1, pending: 0 });
    expect(await inBuffer((b) => b.state())).toMatchObject({ pendingPayloads: 0, deadLetters: 1 });
    expect(await historyOf("dur-6")).toEqual([{ item_id: "22386", n: 1 }]);

    // the next evaluation round fires events_dead_letters (a ticket); a round the buffer did not answer keeps it open
    const alertState = async () =>
      await env.DB.prepare("SELECT state, severity, value FROM alerts WHERE id = 'events:dead_letters'").first();
    const now = Math.floor(Date.now() / 1000);
    const cfg = config(bindings);
    const state = await inBuffer((b) => b.state());
    await evaluateAlerts(env.DB, cfg.metrics, now, eventsBufferConditions(state, cfg.events.backlogAlertS, Date.now()));
    expect(await alertState()).toEqual({ state: "firing", severity: "ticket", value: 1 });
    await evaluateAlerts(env.DB, cfg.metrics, now + 60, []);
    expect(await alertState()).toMatchObject({ state: "firing" });
  });

  it("events_buffer_backlog pages once the oldest held payload is older than EVENTS_BACKLOG_ALERT_S", () => {
    const held = { pendingPayloads: 2, pendingEvents: 3, oldestHeldAt: 1_000_000, deadLetters: 0 };
    const active = (state: typeof held | { oldestHeldAt: null }, nowMs: number) =>
      Object.fromEntries(eventsBufferConditions({ ...held, ...state }, 600, nowMs).map((c) => [c.rule, c.active]));
    expect(active(held, 1_000_000 + 599_000)).toEqual({ events_dead_letters: false, events_buffer_backlog: false });
    expect(active(held, 1_000_000 + 601_000)).toEqual({ events_dead_letters: false, events_buffer_backlog: true });
    expect(active({ oldestHeldAt: null }, 1_000_000 + 601_000)).toEqual({
      events_dead_letters: false,
      events_buffer_backlog: false,
    });
    expect(eventsBufferConditions(held, 600, 1_000_000 + 601_000).find((c) => c.active)?.severity).toBe("page");
  });
});
