/**
 * Where an accepted events payload goes (POST /v1/events, edge/events/accept.ts): written through to D1 at once
 * (edge/events/sink.ts, under EVENTS_D1_DEADLINE_MS) — a purchase is in the user's history before the 202 leaves, as
 * the next /v1/recommend expects — and, only when that fails, handed to the durable buffer (the EventsBuffer Durable
 * Object, edge/events/buffer-object.ts, under EVENTS_BUFFER_DEADLINE_MS). The request is accepted only once one of the
 * two took the payload; if neither did it is "unavailable" (the route answers 503: nothing accepted is lost, nothing
 * unaccepted pretends). An isolate that handed the buffer a payload drains it after each later write that succeeds,
 * until it is empty; the buffer's own alarm and the every-minute cron drain it too.
 */
import { config } from "../config";
import type { Bindings } from "../env";
import type { EventsPayload } from "./apply";
import type { BufferState, DrainReport } from "./buffer-object";
import { d1Sink, withDeadline, type EventsSink } from "./sink";

/** What the writer needs of the durable buffer (the Durable Object's RPC stub). */
export interface DurableBuffer {
  hold(p: EventsPayload): Promise<BufferState>;
  drain(): Promise<DrainReport>;
}

export interface WriteDeps {
  sink: EventsSink;
  buffer: DurableBuffer;
  bufferDeadlineMs: number;
}

export type WriteResult =
  /** in D1; `pending` = payloads the durable buffer still holds, as far as this isolate knows */
  | { status: "written"; pending: number }
  /** D1 failed; the durable buffer holds the payload (and `pending` payloads in all) */
  | { status: "buffered"; pending: number; error: string }
  /** neither took it */
  | { status: "unavailable"; error: string };

/** The deployment's one buffer instance. */
export function eventsBuffer(env: Bindings): DurableObjectStub<import("./buffer-object").EventsBuffer> {
  return env.EVENTS_BUFFER.get(env.EVENTS_BUFFER.idFromName("events"));
}

export function writeDeps(env: Bindings): WriteDeps {
  const cfg = config(env).events;
  return { sink: d1Sink(env.DB, cfg.d1DeadlineMs), buffer: eventsBuffer(env), bufferDeadlineMs: cfg.bufferDeadlineMs };
}

/** this isolate handed the buffer a payload that it has not yet seen drained */
let bufferMayHold = false;

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export async function writeEvents(deps: WriteDeps, p: EventsPayload): Promise<WriteResult> {
  const direct = await deps.sink.apply(p);
  if (direct.outcome !== "failed")
    return { status: "written", pending: bufferMayHold ? await drainAfterWrite(deps) : 0 };
  try {
    const held = await withDeadline(deps.buffer.hold(p), deps.bufferDeadlineMs, "events buffer");
    bufferMayHold = true;
    return { status: "buffered", pending: held.pendingPayloads, error: direct.error ?? "D1 write failed" };
  } catch (err) {
    console.error("events: D1 and the durable buffer both failed", direct.error, message(err));
    return { status: "unavailable", error: message(err) };
  }
}

/** D1 took a write again: drain what this isolate buffered; returns what the buffer still holds (0 when it did not answer). */
async function drainAfterWrite(deps: WriteDeps): Promise<number> {
  try {
    const r = await withDeadline(deps.buffer.drain(), deps.bufferDeadlineMs, "events buffer drain");
    bufferMayHold = r.pending > 0;
    return r.pending;
  } catch (err) {
    console.warn("events: buffer drain after a write failed", message(err));
    return 0;
  }
}

/** The every-minute cron job: drain the buffer (whatever isolate filled it, one that died included). */
export async function drainEventsBuffer(env: Bindings): Promise<void> {
  const r = await eventsBuffer(env).drain();
  if (r.failed > 0 || r.deadLettered > 0) console.warn("events buffer drain", JSON.stringify(r));
}
