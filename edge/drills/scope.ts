/**
 * The drills' one seam into the GPU client: the GpuScope of a verified probe (edge/gpu/types.ts). Per drill run this
 * isolate keeps one set of breakers and the run's observer (the runner opens the run's scope and closes it at the
 * end); a probe's scope adds its own faults around the real SageMaker invoker —
 *   refuse: the endpoint's URL becomes a closed loopback port, so the real client fails to connect;
 *   slow:   the call starts only after a delay beyond the deadline (the deadline cuts it short);
 * and its deadline cap. So injected faults never open the breakers real traffic uses, and gpu/ knows nothing of
 * drills. Real traffic never gets a scope (edge/drills/middleware.ts sets one only for a verified header).
 */
import type { CircuitBreaker } from "../gpu/breaker";
import { outcomeOfError } from "../gpu/outcome";
import type { GpuCall, GpuEvent, GpuScope } from "../gpu/types";
import type { DrillContext } from "./context";

/** A closed loopback port (discard, 9): connecting to it is refused at once. */
export const REFUSING_URL = "http://127.0.0.1:9";

interface RunScope {
  breakers: Map<string, CircuitBreaker>;
  observe?: (e: GpuEvent) => void;
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

/** The runner's side: the run's scope hears its probes' GPU events until the returned close function is called. */
export function openRunScope(runId: string, observe: (e: GpuEvent) => void): () => void {
  runScope(runId).observe = observe;
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
        const fault = faults.gpu?.[endpoint.role];
        if (fault === "refuse") return invoke({ ...endpoint, url: REFUSING_URL }, req, signal);
        if (fault === "slow" && !(await sleepUnlessAborted(deadlineMs + 1_000, signal)))
          return outcomeOfError(signal.reason, signal);
        return invoke(endpoint, req, signal);
      },
  };
}
