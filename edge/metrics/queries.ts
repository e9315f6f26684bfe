/**
 * Read side of the rollups: time series over [from, to) in `step`-second points, optionally grouped by
 * variant | model | route | colo | traffic | store, optionally of one traffic only (live requests or drill probes;
 * feedback and breaker events are not split) and of one store only (requests, latency, degraded reasons and feedback
 * carry their store; breaker events are the GPU tier's, every store's). Minute rows serve every range inside the
 * minute retention; older ranges read hour rows up to the last compacted hour and minute rows after it.
 */
import { Sketch } from "./sketch";
import { STAGES, type Stage } from "./types";
import { HOUR, MINUTE } from "./aggregate";
import type { Traffic } from "../db/schema-metrics";
import {
  FEEDBACK_COUNTERS,
  REQUEST_COUNTERS,
  ROLLUPS,
  type FeedbackCounters,
  type RequestCounters,
  addCounters,
  counterSums,
  zeroCounters,
} from "./rollups";

export const GROUP_BY = ["variant", "model", "route", "colo", "traffic", "store"] as const;
export type GroupBy = (typeof GROUP_BY)[number];

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
  mean: number | null;
  count: number;
}

export interface Point {
  ts: number;
  count: number;
  rps: number;
  status: { "2xx": number; "3xx": number; "4xx": number; "5xx": number };
  errorRate: number | null;
  clientErrorRate: number | null;
  degraded: number;
  degradedRate: number | null;
  availability: number | null;
  cacheHitRatio: number | null;
  cache: { hit: number; miss: number; bypass: number };
  gpuCalls: number;
  drill: number;
  latencySumMs: number;
  latencyMs: Record<Stage, Percentiles>;
  feedback: FeedbackCounters;
  ctr: number | null;
  conversion: number | null;
}

export interface Series {
  group: string;
  points: Point[];
  totals: Point;
}

export interface RollupQuery {
  from: number;
  to: number;
  step: number;
  groupBy?: GroupBy;
  /** one traffic only: "live" (what the alert rules read) or "drill"; absent = both */
  traffic?: Traffic;
  /** one store only (a stores.id); absent = every store */
  store?: string;
}

export interface RollupResult {
  from: number;
  to: number;
  step: number;
  groupBy: GroupBy | null;
  traffic: Traffic | null;
  store: string | null;
  series: Series[];
  totals: Point;
  degradedReasons: Record<string, number>;
  /** counted non-request events by kind then name, e.g. events.breaker["primary:… closed→open"] */
  events: Record<string, Record<string, number>>;
}

const REQ_GROUP: Record<GroupBy | "none", string> = {
  variant: "variant",
  model: "light_model || ' / ' || heavy_model",
  route: "route",
  colo: "colo",
  traffic: "traffic",
  store: "store",
  none: "'all'",
};
const FEEDBACK_GROUP: Record<GroupBy | "none", string | null> = {
  variant: "variant",
  model: "model",
  route: null,
  colo: null,
  traffic: null,
  store: "store",
  none: "'all'",
};

/** Start of the first minute that is not covered by hour rows (= end of the last compacted hour). */
async function compactedUntil(db: D1Database): Promise<number> {
  const row = await db.prepare("SELECT MAX(hour) AS h FROM metrics_compactions").first<{ h: number | null }>();
  return row?.h != null ? row.h + HOUR : 0;
}

/**
 * SQL filter choosing rows for [from, to): minute rows where they are complete, hour rows before that.
 * Returns the clause and its 6 bound values.
 */
export async function sourceFilter(
  db: D1Database,
  from: number,
  to: number,
  minuteRetentionS: number,
  now: number,
): Promise<{ where: string; binds: number[] }> {
  let boundary = from;
  if (from < now - minuteRetentionS) boundary = Math.min(to, Math.max(from, await compactedUntil(db)));
  return {
    where: "((res = 3600 AND ts >= ? AND ts < ?) OR (res = 60 AND ts >= ? AND ts < ?))",
    binds: [from, boundary, boundary, to],
  };
}

interface Cell {
  req: RequestCounters;
  fb: FeedbackCounters;
  stages: Map<Stage, Sketch>;
}

function emptyCell(): Cell {
  return { req: zeroCounters(REQUEST_COUNTERS), fb: zeroCounters(FEEDBACK_COUNTERS), stages: new Map() };
}

function mergeCell(into: Cell, c: Cell): void {
  addCounters(into.req, c.req, REQUEST_COUNTERS);
  addCounters(into.fb, c.fb, FEEDBACK_COUNTERS);
  for (const [stage, sk] of c.stages) {
    const t = into.stages.get(stage);
    if (t) t.merge(sk);
    else into.stages.set(stage, sk.clone());
  }
}

const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);
const round = (v: number): number => Math.round(v * 1000) / 1000;

function percentiles(sk: Sketch | undefined): Percentiles {
  if (!sk || sk.count === 0) return { p50: null, p95: null, p99: null, mean: null, count: 0 };
  return {
    p50: round(sk.quantile(0.5)),
    p95: round(sk.quantile(0.95)),
    p99: round(sk.quantile(0.99)),
    mean: round(sk.sum / sk.count),
    count: sk.count,
  };
}

export function toPoint(ts: number, seconds: number, c: Cell): Point {
  const r = c.req;
  const latencyMs = {} as Record<Stage, Percentiles>;
  for (const s of STAGES) latencyMs[s] = percentiles(c.stages.get(s));
  return {
    ts,
    count: r.requests,
    rps: round(r.requests / seconds),
    status: { "2xx": r.status2xx, "3xx": r.status3xx, "4xx": r.status4xx, "5xx": r.status5xx },
    errorRate: ratio(r.status5xx, r.requests),
    clientErrorRate: ratio(r.status4xx, r.requests),
    degraded: r.degraded,
    degradedRate: ratio(r.degraded, r.requests),
    availability: ratio(r.good, r.requests - r.status4xx),
    cacheHitRatio: ratio(r.cacheHit, r.cacheHit + r.cacheMiss),
    cache: { hit: r.cacheHit, miss: r.cacheMiss, bypass: r.cacheBypass },
    gpuCalls: r.gpuCalls,
    drill: r.drill,
    latencySumMs: round(r.latencySumMs),
    latencyMs,
    feedback: { ...c.fb },
    ctr: ratio(c.fb.clicks, c.fb.impressions),
    conversion: ratio(c.fb.purchases, c.fb.impressions),
  };
}

/** Cells keyed by group then step index, plus the merged sketches (used by the alert evaluator too). */
export async function queryCells(
  db: D1Database,
  q: RollupQuery,
  minuteRetentionS: number,
  now: number,
): Promise<{
  cells: Map<string, Map<number, Cell>>;
  degradedReasons: Record<string, number>;
  events: Record<string, Record<string, number>>;
}> {
  const g = q.groupBy ?? "none";
  const { where, binds } = await sourceFilter(db, q.from, q.to, minuteRetentionS, now);
  // request, latency, degraded and feedback rows carry their store; all but feedback their traffic; events neither
  const storeWhere = q.store !== undefined ? `${where} AND store = ?` : where;
  const storeBinds = q.store !== undefined ? [...binds, q.store] : binds;
  const dimWhere = q.traffic ? `${storeWhere} AND traffic = '${q.traffic === "drill" ? "drill" : "live"}'` : storeWhere;
  // integer bucket index: D1 binds JS numbers as REAL, so a plain division would give fractions (a point lost)
  const bucketExpr = "CAST((ts - ?) / ? AS INTEGER)";
  const reqSql = `SELECT ${bucketExpr} AS b, ${REQ_GROUP[g]} AS g, ${counterSums(ROLLUPS.requests)}
    FROM metrics_requests WHERE ${dimWhere} GROUP BY b, g`;
  const latSql = `SELECT ${bucketExpr} AS b, ${REQ_GROUP[g]} AS g, stage, bucket, SUM(count) AS n
    FROM metrics_latency WHERE ${dimWhere} GROUP BY b, g, stage, bucket`;
  // feedback has no route, colo or traffic: grouped by one of those, it is left out of the series
  const fg = FEEDBACK_GROUP[g];
  const fbSql = fg
    ? `SELECT ${bucketExpr} AS b, ${fg} AS g, ${counterSums(ROLLUPS.feedback)}
      FROM metrics_feedback WHERE ${storeWhere} GROUP BY b, g`
    : null;
  const degSql = `SELECT reason, SUM(count) AS n FROM metrics_degraded WHERE ${dimWhere} GROUP BY reason`;
  const evSql = `SELECT kind, name, SUM(count) AS n FROM metrics_events WHERE ${where} GROUP BY kind, name`;
  const stmts = [
    db.prepare(reqSql).bind(q.from, q.step, ...storeBinds),
    db.prepare(latSql).bind(q.from, q.step, ...storeBinds),
    db.prepare(degSql).bind(...storeBinds),
    db.prepare(evSql).bind(...binds),
    ...(fbSql ? [db.prepare(fbSql).bind(q.from, q.step, ...storeBinds)] : []),
  ];
  const [reqRes, latRes, degRes, evRes, fbRes] = await db.batch<Record<string, number | string>>(stmts);

  const cells = new Map<string, Map<number, Cell>>();
  const cell = (group: string, b: number): Cell => {
    let m = cells.get(group);
    if (!m) cells.set(group, (m = new Map()));
    let c = m.get(b);
    if (!c) m.set(b, (c = emptyCell()));
    return c;
  };
  for (const row of reqRes?.results ?? []) {
    const c = cell(String(row.g), Number(row.b));
    addCounters(c.req, row, REQUEST_COUNTERS);
  }
  for (const row of latRes?.results ?? []) {
    const c = cell(String(row.g), Number(row.b));
    const stage = String(row.stage) as Stage;
    let sk = c.stages.get(stage);
    if (!sk) c.stages.set(stage, (sk = new Sketch()));
    sk.addBucket(Number(row.bucket), Number(row.n));
  }
  for (const row of fbRes?.results ?? []) {
    const c = cell(String(row.g), Number(row.b));
    addCounters(c.fb, row, FEEDBACK_COUNTERS);
  }
  const degradedReasons: Record<string, number> = {};
  for (const row of degRes?.results ?? []) degradedReasons[String(row.reason)] = Number(row.n);
  const events: Record<string, Record<string, number>> = {};
  for (const row of evRes?.results ?? []) (events[String(row.kind)] ??= {})[String(row.name)] = Number(row.n);
  return { cells, degradedReasons, events };
}

/** Everything of one traffic in [from, to) merged into one cell (alert windows read "live"). */
export async function windowCell(
  db: D1Database,
  from: number,
  to: number,
  minuteRetentionS: number,
  now: number,
  traffic?: Traffic,
): Promise<Cell> {
  const { cells } = await queryCells(
    db,
    { from, to, step: Math.max(MINUTE, to - from), ...(traffic ? { traffic } : {}) },
    minuteRetentionS,
    now,
  );
  const total = emptyCell();
  for (const m of cells.values()) for (const c of m.values()) mergeCell(total, c);
  return total;
}

export type { Cell };

export async function queryRollup(
  db: D1Database,
  q: RollupQuery,
  minuteRetentionS: number,
  now: number,
): Promise<RollupResult> {
  const { cells, degradedReasons, events } = await queryCells(db, q, minuteRetentionS, now);
  const nSteps = Math.ceil((q.to - q.from) / q.step);
  const overall = emptyCell();
  const series: Series[] = [];
  for (const [group, byStep] of [...cells.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
    const total = emptyCell();
    const points: Point[] = [];
    for (let b = 0; b < nSteps; b++) {
      const c = byStep.get(b) ?? emptyCell();
      mergeCell(total, c);
      points.push(toPoint(q.from + b * q.step, Math.min(q.step, q.to - (q.from + b * q.step)), c));
    }
    mergeCell(overall, total);
    series.push({ group, points, totals: toPoint(q.from, q.to - q.from, total) });
  }
  return {
    from: q.from,
    to: q.to,
    step: q.step,
    groupBy: q.groupBy ?? null,
    traffic: q.traffic ?? null,
    store: q.store ?? null,
    series,
    totals: toPoint(q.from, q.to - q.from, overall),
    degradedReasons,
    events,
  };
}

export { emptyCell, mergeCell };
