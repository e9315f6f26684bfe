/**
 * One events payload → one D1 batch (a transaction), idempotent like a metrics flush (edge/metrics/flush.ts):
 *  1. the payload id goes into the flush ledger (metrics_flushes) first, so a replayed payload rolls back whole;
 *  2. event ids are recorded in `event_ids` (INSERT … ON CONFLICT DO NOTHING RETURNING), with the event's user (so an
 *     erasure finds them): an id already seen, in an earlier payload or request, is a repeat and counts nowhere;
 *  3. `recs_history` upserts for the purchase / add_to_cart events with a user that are not repeats:
 *     purchase → n + 1, qty + 1, last_day = max(last_day, event day);
 *     add_to_cart → a row with n = 0, qty = 0 and the event's day when the user has no row for that item yet
 *     (the item becomes a history candidate, no purchase is counted); nothing changes when the row exists.
 *  4. `recs_views` upserts for the click events with a user that are not repeats (n + 1, last_day = the later):
 *     the live co-view neighbours read them (edge/recs/live.ts), purchase history never does;
 *  5. each store's `event_count` grows by its events that are not repeats.
 * After the batch commits, the events that were not repeats are counted in the feedback rollups (countFeedback), each
 * under its store.
 */
import { countFeedback } from "../metrics/collector";
import type { FeedbackType } from "../metrics/aggregate";
import type { ApplyOutcome } from "../metrics/flush";

export interface StoredEvent {
  store: string;
  type: FeedbackType;
  productId: string;
  user?: string;
  eventId?: string;
  /** event time, epoch ms (the request's time when the client sent none) */
  tsMs: number;
  variant: string;
  model: string;
}

export interface EventsPayload {
  id: string;
  /** unix seconds: when the edge accepted it (orders the durable buffer) */
  createdAt: number;
  events: StoredEvent[];
}

const DAY_MS = 86_400_000;
/** rows per json_each statement (D1 caps a statement at 100 kB; an event row is at most ~600 bytes) */
const ROWS_PER_STATEMENT = 100;

/** A payload of the events; a repeated (store, eventId) inside it keeps the first occurrence only. */
export function eventsPayload(events: readonly StoredEvent[], nowMs: number, id = crypto.randomUUID()): EventsPayload {
  const seen = new Set<string>();
  const kept = events.filter((e) => {
    if (e.eventId === undefined) return true;
    const key = `${e.store}\u0000${e.eventId}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return { id: `events-${id}`, createdAt: Math.floor(nowMs / 1000), events: kept };
}

/** Whether an event enters the user's purchase history (and how: see the module comment). */
export function historyDelta(e: StoredEvent): { n: number; qty: number } | undefined {
  if (e.user === undefined) return undefined;
  if (e.type === "purchase") return { n: 1, qty: 1 };
  if (e.type === "add_to_cart") return { n: 0, qty: 0 };
  return undefined;
}

const LEDGER_SQL = "INSERT INTO metrics_flushes (id, applied_at, min_ts, max_ts) VALUES (?1, ?2, ?3, ?4)";

const EVENT_IDS_SQL = `INSERT INTO event_ids (store, event_id, seen_at, payload_id, user_id)
SELECT json_extract(j.value, '$.store'), json_extract(j.value, '$.eventId'), ?2, ?3, json_extract(j.value, '$.user')
FROM json_each(?1) AS j WHERE 1
ON CONFLICT (store, event_id) DO NOTHING
RETURNING store, event_id AS eventId`;

const HISTORY_SQL = `INSERT INTO recs_history (store, user_id, item_id, n, last_day, qty)
SELECT json_extract(j.value, '$.store'), json_extract(j.value, '$.user'), json_extract(j.value, '$.productId'),
       json_extract(j.value, '$.n'), json_extract(j.value, '$.day'), json_extract(j.value, '$.qty')
FROM json_each(?1) AS j
WHERE json_extract(j.value, '$.eventId') IS NULL
   OR EXISTS (SELECT 1 FROM event_ids e WHERE e.store = json_extract(j.value, '$.store')
              AND e.event_id = json_extract(j.value, '$.eventId') AND e.payload_id = ?2)
ON CONFLICT (store, user_id, item_id) DO UPDATE SET
  n = n + excluded.n,
  qty = qty + excluded.qty,
  last_day = CASE WHEN excluded.n > 0 THEN max(last_day, excluded.last_day) ELSE last_day END`;

/** Clicks with a user, not repeats (the same eventId rule as HISTORY_SQL). */
const VIEWS_SQL = `INSERT INTO recs_views (store, user_id, item_id, n, last_day)
SELECT json_extract(j.value, '$.store'), json_extract(j.value, '$.user'), json_extract(j.value, '$.productId'), 1,
       json_extract(j.value, '$.day')
FROM json_each(?1) AS j
WHERE json_extract(j.value, '$.eventId') IS NULL
   OR EXISTS (SELECT 1 FROM event_ids e WHERE e.store = json_extract(j.value, '$.store')
              AND e.event_id = json_extract(j.value, '$.eventId') AND e.payload_id = ?2)
ON CONFLICT (store, user_id, item_id) DO UPDATE SET n = n + 1, last_day = max(last_day, excluded.last_day)`;

/** Each store's count of accepted events (the ones without an eventId, and the ids this payload recorded first). */
const COUNT_SQL = `UPDATE stores SET event_count = event_count + (
  SELECT count(*) FROM json_each(?1) AS j
  WHERE json_extract(j.value, '$.store') = stores.id
    AND (json_extract(j.value, '$.eventId') IS NULL
         OR EXISTS (SELECT 1 FROM event_ids e WHERE e.store = stores.id
                    AND e.event_id = json_extract(j.value, '$.eventId') AND e.payload_id = ?2)))
WHERE id IN (SELECT json_extract(value, '$.store') FROM json_each(?1))`;

function chunks<T>(rows: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) out.push(rows.slice(i, i + ROWS_PER_STATEMENT));
  return out;
}

const key = (store: string, eventId: string): string => `${store}\u0000${eventId}`;

/**
 * The statements of one payload, ledger first; `idStatements` = how many event-id inserts follow the ledger.
 * `appliedAt` (unix s, when the batch runs) dates the ledger row and the event ids, so their retention counts from
 * the write — a payload that waited in the durable buffer (edge/events/buffer-object.ts) keeps its dedupe window.
 */
export function eventStatements(
  db: D1Database,
  p: EventsPayload,
  appliedAt: number = Math.floor(Date.now() / 1000),
): { statements: D1PreparedStatement[]; idStatements: number } {
  const times = p.events.map((e) => e.tsMs);
  const statements = [
    db
      .prepare(LEDGER_SQL)
      .bind(p.id, appliedAt, Math.floor(Math.min(...times) / 1000), Math.floor(Math.max(...times) / 1000)),
  ];
  const withIds = p.events
    .filter((e) => e.eventId !== undefined)
    .map((e) => ({ store: e.store, eventId: e.eventId, user: e.user ?? null }));
  const idChunks = chunks(withIds);
  for (const rows of idChunks) statements.push(db.prepare(EVENT_IDS_SQL).bind(JSON.stringify(rows), appliedAt, p.id));
  const history = p.events.flatMap((e) => {
    const d = historyDelta(e);
    if (!d) return [];
    return [
      { store: e.store, user: e.user, productId: e.productId, eventId: e.eventId ?? null, day: e.tsMs / DAY_MS, ...d },
    ];
  });
  for (const rows of chunks(history)) statements.push(db.prepare(HISTORY_SQL).bind(JSON.stringify(rows), p.id));
  const views = p.events.flatMap((e) =>
    e.type === "click" && e.user !== undefined
      ? [{ store: e.store, user: e.user, productId: e.productId, eventId: e.eventId ?? null, day: e.tsMs / DAY_MS }]
      : [],
  );
  for (const rows of chunks(views)) statements.push(db.prepare(VIEWS_SQL).bind(JSON.stringify(rows), p.id));
  const counted = p.events.map((e) => ({ store: e.store, eventId: e.eventId ?? null }));
  statements.push(db.prepare(COUNT_SQL).bind(JSON.stringify(counted), p.id));
  return { statements, idStatements: idChunks.length };
}

/** Applies one payload atomically; on success counts its non-repeated events in the feedback rollups. */
export async function applyEvents(
  d1: D1Database,
  p: EventsPayload,
): Promise<{ outcome: ApplyOutcome; error?: string }> {
  if (p.events.length === 0) return { outcome: "applied" };
  const { statements, idStatements } = eventStatements(d1, p);
  let results: D1Result[];
  try {
    results = await d1.batch(statements);
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    try {
      const seen = await d1.prepare("SELECT 1 FROM metrics_flushes WHERE id = ?").bind(p.id).first();
      if (seen) return { outcome: "duplicate", error };
    } catch {
      /* D1 unreachable: keep the payload */
    }
    return { outcome: "failed", error };
  }
  const fresh = new Set<string>();
  for (const r of results.slice(1, 1 + idStatements))
    for (const row of r.results as { store: string; eventId: string }[]) fresh.add(key(row.store, row.eventId));
  for (const e of p.events)
    if (e.eventId === undefined || fresh.has(key(e.store, e.eventId)))
      countFeedback(e.type, { variant: e.variant, model: e.model, store: e.store });
  return { outcome: "applied" };
}
