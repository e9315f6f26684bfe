/**
 * Drill fault injection, owned by the drills: a verified probe's DrillContext becomes
 *  - a GPU drill scope for heavyRank (edge/gpu/types.ts): its run id scopes the probe's breakers and observers, its
 *    deadline cap shortens the budget, and its faults wrap the real SageMaker invoker —
 *      refuse: the endpoint's URL becomes a closed loopback port, so the real client fails to connect;
 *      slow:   the call starts only after a delay beyond the deadline (the deadline cuts it short);
 *  - whether the probe bypasses the response cache.
 * Real traffic never gets a DrillProbe (edge/middleware/drill-probe.ts sets one only for a verified header).
 */
import type { GpuCall, GpuDrillScope } from "../gpu/types";
import { outcomeOfError } from "../gpu/outcome";
import { type DrillContext, drillBypassesCache } from "./context";

/** A closed loopback port (discard, 9): connecting to it is refused at once. */
export const REFUSING_URL = "http://127.0.0.1:9";

export interface DrillProbe {
  context: DrillContext;
  gpu: GpuDrillScope;
  bypassCache: boolean;
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

export function gpuFaults(drill: DrillContext): GpuDrillScope {
  const { faults } = drill;
  return {
    id: drill.id,
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

export function drillProbeOf(drill: DrillContext): DrillProbe {
  return { context: drill, gpu: gpuFaults(drill), bypassCache: drillBypassesCache(drill) };
}
