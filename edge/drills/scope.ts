/**
 * The drills' one seam into the GPU client: the GpuScope of a verified probe (edge/gpu/types.ts). Per drill run this
 * isolate keeps one set of breakers and the run's observer (the runner opens the run's scope and closes it at the
 * end); a probe's scope adds its own faults around the real SageMaker invoker —
 *   refuse: the endpoint's URL becomes a closed loopback port, so the real client fails to connect;
 *   slow:   the call starts only after a delay beyond the deadline (the deadline cuts it short);
 * and its deadline cap. So injected faults never open the breakers real traffic uses, and gpu/ knows nothing of
 * drills. Real traffic never gets a scope (edge/drills/middleware.ts sets one only for a verified header).
 * The same for D1 (probeD1Scope): the run's own D1 breaker and observer, and the probe's fault (`d1: "down"`: every
 * read fails at the D1 access layer, edge/db/guarded.ts, before it reaches D1).
 */
import { newD1Breaker } from "../db/d1-breaker";
import type { D1Event, D1Scope } from "../db/d1-scope";
import type { Bindings } from "../env";
import type { CircuitBreaker } from "../gpu/breaker";
import { outcomeOfError } from "../gpu/outcome";
import type { GpuCall, GpuEvent, GpuScope } from "../gpu/types";
import type { DrillContext } from "./context";

/** A closed loopback port (discard, 9): connecting to it is refused at once. */
export const REFUSING_URL = "http://127.0.0.1:9";

interface RunScope {
  breakers: Map<string, CircuitBreaker>;
  observe?: (e: GpuEvent) => void;
  d1Breaker?: CircuitBreaker;
  observeD1?: (e: D1Event) => void;
}

/** drill run id → its breakers and observer (bounded: a probe of a run this isolate did not open gets a fresh one) */
const runs = new Map<string, RunScope>();
const MAX_RUNS = 8;

function runScope(runId: string): RunScope {
  let scope = runs.get(runId);
  if (!scope) {
    if (runs.size >= MAX_RUNS) {
      const oldest = runs.keys().next().value;
      if (oldest !== undefined) runs.delete(oldest);
    }
    scope = { breakers: new Map() };
    runs.set(runId, scope);
  }
  return scope;
}

/** The runner's side: the run's scope hears its probes' GPU and D1 events until the returned close function is called. */
export function openRunScope(
  runId: string,
  observe: (e: GpuEvent) => void,
  observeD1?: (e: D1Event) => void,
): () => void {
  const scope = runScope(runId);
  scope.observe = observe;
  if (observeD1) scope.observeD1 = observeD1;
  return () => {
    runs.delete(runId);
  };
}

/** Resolves after `ms`, or false as soon as the signal aborts. */
function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const onAbort = (): void => {
      clearTimeout(t);
      resolve(false);
    };
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** The D1 scope of one verified probe: its run's D1 breaker (transitions reach the run's observer) and its fault. */
export function probeD1Scope(env: Bindings, drill: DrillContext): D1Scope {
  const run = runScope(drill.id);
  run.d1Breaker ??= newD1Breaker(env, (t) => run.observeD1?.({ type: "breaker", ...t }));
  return {
    breaker: run.d1Breaker,
    ...(drill.faults.d1 ? { fault: drill.faults.d1 } : {}),
    ...(run.observeD1 ? { observe: run.observeD1 } : {}),
  };
}

/** The GPU scope of one verified probe: its run's breakers and observer, its faults, its deadline cap. */
export function probeGpuScope(drill: DrillContext): GpuScope {
  const { faults } = drill;
  const run = runScope(drill.id);
  return {
    breakers: run.breakers,
    ...(run.observe ? { observe: run.observe } : {}),
    ...(faults.deadlineMs !== undefined ? { deadlineMs: faults.deadlineMs } : {}),
    wrap:
      (invoke: GpuCall, deadlineMs: number): GpuCall =>
      async (endpoint, req, signal) => {
        const fault = faults.gpu?.regions?.[endpoint.region] ?? faults.gpu?.[endpoint.role];
        if (fault === "refuse") return invoke({ ...endpoint, url: REFUSING_URL }, req, signal);
        if (fault === "slow" && !(await sleepUnlessAborted(deadlineMs + 1_000, signal)))
          return outcomeOfError(signal.reason, signal);
        return invoke(endpoint, req, signal);
      },
  };
}
