/**
 * What the dashboard reads from the admin API, and how: GET /admin/metrics (edge/metrics/queries.ts RollupResult)
 * and GET /admin/alerts (edge/metrics/alerts.ts AlertRow), fetched with the session cookie. Only the fields the
 * charts and tables use are typed here; edge/dashboard/client-api-check.ts checks at compile time that the worker's
 * own response types still satisfy them.
 */

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export type Stage = "total" | "retrieval" | "light" | "gpu";

export interface Point {
  ts: number;
  count: number;
  rps: number;
  errorRate: number | null;
  degradedRate: number | null;
  cacheHitRatio: number | null;
  latencyMs: Record<Stage, Percentiles>;
  feedback: { impressions: number; clicks: number; purchases: number };
  ctr: number | null;
  conversion: number | null;
}

export interface Series {
  group: string;
  points: Point[];
  totals: Point;
}

export interface MetricsResponse {
  series: Series[];
  totals: Point;
}

export interface Alert {
  id: string;
  severity: string;
  state: string;
  summary: string;
}

export interface AlertsResponse {
  alerts: Alert[];
}

export interface MetricsQuery {
  from: number;
  to: number;
  step: number;
  groupBy?: "variant";
  traffic?: "live";
  /** one store only; absent or empty = every store */
  store?: string | undefined;
}

async function getJSON<T>(url: string): Promise<T> {
  const res = await fetch(url, { credentials: "same-origin" });
  if (!res.ok) throw new Error(url + " → " + res.status);
  return (await res.json()) as T;
}

/** `&store=<id>`, or nothing for every store */
const storeParam = (id: string | undefined): string => (id ? "&store=" + encodeURIComponent(id) : "");

export function getMetrics(q: MetricsQuery): Promise<MetricsResponse> {
  return getJSON(
    "/admin/metrics?from=" +
      q.from +
      "&to=" +
      q.to +
      "&step=" +
      q.step +
      (q.groupBy ? "&groupBy=" + q.groupBy : "") +
      (q.traffic ? "&traffic=" + q.traffic : "") +
      storeParam(q.store),
  );
}

export function getAlerts(limit: number): Promise<AlertsResponse> {
  return getJSON("/admin/alerts?limit=" + limit);
}
