/**
 * What a verified drill header tells the request path: which synthetic faults to inject into this one probe.
 * Real traffic never carries a DrillContext (it only comes out of a verified, unexpired, unreplayed signed header).
 */
import { z } from "zod";

export const SCENARIOS = [
  "primary_down",
  "all_down",
  "gpu_slow",
  "metrics_flush_fail",
  "cold_cache",
  "d1_read_down",
  "recommend_primary_down",
  "recommend_all_down",
  "recommend_d1_read_down",
] as const;
export type ScenarioId = (typeof SCENARIOS)[number];
export const scenarioSchema = z.enum(SCENARIOS);

/** refuse = the endpoint's URL is replaced by a closed port; slow = a delay beyond the deadline before the call */
export const gpuFaultSchema = z.enum(["refuse", "slow"]);
export type GpuFault = z.infer<typeof gpuFaultSchema>;

export const faultSpecSchema = z
  .object({
    gpu: z
      .object({
        primary: gpuFaultSchema.optional(),
        secondary: gpuFaultSchema.optional(),
        /** a fault per GPU region (over the role's): the per-region drill's "nearest region down" */
        regions: z.record(z.string().min(1).max(64), gpuFaultSchema).optional(),
      })
      .strict()
      .optional(),
    /** caps this probe's GPU deadline budget (keeps slow-endpoint drills short when GPU_DEADLINE_MS is large) */
    deadlineMs: z.number().int().min(10).max(120_000).optional(),
    /** "use" = the probe goes through the response cache like real traffic; default: bypass it */
    cache: z.enum(["use", "bypass"]).optional(),
    /** "down" = every D1 read of the probe fails at the D1 access layer (edge/db/guarded.ts) */
    d1: z.enum(["down"]).optional(),
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
  if (drill.faults.gpu !== undefined || drill.faults.deadlineMs !== undefined || drill.faults.d1 !== undefined)
    return true;
  return drill.faults.cache !== "use";
}
