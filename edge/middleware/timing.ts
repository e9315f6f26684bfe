/**
 * Stage timing → `Server-Timing`, via Hono's timing middleware (it appends `total` at the end).
 * Handlers report stages they measured themselves with `recordStage` (e.g. retrieval, light, gpu).
 *
 * Note: inside workerd, clocks only advance across I/O (Spectre mitigation), so a pure-CPU stage such as the light
 * model may read 0 ms in production; locally (wrangler dev) the same applies.
 */
import type { Context } from "hono";
import { setMetric, timing } from "hono/timing";
import type { AppEnv } from "../env";

export const serverTiming = timing({ total: true, totalDescription: "total", crossOrigin: false });

export type Stage = "retrieval" | "light" | "gpu" | "cache";

export function recordStage(c: Context<AppEnv>, stage: Stage, ms: number): void {
  setMetric(c, stage, Math.round(ms * 100) / 100);
}

/** Milliseconds since `start` (performance.now based). */
export function since(start: number): number {
  return performance.now() - start;
}
