/**
 * Writing aggregates to D1. One payload = one D1 `batch()` (a transaction): the payload's id goes into
 * metrics_flushes first, then additive upserts keyed by (res, ts, dimensions). Replaying a payload that already
 * landed fails on the flush-id primary key and rolls back whole, so retries never double count; a payload whose
 * batch failed for any other reason stays in a bounded buffer and is retried on a later flush.
 */
import { drizzle } from "drizzle-orm/d1";
import { eq } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import {
  metricsDegraded,
  metricsEvents,
  metricsFeedback,
  metricsFlushes,
  metricsGeo,
  metricsGeoGpu,
  metricsLatency,
  metricsRequests,
  metricsScores,
} from "../db/schema-metrics";
import { MINUTE, type FlushPayload } from "./aggregate";
import { ROLLUPS, additiveUpsert } from "./rollups";

/** D1 allows at most 100 bound parameters per statement. */
const MAX_PARAMS = 100;

function chunk<T>(rows: T[], columnsPerRow: number): T[][] {
  const size = Math.max(1, Math.floor(MAX_PARAMS / columnsPerRow));
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

/** The statements of one payload, flush id first. `res` lets compaction reuse them (hour rows). */
export function payloadStatements(
  db: ReturnType<typeof drizzle>,
  p: FlushPayload,
  res: number = MINUTE,
): BatchItem<"sqlite">[] {
  const R = ROLLUPS;
  const items: BatchItem<"sqlite">[] = [
    db.insert(metricsFlushes).values({ id: p.id, appliedAt: p.createdAt, minTs: p.minTs, maxTs: p.maxTs }),
  ];
  for (const rows of chunk(p.requests, R.requests.width))
    items.push(
      db
        .insert(metricsRequests)
        .values(rows.map((r) => ({ ...r, res })))
        .onConflictDoUpdate(additiveUpsert(R.requests)),
    );
  for (const rows of chunk(p.latency, R.latency.width))
    items.push(
      db
        .insert(metricsLatency)
        .values(rows.map((r) => ({ ...r, res })))
        .onConflictDoUpdate(additiveUpsert(R.latency)),
    );
  for (const rows of chunk(p.degraded, R.degraded.width))
    items.push(
      db
        .insert(metricsDegraded)
        .values(rows.map((r) => ({ ...r, res })))
        .onConflictDoUpdate(additiveUpsert(R.degraded)),
    );
  for (const rows of chunk(p.events ?? [], R.events.width))
    items.push(
      db
        .insert(metricsEvents)
        .values(rows.map((r) => ({ ...r, res })))
        .onConflictDoUpdate(additiveUpsert(R.events)),
    );
  for (const rows of chunk(p.geo ?? [], R.geo.width))
    items.push(
      db
        .insert(metricsGeo)
        .values(rows.map((r) => ({ ...r, res })))
        .onConflictDoUpdate(additiveUpsert(R.geo)),
    );
  for (const rows of chunk(p.geoGpu ?? [], R.geoGpu.width))
    items.push(
      db
        .insert(metricsGeoGpu)
        .values(rows.map((r) => ({ ...r, res })))
        .onConflictDoUpdate(additiveUpsert(R.geoGpu)),
    );
  for (const rows of chunk(p.scores, R.scores.width))
    items.push(
      db
        .insert(metricsScores)
        .values(rows.map((r) => ({ ...r, res })))
        .onConflictDoUpdate(additiveUpsert(R.scores)),
    );
  for (const rows of chunk(p.feedback, R.feedback.width))
    items.push(
      db
        .insert(metricsFeedback)
        .values(rows.map((r) => ({ ...r, res })))
        .onConflictDoUpdate(additiveUpsert(R.feedback)),
    );
  return items;
}

export type ApplyOutcome = "applied" | "duplicate" | "failed";

/** Applies one payload atomically. "duplicate" = its id was already recorded (nothing changed). */
export async function applyPayload(
  d1: D1Database,
  p: FlushPayload,
): Promise<{ outcome: ApplyOutcome; error?: string }> {
  const db = drizzle(d1);
  const [first, ...rest] = payloadStatements(db, p);
  if (!first) return { outcome: "applied" };
  try {
    await db.batch([first, ...rest]);
    return { outcome: "applied" };
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    try {
      const seen = await db
        .select({ id: metricsFlushes.id })
        .from(metricsFlushes)
        .where(eq(metricsFlushes.id, p.id))
        .limit(1);
      if (seen.length > 0) return { outcome: "duplicate", error };
    } catch {
      /* D1 unreachable: keep the payload */
    }
    return { outcome: "failed", error };
  }
}

export interface FlushReport {
  applied: number;
  duplicates: number;
  failed: number;
  dropped: number;
  pending: number;
  lastError?: string;
}

/** Writes one payload to D1 atomically and idempotently (a replayed payload id is a "duplicate"). */
export type ApplyFn<P> = (d1: D1Database, p: P) => Promise<{ outcome: ApplyOutcome; error?: string }>;

/**
 * Bounded FIFO of payloads not yet in D1. On overflow the oldest is dropped (and counted). One mechanism for every
 * write the edge must not lose: request metrics (applyPayload) and feedback events (edge/events/apply.ts).
 */
export class FlushBuffer<P extends { id: string } = FlushPayload> {
  readonly pending: P[] = [];
  dropped = 0;
  constructor(
    readonly capacity: number,
    private readonly apply: ApplyFn<P>,
    private readonly label: string = "metrics",
  ) {}

  push(p: P): void {
    this.pending.push(p);
    while (this.pending.length > this.capacity) {
      this.pending.shift();
      this.dropped += 1;
    }
  }

  /** Tries every pending payload in order; stops at the first failure (D1 is likely down) and keeps the rest. */
  async flush(d1: D1Database): Promise<FlushReport> {
    const report: FlushReport = { applied: 0, duplicates: 0, failed: 0, dropped: this.dropped, pending: 0 };
    while (this.pending.length > 0) {
      const p = this.pending[0]!;
      const r = await this.apply(d1, p);
      if (r.outcome === "failed") {
        report.failed += 1;
        report.lastError = r.error;
        console.warn(`${this.label} flush failed; will retry`, p.id, r.error);
        break;
      }
      this.pending.shift();
      if (r.outcome === "applied") report.applied += 1;
      else report.duplicates += 1;
    }
    report.pending = this.pending.length;
    return report;
  }
}
