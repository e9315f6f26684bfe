/**
 * Stores and the recommendation tables (issue 14). Every recs row is keyed by store; the rows the pipeline derives
 * from one `recs-light` version (its `tables.json`: item stats, co-purchase and content neighbours, MF vectors) are
 * keyed by that model version too, so a new version loads beside the served one and an A/B can read either.
 * User history is data, not a model output: keyed by store and user, updated by purchase events in real time.
 */
import {
  sqliteTable,
  text,
  integer,
  real,
  primaryKey,
  index,
  type SQLiteColumnBuilderBase,
} from "drizzle-orm/sqlite-core";

/** A storefront. `esci` (the search catalogue) is the default for requests that name none; `online-retail` ships too. */
export const stores = sqliteTable("stores", {
  id: text("id").primaryKey(),
  /** the store's name (the API's `name`) */
  title: text("title").notNull(),
  isDefault: integer("is_default").notNull().default(0),
  /** ISO 4217 code of the store's prices (the API's `currency`); null: not said */
  currency: text("currency"),
  /**
   * Bumped by every catalogue write (upsert that changed a row, patch, delete): it is part of the response cache
   * key of the store's answers, so a write is visible on the next request instead of after the cache TTL.
   */
  catalogVersion: integer("catalog_version").notNull().default(0),
  /** events accepted for the store by POST /v1/events (repeats of an eventId not counted) */
  eventCount: integer("event_count").notNull().default(0),
  /** unix ms */
  createdAt: integer("created_at").notNull().default(0),
  updatedAt: integer("updated_at").notNull().default(0),
});

/** A (store, user, item) counter: how many times and the last day (days since 1970-01-01), keyed by all three. */
function userItemTable<N extends string, C extends Record<string, SQLiteColumnBuilderBase>>(name: N, extra: C) {
  return sqliteTable(
    name,
    {
      store: text("store")
        .notNull()
        .references(() => stores.id),
      userId: text("user_id").notNull(),
      itemId: text("item_id").notNull(),
      n: integer("n").notNull(),
      lastDay: real("last_day").notNull(),
      ...extra,
    },
    (t) => [primaryKey({ columns: [t.store, t.userId, t.itemId] })],
  );
}

/** A user's purchases of one item: count of invoices, last purchase, total quantity. */
export const recsHistory = userItemTable("recs_history", { qty: integer("qty").notNull().default(0) });

/**
 * A user's views of one item: clicks with a user (POST /v1/events), count and last day. Only the live recommendation
 * tables read it (co-view neighbours, edge/recs/live.ts); it is not purchase history.
 */
export const recsViews = userItemTable("recs_views", {});

/** Per-item statistics of one recs-light version (popularity, trend, repeat rate, last price). */
export const recsItemStats = sqliteTable(
  "recs_item_stats",
  {
    store: text("store").notNull(),
    modelVersion: text("model_version").notNull(),
    itemId: text("item_id").notNull(),
    popAll: real("pop_all").notNull(),
    popRecent: real("pop_recent").notNull(),
    trend: real("trend").notNull(),
    repeatRate: real("repeat_rate").notNull(),
    price: real("price").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.store, t.modelVersion, t.itemId] }),
    // the store's trending top list, read in trend order without a scan of the version (migration 0018)
    index("recs_item_stats_by_trend").on(t.store, t.modelVersion, t.trend, t.itemId),
  ],
);

/** Precomputed top-N neighbours per item: `kind` = "copurchase" | "content", `rank` 0 = most similar. */
export const recsNeighbours = sqliteTable(
  "recs_neighbours",
  {
    store: text("store").notNull(),
    modelVersion: text("model_version").notNull(),
    kind: text("kind").notNull(),
    itemId: text("item_id").notNull(),
    rank: integer("rank").notNull(),
    neighbourId: text("neighbour_id").notNull(),
    score: real("score").notNull(),
  },
  (t) => [primaryKey({ columns: [t.store, t.modelVersion, t.kind, t.itemId, t.rank] })],
);

/** Matrix-factorisation vectors: `kind` = "user" | "item", `vector` a JSON array of floats. */
export const recsVectors = sqliteTable(
  "recs_vectors",
  {
    store: text("store").notNull(),
    modelVersion: text("model_version").notNull(),
    kind: text("kind").notNull(),
    key: text("key").notNull(),
    vector: text("vector").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.store, t.modelVersion, t.kind, t.key] }),
    index("recs_vectors_by_kind").on(t.store, t.modelVersion, t.kind),
  ],
);

/**
 * The MF source's precomputed top-N lists (issue 23, migration 0018): per user (`kind` "user", `key` the user id) and
 * per sold item (`kind` "item", `key` the item id) of a version, the N items with the largest MF dot product, best
 * first — `items` a JSON array of item ids, `scores` a JSON array of their float32 scores. The edge reads one row per
 * user / page / cart item instead of the whole item matrix (edge/recs/ann/d1-lists.ts).
 */
export const recsMfTop = sqliteTable(
  "recs_mf_top",
  {
    store: text("store").notNull(),
    modelVersion: text("model_version").notNull(),
    kind: text("kind").notNull(),
    key: text("key").notNull(),
    items: text("items").notNull(),
    scores: text("scores").notNull(),
  },
  (t) => [primaryKey({ columns: [t.store, t.modelVersion, t.kind, t.key] })],
);

/** The recs-light version whose rows the edge reads for a store (the pipeline's export sets it). */
export const recsCurrent = sqliteTable("recs_current", {
  store: text("store").primaryKey(),
  modelVersion: text("model_version").notNull(),
});
