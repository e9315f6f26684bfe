/**
 * Accepting a request's events: each event's store resolved (none named → the default store), then one payload
 * written to D1 at once (edge/events/apply.ts: dedupe by eventId, purchase / add_to_cart with a user →
 * recs_history) through the metrics flush mechanism (edge/events/writer.ts): if D1 fails the payload stays queued
 * in the isolate and is retried, and the answer says how many payloads are `pending`. The metrics flush is scheduled
 * after the write.
 */
import type { Bindings } from "../env";
import type { FeedbackType } from "../metrics/aggregate";
import { scheduleFlush } from "../metrics/collector";
import { resolveStore, storeSet } from "../stores/resolve";
import { eventsPayload, type StoredEvent } from "./apply";
import { writeEvents } from "./writer";

/** An event as the API parsed it. */
export interface IncomingEvent {
  type: FeedbackType;
  productId: string;
  store?: string | undefined;
  user?: string | undefined;
  eventId?: string | undefined;
  ts?: number | undefined;
  variant?: string | undefined;
  model?: string | undefined;
}

export type AcceptResult = { ok: true; pending: number } | { ok: false; unknownStores: string[] };

export async function acceptEvents(
  env: Bindings,
  ctx: ExecutionContext,
  events: readonly IncomingEvent[],
): Promise<AcceptResult> {
  const stores = await storeSet(env);
  const unknownStores = events.flatMap((e) => (resolveStore(stores, e.store) === undefined ? [e.store ?? ""] : []));
  if (unknownStores.length > 0) return { ok: false, unknownStores };
  const now = Date.now();
  const stored: StoredEvent[] = events.map((e) => ({
    store: resolveStore(stores, e.store)!,
    type: e.type,
    productId: e.productId,
    ...(e.user !== undefined ? { user: e.user } : {}),
    ...(e.eventId !== undefined ? { eventId: e.eventId } : {}),
    tsMs: e.ts ?? now,
    variant: e.variant ?? "unknown",
    model: e.model ?? "unknown",
  }));
  const report = await writeEvents(env.DB, eventsPayload(stored, now));
  scheduleFlush(env, ctx);
  return { ok: true, pending: report.pending };
}
