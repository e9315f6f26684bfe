/**
 * What the dashboard reads from the admin API, and how: GET /admin/metrics (edge/metrics/queries.ts RollupResult)
 * and GET /admin/alerts (edge/metrics/alerts.ts AlertRow), fetched with the session cookie. Only the fields the
 * charts and tables use are typed here; edge/dashboard/client-api-check.ts checks at compile time that the worker's
 * own response types still satisfy them. The experiments page reads and changes experiments through
 * /admin/experiments (edge/api/admin-experiments.ts).
 */
import type { RateFigure } from "../../metrics/rates";

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

/** One (colo, GPU region) cell of /admin/metrics?groupBy=region (edge/metrics/geo.ts). */
export interface GeoCell {
  colo: string;
  region: string;
  requests: number;
  degradedShare: number | null;
  failovers: number;
  gpuMs: { p50: number | null; p99: number | null };
  rttMs: number | null;
}

export interface GeoResponse {
  geo: GeoCell[];
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
  groupBy?: "variant" | "region";
  traffic?: "live";
  /** one store only; absent or empty = every store */
  store?: string | undefined;
}

export async function getJSON<T>(url: string): Promise<T> {
  const res = await fetch(url, { credentials: "same-origin" });
  if (!res.ok) throw new Error(url + " → " + res.status);
  return (await res.json()) as T;
}

/** `&store=<id>`, or nothing for every store */
const storeParam = (id: string | undefined): string => (id ? "&store=" + encodeURIComponent(id) : "");

export function getMetrics(q: MetricsQuery & { groupBy: "region" }): Promise<MetricsResponse & GeoResponse>;
export function getMetrics(q: MetricsQuery): Promise<MetricsResponse>;
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

export interface ExperimentVariant {
  name: string;
  weight: number;
  lightModel: string;
  heavyModel: string;
  gpuTargetVariant: string;
  topM: number | null;
  releaseId: string | null;
}

export interface Experiment {
  id: string;
  store: string;
  surface: string;
  active: boolean;
  updatedAt: number;
  variants: ExperimentVariant[];
  figures: Record<
    string,
    {
      requests: number;
      impressions: number;
      clicks: number;
      purchases: number;
      ctr: RateFigure;
      conversion: RateFigure;
    }
  >;
}

export interface ExperimentsResponse {
  experiments: Experiment[];
}

export interface NewVariant {
  name: string;
  weight: number;
  lightModel?: string;
  heavyModel?: string;
  gpuTargetVariant?: string;
  topM?: number;
}

/** the audit label of changes made from the dashboard */
const ACTOR = "dashboard";

/** A JSON request to the experiments API; a refusal throws its message (e.g. the 409 of a running canary). */
async function send<T>(method: "POST" | "PATCH", url: string, body: unknown): Promise<T> {
  const res = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "content-type": "application/json", "x-vitrine-actor": ACTOR },
    body: JSON.stringify(body),
  });
  const out = (await res.json().catch(() => ({}))) as { error?: string; message?: string };
  if (!res.ok) throw new Error((out.error ?? String(res.status)) + ": " + (out.message ?? res.statusText));
  return out as T;
}

export function getExperiments(store: string | undefined): Promise<ExperimentsResponse> {
  return getJSON("/admin/experiments?limit=20" + storeParam(store));
}

export function createExperiment(body: {
  store: string;
  surface: string;
  variants: NewVariant[];
  reason?: string;
}): Promise<Experiment> {
  return send("POST", "/admin/experiments", body);
}

export function patchExperiment(
  id: string,
  body: { weights?: Record<string, number>; active?: false; reason?: string },
): Promise<Experiment> {
  return send("PATCH", "/admin/experiments/" + encodeURIComponent(id), body);
}

/** GET /admin/gpu-resources (edge/api/admin-gpu-resources.ts): the GPU-tier resources panel (resources.ts). */
export interface GpuResourcesRow {
  endpoint: string;
  ts: number;
  cpuSeconds: number | null;
  rssBytes: number | null;
  openFds: number | null;
  memoryUsed: number | null;
}

export interface GpuResourcesResponse {
  rows: GpuResourcesRow[];
}
