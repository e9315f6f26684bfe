/**
 * Request collection at the edge. `recordRequest` folds a sample into this isolate's aggregator (no I/O); at most
 * every FLUSH_INTERVAL_MS or FLUSH_MAX_SAMPLES samples it drains the aggregator into the bounded flush buffer and
 * writes the buffer to D1 inside ctx.waitUntil. Scheduled jobs and the admin read path call `flushNow` first so
 * that what this isolate holds is visible.
 */
import { d1BreakerState } from "../db/d1-breaker";
import type { Bindings } from "../env";
import { Aggregator, type FeedbackDims, type FeedbackType } from "./aggregate";
import { applyPayload, FlushBuffer, type FlushReport } from "./flush";
import type { RequestSample } from "./types";

export type { RequestSample } from "./types";

export const FLUSH_INTERVAL_MS = 10_000;
export const FLUSH_MAX_SAMPLES = 500;

const aggregator = new Aggregator();
const buffer = new FlushBuffer(50, applyPayload);
let lastFlushAt = 0;
let inFlight: Promise<FlushReport> | null = null;

function due(now: number): boolean {
  if (lastFlushAt === 0) lastFlushAt = now; // first sample of this isolate starts the interval
  return aggregator.pending >= FLUSH_MAX_SAMPLES || now - lastFlushAt >= FLUSH_INTERVAL_MS;
}

function maybeFlush(env: Bindings, ctx: ExecutionContext, now: number): void {
  // D1 known down (its breaker open, edge/db/d1-breaker.ts): the samples wait in the aggregator for the next flush
  if (inFlight || !due(now) || d1BreakerState(env) === "open") return;
  ctx.waitUntil(
    flushNow(env.DB).then(
      () => undefined,
      (err: unknown) => console.error("metrics flush", err),
    ),
  );
}

export function recordRequest(env: Bindings, ctx: ExecutionContext, sample: RequestSample): void {
  const now = Date.now();
  aggregator.addRequest(sample, now);
  maybeFlush(env, ctx, now);
}

/**
 * One feedback event (POST /v1/events), counted once when its events payload lands in D1 (edge/events/apply.ts:
 * after dedupe), under its variant, model and store. No I/O: it rides along with the next flush (the events route
 * calls `scheduleFlush` after it).
 */
export function countFeedback(type: FeedbackType, dims: FeedbackDims): void {
  aggregator.addFeedback(type, dims, Date.now());
}

/** Flushes in the background when the interval or the sample count says so (what every recorded sample does). */
export function scheduleFlush(env: Bindings, ctx: ExecutionContext): void {
  maybeFlush(env, ctx, Date.now());
}

/**
 * A counted event that is not a request (e.g. a GPU circuit-breaker transition). No I/O: it rides along with the
 * next flush that a request, the cron or the admin read path triggers.
 */
export function recordEvent(kind: string, name: string): void {
  aggregator.addEvent(kind, name, Date.now());
}

/** One learned round trip (ms) from a colo to a GPU region (real traffic); rides along with the next flush. */
export function recordRtt(colo: string, region: string, ms: number): void {
  aggregator.addRtt(colo, region, ms, Date.now());
}

/** Drains the aggregator and writes everything pending (single-flight per isolate). */
export function flushNow(db: D1Database): Promise<FlushReport> {
  if (inFlight) return inFlight.then(() => flushNow(db));
  const now = Date.now();
  lastFlushAt = now;
  const payload = aggregator.drain(now);
  if (payload) buffer.push(payload);
  inFlight = buffer.flush(db).finally(() => {
    inFlight = null;
  });
  return inFlight;
}

/** What this isolate still holds (for tests and the admin surface). */
export function collectorState(): { pendingSamples: number; pendingPayloads: number; dropped: number } {
  return { pendingSamples: aggregator.pending, pendingPayloads: buffer.pending.length, dropped: buffer.dropped };
}
