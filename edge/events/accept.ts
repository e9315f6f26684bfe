/**
 * Accepting a request's events: each event's store resolved (none named → the default store), then one payload
 * (edge/events/apply.ts: dedupe by eventId, purchase / add_to_cart with a user → recs_history) written through to D1,
 * or — when D1 fails — held by the durable buffer (edge/events/writer.ts). Accepted only once one of them took it:
 * the answer says how many events were `buffered` and how many payloads the buffer still holds (`pending`). When the
 * stores cannot be resolved (D1 down and this isolate has no store set yet) or neither D1 nor the buffer took the
 * payload, nothing is accepted ("unavailable": 503). The metrics flush is scheduled after the write.
 */
import type { Bindings } from "../env";
import type { FeedbackType } from "../metrics/aggregate";
import { scheduleFlush } from "../metrics/collector";
import { resolveStoreName } from "../stores/resolve";
import { eventsPayload, type StoredEvent } from "./apply";
import { writeDeps, writeEvents, type WriteDeps } from "./writer";

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

export type AcceptResult =
  | { ok: true; buffered: number; pending: number }
  | { ok: false; unknownStores: string[] }
  | { ok: false; unavailable: string };

async function resolveAll(env: Bindings, names: (string | undefined)[]) {
  return new Map(await Promise.all(names.map(async (n) => [n, await resolveStoreName(env, n)] as const)));
}

export async function acceptEvents(
  env: Bindings,
  ctx: ExecutionContext,
  events: readonly IncomingEvent[],
  deps: WriteDeps = writeDeps(env),
): Promise<AcceptResult> {
  const names = [...new Set(events.map((e) => e.store))];
  let resolved: Awaited<ReturnType<typeof resolveAll>>;
  try {
    resolved = await resolveAll(env, names);
  } catch (err) {
    return { ok: false, unavailable: `stores cannot be resolved: ${err instanceof Error ? err.message : String(err)}` };
  }
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
  const payload = eventsPayload(stored, now);
  const out = await writeEvents(deps, payload);
  scheduleFlush(env, ctx);
  if (out.status === "unavailable") return { ok: false, unavailable: out.error };
  return { ok: true, buffered: out.status === "buffered" ? payload.events.length : 0, pending: out.pending };
}
