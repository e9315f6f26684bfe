/**
 * What a verified drill header tells the request path: which synthetic faults to inject into this one probe.
 * Real traffic never carries a DrillContext (it only comes out of a verified, unexpired, unreplayed signed header).
 */
import { z } from "zod";

export const SCENARIOS = ["primary_down", "all_down", "gpu_slow", "metrics_flush_fail", "cold_cache"] as const;
export type ScenarioId = (typeof SCENARIOS)[number];
export const scenarioSchema = z.enum(SCENARIOS);

/** refuse = the endpoint's URL is replaced by a closed port; slow = a delay beyond the deadline before the call */
export const gpuFaultSchema = z.enum(["refuse", "slow"]);
export type GpuFault = z.infer<typeof gpuFaultSchema>;

export const faultSpecSchema = z
  .object({
    gpu: z.object({ primary: gpuFaultSchema.optional(), secondary: gpuFaultSchema.optional() }).strict().optional(),
    /** caps this probe's GPU deadline budget (keeps slow-endpoint drills short when GPU_DEADLINE_MS is large) */
    deadlineMs: z.number().int().min(10).max(120_000).optional(),
    /** "use" = the probe goes through the response cache like real traffic; default: bypass it */
    cache: z.enum(["use", "bypass"]).optional(),
  })
  .strict();
export type FaultSpec = z.infer<typeof faultSpecSchema>;

export interface DrillContext {
  /** the drill run id (drill_runs.id) */
  id: string;
  scenario: ScenarioId;
  nonce: string;
  faults: FaultSpec;
}

/** Whether the probe should bypass the response cache (every drill probe does unless the scenario tests the cache). */
export function drillBypassesCache(drill: DrillContext): boolean {
  // a probe with an injected GPU fault never reads or writes the shared cache, whatever it asks
  if (drill.faults.gpu !== undefined || drill.faults.deadlineMs !== undefined) return true;
  return drill.faults.cache !== "use";
}
