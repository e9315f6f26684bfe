/**
 * Stage timing → `Server-Timing`, via Hono's timing middleware (it appends `total` at the end).
 * Handlers report stages they measured themselves with `recordStage` (e.g. retrieval, light, gpu); the same
 * figures are kept as `c.var.stages` for the request's metrics sample (edge/middleware/request-metrics.ts).
 *
 * Note: inside workerd, clocks only advance across I/O (Spectre mitigation), so a pure-CPU stage such as the light
 * model may read 0 ms in production; locally (wrangler dev) the same applies.
 */
import type { Context } from "hono";
import { setMetric, timing } from "hono/timing";
import type { Stage, StageTimings } from "../ranking/request";

export const serverTiming = timing({ total: true, totalDescription: "total", crossOrigin: false });

/** Set by recordStage. */
export interface StageVariables {
  stages?: StageTimings;
}

export function recordStage<E extends { Variables: StageVariables }>(c: Context<E>, stage: Stage, ms: number): void {
  setMetric(c, stage, Math.round(ms * 100) / 100);
  c.set("stages", { ...c.var.stages, [stage]: ms });
}

/** Every stage a ranking answer measured. */
export function recordStages<E extends { Variables: StageVariables }>(c: Context<E>, stages: StageTimings): void {
  for (const [stage, ms] of Object.entries(stages) as [Stage, number][]) recordStage(c, stage, ms);
}
