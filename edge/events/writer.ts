/**
 * The isolate's buffer of events payloads not yet in D1: the metrics flush mechanism (FlushBuffer: bounded FIFO,
 * idempotent payloads, retried in order on the next flush) with edge/events/apply.ts as the writer. POST /v1/events
 * writes its payload at once (the history a purchase changes is in D1 when the 202 leaves); a payload that fails
 * stays pending and is retried by the next events request and by the maintenance cron. Single-flight per isolate,
 * as the metrics collector is, so two requests never apply the head of the queue concurrently.
 */
import { FlushBuffer, type FlushReport } from "../metrics/flush";
import { applyEvents, type EventsPayload } from "./apply";

const buffer = new FlushBuffer<EventsPayload>(200, applyEvents, "events");
let inFlight: Promise<FlushReport> | null = null;

/** Writes everything pending (oldest first), then returns what is still pending. */
export function flushEvents(db: D1Database): Promise<FlushReport> {
  if (inFlight) return inFlight.then(() => flushEvents(db));
  inFlight = buffer.flush(db).finally(() => {
    inFlight = null;
  });
  return inFlight;
}

/** Queues a payload behind any pending one and writes the queue now. */
export function writeEvents(db: D1Database, p: EventsPayload): Promise<FlushReport> {
  buffer.push(p);
  return flushEvents(db);
}

/** What this isolate still holds (tests, admin). */
export function eventsState(): { pendingPayloads: number; dropped: number } {
  return { pendingPayloads: buffer.pending.length, dropped: buffer.dropped };
}
