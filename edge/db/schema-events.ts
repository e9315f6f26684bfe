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
    /** the event's user (migration 0013; null: no user, or recorded before it) — what an erasure deletes by */
    userId: text("user_id"),
  },
  (t) => [
    primaryKey({ columns: [t.store, t.eventId] }),
    index("event_ids_by_seen_at").on(t.seenAt),
    index("event_ids_by_user").on(t.store, t.userId),
  ],
);

/**
 * DELETE /admin/stores/{store}/users/{user} (issue 24, edge/erasure/): one row per request — who asked (the actor
 * label), when (unix ms), and how many rows each place lost. Counts only: the user's id is never recorded.
 */
export const erasures = sqliteTable(
  "erasures",
  {
    id: text("id").primaryKey(),
    store: text("store").notNull(),
    actor: text("actor").notNull(),
    requestedAt: integer("requested_at").notNull(),
    /** recs_history rows (purchases, cart adds) */
    history: integer("history").notNull(),
    /** recs_views rows (clicks) */
    views: integer("views").notNull(),
    /** event_ids rows (dedupe ids) */
    eventIds: integer("event_ids").notNull(),
    /** recs_vectors rows of kind "user" (the user's MF vector, every model version) */
    vectors: integer("vectors").notNull(),
    /** events of the user still in the durable events buffer (edge/events/buffer-object.ts) */
    buffered: integer("buffered").notNull(),
  },
  (t) => [index("erasures_by_time").on(t.requestedAt)],
);
