/**
 * Monitoring tables (issue: monitoring platform).
 *
 * Rollups live at two resolutions in the same tables: `res` = 60 (minute rows, kept METRICS_MINUTE_RETENTION_H)
 * and `res` = 3600 (hour rows compacted from minutes, kept METRICS_HOUR_RETENTION_D). `ts` is the unix second at
 * which the minute/hour starts. Every write is an additive upsert keyed by (res, ts, dimensions); the id of the
 * flush that carried it is inserted in the same D1 batch (a transaction), so a retried flush is rejected whole.
 */
import {
  index,
  integer,
  primaryKey,
  real,
  sqliteTable,
  text,
  type SQLiteColumn,
  type SQLiteColumnBuilderBase,
} from "drizzle-orm/sqlite-core";

/**
 * Which traffic a rollup row counts: `live` (real requests) or `drill` (failover-drill probes, edge/drills). Drill
 * probes are kept in their own series so the SLO burn-rate, anomaly and drift rules read live traffic only — a drill
 * never pages — while the drill reports and `/admin/metrics?traffic=drill` still see them.
 */
export const TRAFFIC = ["live", "drill"] as const;
export type Traffic = (typeof TRAFFIC)[number];
const traffic = () => text("traffic", { enum: TRAFFIC }).notNull().default("live");

/**
 * The store (stores.id) a rollup row's requests, scores or feedback events were for (issue 14): search, rerank and
 * recommend count under the store they resolved, events under their (resolved) `store`, every other request under the
 * default store. Rows written before the store dimension (migration 0010 for requests, latency and degraded reasons,
 * 0011 for scores and feedback) are the ESCI catalogue's, the default store's, as products' rows were (migration 0007).
 */
const store = () => text("store").notNull().default("esci");

type Columns = Record<string, SQLiteColumnBuilderBase>;

/**
 * A rollup table: `res` and `ts`, then its dimensions — which with them form the primary key, in this order — then
 * its additive counters (edge/metrics/rollups.ts reads the tables back as data). Column builders are made per table.
 */
function rollupTable<N extends string, D extends Columns, C extends Columns>(
  name: N,
  dims: D,
  counters: C,
  { byTime = false } = {},
) {
  return sqliteTable(
    name,
    { res: integer("res").notNull(), ts: integer("ts").notNull(), ...dims, ...counters },
    (t) => {
      const col = (k: string) => (t as unknown as Record<string, SQLiteColumn>)[k]!;
      const key = ["res", "ts", ...Object.keys(dims)].map(col) as [SQLiteColumn, ...SQLiteColumn[]];
      return [primaryKey({ columns: key }), ...(byTime ? [index(`${name}_by_time`).on(col("res"), col("ts"))] : [])];
    },
  );
}

/** The dimensions of a request series (metrics_requests, and metrics_latency before its stage and bucket). */
const requestDims = () => ({
  route: text("route").notNull(),
  variant: text("variant").notNull(),
  lightModel: text("light_model").notNull(),
  heavyModel: text("heavy_model").notNull(),
  colo: text("colo").notNull(),
  traffic: traffic(),
  store: store(),
});

const count = () => ({ count: integer("count").notNull().default(0) });

/**
 * The counters of metrics_requests. Every rollup column that is not part of a table's primary key is an additive
 * counter: the aggregator's zero value, the flush upsert's SET clause, compaction's and the queries' sums are all
 * built from the tables (edge/metrics/rollups.ts), so a new counter is one column here (plus its migration and the
 * place that counts it).
 */
const requestCounters = {
  requests: integer("requests").notNull().default(0),
  status2xx: integer("status_2xx").notNull().default(0),
  status3xx: integer("status_3xx").notNull().default(0),
  status4xx: integer("status_4xx").notNull().default(0),
  status5xx: integer("status_5xx").notNull().default(0),
  /** requests answered with a degraded reason (e.g. GPU timeout → light-model order) */
  degraded: integer("degraded").notNull().default(0),
  /** non-degraded 2xx: the availability SLI's good events */
  good: integer("good").notNull().default(0),
  cacheHit: integer("cache_hit").notNull().default(0),
  cacheMiss: integer("cache_miss").notNull().default(0),
  cacheBypass: integer("cache_bypass").notNull().default(0),
  drill: integer("drill").notNull().default(0),
  latencySumMs: real("latency_sum_ms").notNull().default(0),
  gpuCalls: integer("gpu_calls").notNull().default(0),
};
export type RequestCounter = keyof typeof requestCounters;
export const REQUEST_COUNTERS = Object.keys(requestCounters) as RequestCounter[];

/** Request counters per (resolution, time, route, variant, models, colo, traffic, store). */
export const metricsRequests = rollupTable("metrics_requests", requestDims(), requestCounters, { byTime: true });

/** Log-bucketed latency histograms (DDSketch keys) per stage, same dimensions as metrics_requests. */
export const metricsLatency = rollupTable(
  "metrics_latency",
  { ...requestDims(), stage: text("stage").notNull(), bucket: integer("bucket").notNull() },
  count(),
  { byTime: true },
);

/** Degraded responses per reason (per store too, so `/admin/metrics?store=` filters the reasons it lists). */
export const metricsDegraded = rollupTable(
  "metrics_degraded",
  { variant: text("variant").notNull(), reason: text("reason").notNull(), traffic: traffic(), store: store() },
  count(),
);

/** Counted events that are not requests, e.g. GPU circuit-breaker transitions (kind "breaker", name
 * "<endpoint> <from>→<to>"). */
export const metricsEvents = rollupTable(
  "metrics_events",
  { kind: text("kind").notNull(), name: text("name").notNull() },
  count(),
);

/** Score histograms (signed DDSketch keys) of the light and heavy models per model version and store. */
export const metricsScores = rollupTable(
  "metrics_scores",
  {
    kind: text("kind").notNull(),
    model: text("model").notNull(),
    traffic: traffic(),
    store: store(),
    bucket: integer("bucket").notNull(),
  },
  count(),
  { byTime: true },
);

/** The counters of metrics_feedback (additive, like requestCounters). */
const feedbackCounters = {
  impressions: integer("impressions").notNull().default(0),
  clicks: integer("clicks").notNull().default(0),
  addToCart: integer("add_to_cart").notNull().default(0),
  purchases: integer("purchases").notNull().default(0),
};
export type FeedbackCounter = keyof typeof feedbackCounters;
export const FEEDBACK_COUNTERS = Object.keys(feedbackCounters) as FeedbackCounter[];

/** Feedback events (POST /v1/events) per variant, model version and store (the event's). */
export const metricsFeedback = rollupTable(
  "metrics_feedback",
  { variant: text("variant").notNull(), model: text("model").notNull(), store: store() },
  feedbackCounters,
);

/** Ids of applied flushes: inserted in the flush's own batch, so a replayed flush fails and rolls back. */
export const metricsFlushes = sqliteTable("metrics_flushes", {
  id: text("id").primaryKey(),
  appliedAt: integer("applied_at").notNull(),
  minTs: integer("min_ts").notNull(),
  maxTs: integer("max_ts").notNull(),
});

/** Hours already compacted from minute rows into hour rows (one marker per hour, inserted with the compaction). */
export const metricsCompactions = sqliteTable("metrics_compactions", {
  hour: integer("hour").primaryKey(),
  compactedAt: integer("compacted_at").notNull(),
});

/** Alert state: one row per rule instance (dedup key), pending → firing → resolved. */
export const alerts = sqliteTable(
  "alerts",
  {
    id: text("id").primaryKey(),
    rule: text("rule").notNull(),
    kind: text("kind").notNull(),
    severity: text("severity").notNull(),
    state: text("state").notNull(),
    summary: text("summary").notNull(),
    value: real("value"),
    threshold: real("threshold"),
    pendingSince: integer("pending_since"),
    firedAt: integer("fired_at"),
    resolvedAt: integer("resolved_at"),
    updatedAt: integer("updated_at").notNull(),
    silencedUntil: integer("silenced_until"),
    notifiedState: text("notified_state"),
    labels: text("labels").notNull().default("{}"),
  },
  (t) => [index("alerts_by_state").on(t.state)],
);

/**
 * Global traffic by geography (README "Global traffic"): per (colo, GPU region) — `region` is the nearest region of
 * the request's route (the one it tried first) for request counts, and the region called for round-trip samples.
 * `failovers`: answered by another region than the nearest; `rtt_*`: the network part of successful calls (call time
 * minus the tier's reported compute time), read back by the edge as the fleet's learned round trip (edge/gpu/rtt-store.ts).
 */
const geoDims = () => ({ colo: text("colo").notNull(), region: text("region").notNull(), traffic: traffic() });

export const metricsGeo = rollupTable("metrics_geo", geoDims(), {
  requests: integer("requests").notNull().default(0),
  degraded: integer("degraded").notNull().default(0),
  failovers: integer("failovers").notNull().default(0),
  rttSamples: integer("rtt_samples").notNull().default(0),
  rttSumMs: real("rtt_sum_ms").notNull().default(0),
});

/** The GPU stage's latency per (colo, nearest region): log-bucketed histogram (DDSketch keys), as metrics_latency. */
export const metricsGeoGpu = rollupTable(
  "metrics_geo_gpu",
  { ...geoDims(), bucket: integer("bucket").notNull() },
  count(),
);
