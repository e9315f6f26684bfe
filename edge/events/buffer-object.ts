/**
 * The durable events buffer: a Durable Object with SQLite storage that holds the events payloads D1 could not take
 * (POST /v1/events hands it a payload only when the write-through failed, edge/events/writer.ts) and drains them to
 * D1 in order. Why a Durable Object and not a Queue: under `wrangler dev` a Queue's unconsumed messages are lost when
 * the process dies, while a Durable Object's storage and its alarm survive a kill -9 (measured, README "Events
 * durability"); in production both are durable, and the Durable Object keeps one mechanism for both.
 *
 *  - hold(payload): one row per payload id (holding the same payload again changes nothing); answered once the row is
 *    written — the 202 leaves only after this. An alarm drains it EVENTS_RETRY_FIRST_MS (250 ms) later.
 *  - drain(): the held payloads, oldest first, each through the events sink (edge/events/sink.ts: D1 with a deadline;
 *    dedupe by the payload ledger and eventId, so a payload applied twice counts once); applied or duplicate → the row
 *    goes. It stops after STOP_AFTER_FAILURES failures in a row (D1 is down) and retries by alarm, backing off from
 *    EVENTS_RETRY_FIRST_MS doubling to EVENTS_RETRY_MAX_MS; the next events request and the every-minute cron also
 *    drain it.
 *    A payload that failed DEAD_AFTER_ATTEMPTS times while D1 took others is moved to the dead letters (kept, counted
 *    in state(), never retried by itself).
 *  - forget(store, user): an erasure (edge/erasure/) removes that user's held events; it waits for a running drain.
 * One instance (named "events") serves the deployment: it only sees traffic while D1 fails.
 */
import { DurableObject } from "cloudflare:workers";
import { config } from "../config";
import type { Bindings } from "../env";
import { flushNow } from "../metrics/collector";
import type { EventsPayload } from "./apply";
import { d1Sink, type EventsSink } from "./sink";

const DRAIN_BATCH = 200;
const STOP_AFTER_FAILURES = 2;
export const DEAD_AFTER_ATTEMPTS = 10;

export interface DrainReport {
  applied: number;
  duplicates: number;
  failed: number;
  deadLettered: number;
  /** payloads still held after this drain */
  pending: number;
  lastError?: string;
}

export interface BufferState {
  pendingPayloads: number;
  pendingEvents: number;
  /** unix ms the oldest held payload was handed over; null when none is held */
  oldestHeldAt: number | null;
  deadLetters: number;
}

interface HeldRow extends Record<string, SqlStorageValue> {
  id: string;
  payload: string;
}

export class EventsBuffer extends DurableObject<Bindings> {
  /** drains and erasures run one at a time (a drain awaits D1 between its reads and deletes) */
  private queue: Promise<unknown> = Promise.resolve();
  private failedDrains = 0;

  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS held (
      id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, held_at INTEGER NOT NULL, events INTEGER NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0, payload TEXT NOT NULL)`);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS dead (
      id TEXT PRIMARY KEY, dead_at INTEGER NOT NULL, reason TEXT NOT NULL, payload TEXT NOT NULL)`);
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Keeps the payload durably (idempotent by payload id) and schedules its drain. */
  async hold(p: EventsPayload): Promise<BufferState> {
    this.ctx.storage.sql.exec(
      "INSERT INTO held (id, created_at, held_at, events, payload) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
      p.id,
      p.createdAt,
      Date.now(),
      p.events.length,
      JSON.stringify(p),
    );
    if ((await this.ctx.storage.getAlarm()) === null)
      await this.ctx.storage.setAlarm(Date.now() + config(this.env).events.retryFirstMs);
    return this.state();
  }

  /** Writes what is held to D1 now (the alarm, the cron and the events route call it). */
  drain(): Promise<DrainReport> {
    return this.drainWith(d1Sink(this.env.DB, config(this.env).events.d1DeadlineMs));
  }

  /** drain() through another sink (tests put a failing one here). */
  drainWith(sink: EventsSink): Promise<DrainReport> {
    return this.serial(() => this.drainOnce(sink));
  }

  override async alarm(): Promise<void> {
    await this.drain();
  }

  private async drainOnce(sink: EventsSink): Promise<DrainReport> {
    const sql = this.ctx.storage.sql;
    const report: DrainReport = { applied: 0, duplicates: 0, failed: 0, deadLettered: 0, pending: 0 };
    const rows = sql
      .exec<HeldRow>("SELECT id, payload FROM held ORDER BY created_at, id LIMIT ?", DRAIN_BATCH)
      .toArray();
    let inARow = 0;
    for (const row of rows) {
      const r = await sink.apply(JSON.parse(row.payload) as EventsPayload);
      if (r.outcome === "failed") {
        report.failed += 1;
        report.lastError = r.error;
        sql.exec("UPDATE held SET attempts = attempts + 1 WHERE id = ?", row.id);
        if (++inARow >= STOP_AFTER_FAILURES) break;
        continue;
      }
      inARow = 0;
      sql.exec("DELETE FROM held WHERE id = ?", row.id);
      if (r.outcome === "applied") report.applied += 1;
      else report.duplicates += 1;
    }
    if (report.applied + report.duplicates > 0) {
      // D1 took other payloads: one that keeps failing is poison, not an outage
      sql.exec(
        `INSERT INTO dead (id, dead_at, reason, payload) SELECT id, ?, ?, payload FROM held WHERE attempts >= ?
         ON CONFLICT (id) DO NOTHING`,
        Date.now(),
        report.lastError ?? "failed",
        DEAD_AFTER_ATTEMPTS,
      );
      report.deadLettered = sql
        .exec<{ n: number }>("SELECT count(*) AS n FROM held WHERE attempts >= ?", DEAD_AFTER_ATTEMPTS)
        .one().n;
      sql.exec("DELETE FROM held WHERE attempts >= ?", DEAD_AFTER_ATTEMPTS);
      // the feedback counts of what landed ride with this isolate's metrics flush (a lost minute of metrics is
      // not a lost purchase, so a failure here is only logged)
      await flushNow(this.env.DB).catch((err: unknown) => console.warn("events buffer: metrics flush", err));
    }
    report.pending = (await this.state()).pendingPayloads;
    await this.schedule(report);
    if (report.failed > 0) console.warn("events buffer: drain failed; will retry", report.lastError);
    return report;
  }

  /** The next alarm: none when empty, at once when a full batch went through, else the back-off after a failure. */
  private async schedule(report: DrainReport): Promise<void> {
    if (report.pending === 0) {
      this.failedDrains = 0;
      await this.ctx.storage.deleteAlarm();
      return;
    }
    this.failedDrains = report.failed > 0 ? this.failedDrains + 1 : 0;
    const { retryFirstMs, retryMaxMs } = config(this.env).events;
    const delay = report.failed > 0 ? Math.min(retryFirstMs * 2 ** (this.failedDrains - 1), retryMaxMs) : 0;
    await this.ctx.storage.setAlarm(Date.now() + delay);
  }

  /** Removes the held events (dead letters included) of `user` in `store`; returns how many it removed. */
  forget(store: string, user: string): Promise<number> {
    return this.serial(async () => {
      const sql = this.ctx.storage.sql;
      let removed = 0;
      for (const table of ["held", "dead"] as const) {
        for (const row of sql.exec<HeldRow>(`SELECT id, payload FROM ${table}`).toArray()) {
          const p = JSON.parse(row.payload) as EventsPayload;
          const kept = p.events.filter((e) => !(e.store === store && e.user === user));
          if (kept.length === p.events.length) continue;
          removed += p.events.length - kept.length;
          if (kept.length === 0) sql.exec(`DELETE FROM ${table} WHERE id = ?`, row.id);
          else sql.exec(`UPDATE ${table} SET payload = ? WHERE id = ?`, JSON.stringify({ ...p, events: kept }), row.id);
          if (table === "held") sql.exec("UPDATE held SET events = ? WHERE id = ?", kept.length, row.id);
        }
      }
      return removed;
    });
  }

  state(): BufferState {
    const sql = this.ctx.storage.sql;
    const held = sql
      .exec<{ n: number; events: number | null; oldest: number | null }>(
        "SELECT count(*) AS n, sum(events) AS events, min(held_at) AS oldest FROM held",
      )
      .one();
    const dead = sql.exec<{ n: number }>("SELECT count(*) AS n FROM dead").one();
    return {
      pendingPayloads: held.n,
      pendingEvents: held.events ?? 0,
      oldestHeldAt: held.oldest,
      deadLetters: dead.n,
    };
  }
}
