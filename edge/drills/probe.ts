/**
 * Synthetic probe requests. A probe goes through the worker's own Hono app in-process (the `app.fetch` the drill
 * runner was given: no network, and no import of the app from here), carrying a freshly signed drill header for
 * its run, scenario and fault. It asks /v1/search (the run's probe query) or /v1/recommend (the trending answer of
 * a store with recommendation tables), as the run's target says. What heavyRank and the D1 access layer did for the
 * probe is observed through the run's GPU and D1 scopes (edge/drills/scope.ts).
 */
import type { D1Event } from "../db/d1-scope";
import type { Bindings } from "../env";
import type { GpuEvent } from "../gpu/types";
import { parseDegradedReasons, type DegradedReason } from "../ranking/degraded";
import type { FaultSpec, ScenarioId } from "./context";
import { DRILL_HEADER, signDrillHeader } from "./header";

export const PROBE_ORIGIN = "https://drill-probe.vitrine.internal";
export const PROBE_USER = "vitrine-drill-probe";
export const PROBE_K = 10;

/** What a run's probes ask: a search for the probe query, or a store's non-personalised recommendations. */
export type ProbeTarget = { route: "search" } | { route: "recommend"; store: string };

export interface ProbeBody {
  /** an error answer's code (e.g. catalog_unavailable) */
  error?: string;
  degraded?: boolean;
  degradedReason?: string;
  variant?: string;
  experiment?: string;
  models?: { light?: string; heavy?: string };
  items?: unknown[];
}

/** The worker's app, as the probes call it (`app.fetch`). */
export type AppFetch = (request: Request, env: Bindings, ctx: ExecutionContext) => Response | Promise<Response>;

export interface ProbeResult {
  at: number;
  ms: number;
  status: number;
  degraded: boolean;
  /** the answer's degradedReason, typed */
  degradedReasons: DegradedReason[];
  cache?: string;
  body?: ProbeBody;
  /** GPU activity of this probe (attempts, skips, breaker transitions, final result) */
  gpu: GpuEvent[];
  /** D1 activity of this probe at the access layer (reads, the run's D1 breaker transitions) */
  d1: D1Event[];
  error?: string;
}

export interface ProbeDeps {
  fetch: AppFetch;
  env: Bindings;
  ctx: ExecutionContext;
  runId: string;
  scenario: ScenarioId;
  secret: string;
  query: string;
  target: ProbeTarget;
  /** the edge location the probe is labelled with (`request.cf.colo`: it routes the probe's GPU stage); "" = none */
  colo: string;
  /** events heavyRank emitted for this run since the last drain */
  drainGpuEvents: () => GpuEvent[];
  /** events the D1 access layer emitted for this run since the last drain */
  drainD1Events: () => D1Event[];
}

function probeUrl(deps: ProbeDeps): URL {
  const url = new URL(`/v1/${deps.target.route}`, PROBE_ORIGIN);
  if (deps.target.route === "search") url.searchParams.set("q", deps.query);
  else url.searchParams.set("store", deps.target.store);
  url.searchParams.set("k", String(PROBE_K));
  url.searchParams.set("user", PROBE_USER);
  return url;
}

export const ok2xx = (p: ProbeResult): boolean => p.status >= 200 && p.status <= 299;

/** Whether one of the probe's degraded reasons is among `reasons`. */
export const degradedBy = (p: ProbeResult, ...reasons: DegradedReason[]): boolean =>
  p.degradedReasons.some((r) => reasons.includes(r));

/** A 503 catalog_unavailable: the defined answer when D1 fails and nothing cached stands in. */
export function catalogUnavailable(p: ProbeResult): boolean {
  return p.status === 503 && p.body?.error === "catalog_unavailable";
}

export async function sendProbe(deps: ProbeDeps, fault: FaultSpec): Promise<ProbeResult> {
  const url = probeUrl(deps);
  const header = await signDrillHeader(deps.secret, { run: deps.runId, scenario: deps.scenario, fault });
  const headers = { [DRILL_HEADER]: header, "user-agent": "vitrine-drill" };
  // an in-process request carries the cf properties it is given: the colo routes its GPU stage like a shopper's there
  const request = new Request(url.toString(), {
    headers,
    ...(deps.colo ? { cf: { colo: deps.colo } } : {}),
  } as RequestInit);
  deps.drainGpuEvents();
  deps.drainD1Events();
  const at = Date.now();
  const t0 = performance.now();
  try {
    const res = await deps.fetch(request, deps.env, deps.ctx);
    const text = await res.text();
    const ms = Math.round(performance.now() - t0);
    let body: ProbeBody | undefined;
    try {
      body = JSON.parse(text) as ProbeBody;
    } catch {
      body = undefined;
    }
    const cache = res.headers.get("x-vitrine-cache") ?? undefined;
    return {
      at,
      ms,
      status: res.status,
      degraded: body?.degraded === true,
      degradedReasons: parseDegradedReasons(body?.degradedReason),
      ...(cache ? { cache } : {}),
      ...(body ? { body } : {}),
      gpu: deps.drainGpuEvents(),
      d1: deps.drainD1Events(),
    };
  } catch (err) {
    return {
      at,
      ms: Math.round(performance.now() - t0),
      status: 0,
      degraded: false,
      degradedReasons: [],
      gpu: deps.drainGpuEvents(),
      d1: deps.drainD1Events(),
      error: String(err),
    };
  }
}

/** The GPU region that served the probe's heavy ranking, if any. */
export function servedByRegion(p: ProbeResult): string | undefined {
  const r = gpuResult(p);
  return r?.ok ? r.region : undefined;
}

/** The GPU result of the probe (heavyRank's own figures). */
export function gpuResult(p: ProbeResult): Extract<GpuEvent, { type: "result" }> | undefined {
  const r = [...p.gpu].reverse().find((e) => e.type === "result");
  return r && r.type === "result" ? r : undefined;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
