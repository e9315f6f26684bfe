/**
 * The events' D1 access layer: one payload → D1 (edge/events/apply.ts) under a deadline. Both the write-through of
 * POST /v1/events (edge/events/writer.ts) and the durable buffer's drain (edge/events/buffer-object.ts) write through
 * an EventsSink, so a test can put a failing one in its place (D1 cannot be made to fail on demand in workerd).
 *
 * Past the deadline the payload counts as failed even though its batch may still commit: the payload then goes to
 * the buffer with the same id, and the ledger (metrics_flushes, written first in the same batch) makes whichever of
 * the two lands second a "duplicate" — never a double count.
 */
import type { ApplyOutcome } from "../metrics/flush";
import { applyEvents, type EventsPayload } from "./apply";

export interface SinkResult {
  outcome: ApplyOutcome;
  error?: string;
}

export interface EventsSink {
  apply(p: EventsPayload): Promise<SinkResult>;
}

/** `work`, or a rejection naming `what` once `ms` passed (the work itself is not cancelled). */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** D1 with a deadline: an error or a late answer is a "failed" outcome (never a throw). */
export function d1Sink(db: D1Database, deadlineMs: number): EventsSink {
  return {
    apply: (p) =>
      withDeadline(applyEvents(db, p), deadlineMs, "D1 events write").catch((err: unknown) => ({
        outcome: "failed" as const,
        error: err instanceof Error ? err.message : String(err),
      })),
  };
}
