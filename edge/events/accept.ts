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
import { resolveStoreName } from "../stores/resolve";
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
  const names = [...new Set(events.map((e) => e.store))];
  const resolved = new Map(await Promise.all(names.map(async (n) => [n, await resolveStoreName(env, n)] as const)));
  const unknownStores = names.flatMap((n) => (resolved.get(n) === undefined ? [n ?? ""] : []));
  if (unknownStores.length > 0) return { ok: false, unknownStores };
  const now = Date.now();
  const stored: StoredEvent[] = events.map((e) => ({
    store: resolved.get(e.store)!,
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
