/**
 * The rollup tables as data, read from their drizzle definitions (edge/db/schema-metrics.ts): each table's key is
 * its primary key (res, ts, then the dimensions) and every other column is an additive counter. The aggregator's
 * zero values, the flush upserts' SET clauses, compaction, retention and the read queries' sums are all built from
 * these, so a counter is named once, in the schema.
 */
import { getTableColumns, sql, type SQL } from "drizzle-orm";
import { getTableConfig, type SQLiteColumn, type SQLiteTable } from "drizzle-orm/sqlite-core";
import {
  type FeedbackCounter,
  type RequestCounter,
  metricsDegraded,
  metricsEvents,
  metricsFeedback,
  metricsGeo,
  metricsGeoGpu,
  metricsLatency,
  metricsRequests,
  metricsScores,
} from "../db/schema-metrics";

export { FEEDBACK_COUNTERS, REQUEST_COUNTERS } from "../db/schema-metrics";
export type { FeedbackCounter, RequestCounter } from "../db/schema-metrics";

export type RequestCounters = Record<RequestCounter, number>;
export type FeedbackCounters = Record<FeedbackCounter, number>;

export interface Counter {
  /** property name in drizzle rows and in the aggregates */
  field: string;
  column: SQLiteColumn;
}

export interface Rollup {
  /** SQL table name */
  name: string;
  /** the primary key: res, ts, then the dimensions */
  key: SQLiteColumn[];
  /** the dimensions: the key without res and ts */
  dims: SQLiteColumn[];
  counters: Counter[];
  /** columns of a row (bound parameters one inserted row takes) */
  width: number;
}

function rollup(table: SQLiteTable): Rollup {
  const cfg = getTableConfig(table);
  const key = cfg.primaryKeys[0]?.columns ?? [];
  const keyNames = new Set(key.map((c) => c.name));
  const counters = Object.entries(getTableColumns(table))
    .filter(([, column]) => !keyNames.has(column.name))
    .map(([field, column]) => ({ field, column: column as SQLiteColumn }));
  return {
    name: cfg.name,
    key,
    dims: key.filter((c) => c.name !== "res" && c.name !== "ts"),
    counters,
    width: cfg.columns.length,
  };
}

export const ROLLUPS = {
  requests: rollup(metricsRequests),
  latency: rollup(metricsLatency),
  degraded: rollup(metricsDegraded),
  events: rollup(metricsEvents),
  scores: rollup(metricsScores),
  feedback: rollup(metricsFeedback),
  geo: rollup(metricsGeo),
  geoGpu: rollup(metricsGeoGpu),
} as const;

export const ROLLUP_LIST: readonly Rollup[] = Object.values(ROLLUPS);

/** Every counter at 0. */
export function zeroCounters<K extends string>(fields: readonly K[]): Record<K, number> {
  return Object.fromEntries(fields.map((f) => [f, 0])) as Record<K, number>;
}

/** `into[f] += add[f]` for every counter field. */
export function addCounters<K extends string>(
  into: Record<K, number>,
  add: Partial<Record<K, unknown>>,
  fields: readonly K[],
): void {
  for (const f of fields) into[f] += Number(add[f] ?? 0);
}

/** drizzle's onConflictDoUpdate for an additive upsert: on the table's key, `col = col + excluded.col` per counter. */
export function additiveUpsert(r: Rollup): { target: SQLiteColumn[]; set: Record<string, SQL> } {
  const set: Record<string, SQL> = {};
  for (const { field, column } of r.counters) set[field] = sql`${column} + excluded.${sql.identifier(column.name)}`;
  return { target: r.key, set };
}

/** `SUM(col) AS "field"` for every counter (raw SQL read side: rows come back keyed by field name). */
export function counterSums(r: Rollup): string {
  return r.counters.map(({ field, column }) => `SUM(${column.name}) AS "${field}"`).join(", ");
}
