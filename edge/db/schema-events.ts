/**
 * POST /v1/events dedupe (issue 14): an event sent with an `eventId` is recorded here once per store, in the same
 * D1 batch that applies it (edge/events/apply.ts). A repeated id is ignored (INSERT … ON CONFLICT DO NOTHING), so
 * the event is counted once in the feedback rollups and in `recs_history`. Rows older than EVENT_ID_RETENTION_H
 * are swept by the maintenance cron.
 */
import { sqliteTable, text, integer, primaryKey, index } from "drizzle-orm/sqlite-core";

export const eventIds = sqliteTable(
  "event_ids",
  {
    store: text("store").notNull(),
    eventId: text("event_id").notNull(),
    /** unix seconds when the event was first applied */
    seenAt: integer("seen_at").notNull(),
    /** the events payload (edge/events/apply.ts) that recorded it */
    payloadId: text("payload_id").notNull(),
  },
  (t) => [primaryKey({ columns: [t.store, t.eventId] }), index("event_ids_by_seen_at").on(t.seenAt)],
);
