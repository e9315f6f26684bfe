/**
 * Synthetic probe requests. A probe goes through the worker's own Hono app in-process (the `app.fetch` the drill
 * runner was given: no network, and no import of the app from here), carrying a freshly signed drill header for
 * its run, scenario and fault. What heavyRank did for the probe is observed through the run's GPU scope
 * (edge/drills/scope.ts).
 */
import type { Bindings } from "../env";
import type { GpuEvent } from "../gpu/types";
import { parseDegradedReasons, type DegradedReason } from "../ranking/degraded";
import type { FaultSpec, ScenarioId } from "./context";
import { DRILL_HEADER, signDrillHeader } from "./header";

export const PROBE_ORIGIN = "https://drill-probe.vitrine.internal";
export const PROBE_USER = "vitrine-drill-probe";
export const PROBE_K = 10;

export interface ProbeBody {
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
  /** events heavyRank emitted for this run since the last drain */
  drainGpuEvents: () => GpuEvent[];
}

export async function sendProbe(deps: ProbeDeps, fault: FaultSpec): Promise<ProbeResult> {
  const url = new URL("/v1/search", PROBE_ORIGIN);
  url.searchParams.set("q", deps.query);
  url.searchParams.set("k", String(PROBE_K));
  url.searchParams.set("user", PROBE_USER);
  const header = await signDrillHeader(deps.secret, { run: deps.runId, scenario: deps.scenario, fault });
  const request = new Request(url.toString(), { headers: { [DRILL_HEADER]: header, "user-agent": "vitrine-drill" } });
  deps.drainGpuEvents();
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
    };
  } catch (err) {
    return {
      at,
      ms: Math.round(performance.now() - t0),
      status: 0,
      degraded: false,
      degradedReasons: [],
      gpu: deps.drainGpuEvents(),
      error: String(err),
    };
  }
}

/** The role of the endpoint that served the probe's heavy ranking, if any. */
export function servedBy(p: ProbeResult): "primary" | "secondary" | undefined {
  const result = [...p.gpu].reverse().find((e) => e.type === "result");
  if (!result || result.type !== "result" || !result.ok) return undefined;
  const ok = [...p.gpu].reverse().find((e) => e.type === "attempt" && e.outcome === "ok");
  return ok && ok.type === "attempt" ? ok.role : undefined;
}

/** The GPU result of the probe (heavyRank's own figures). */
export function gpuResult(p: ProbeResult): Extract<GpuEvent, { type: "result" }> | undefined {
  const r = [...p.gpu].reverse().find((e) => e.type === "result");
  return r && r.type === "result" ? r : undefined;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
