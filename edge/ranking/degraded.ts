/**
 * Why an answer is degraded, typed: the light model failed (retrieval order stands in), and/or the heavy stage
 * failed (the light order stands), and/or D1 failed (a stale or last-known-good answer). Serialised — comma-joined, light first — only where it leaves the worker: the
 * response body's `degradedReason` and the metrics sample.
 */
import { HEAVY_FAILURE_REASONS, type HeavyFailureReason } from "../gpu/types";

export type GpuDegradedReason = `gpu_${HeavyFailureReason}`;
/** d1_unavailable: D1 failed on the request path; the answer is a stale cached one or the last-known-good list */
export type DegradedReason = "light_model_error" | GpuDegradedReason | "d1_unavailable";

export const DEGRADED_REASONS: readonly DegradedReason[] = [
  "light_model_error",
  "d1_unavailable",
  ...HEAVY_FAILURE_REASONS.map((r): GpuDegradedReason => `gpu_${r}`),
];

export function gpuDegradedReason(reason: HeavyFailureReason): GpuDegradedReason {
  return `gpu_${reason}`;
}

/** The wire form ("light_model_error,gpu_timeout"); undefined when not degraded. */
export function serialiseDegradedReasons(reasons: readonly DegradedReason[]): string | undefined {
  return reasons.length > 0 ? reasons.join(",") : undefined;
}

/** The typed reasons of a wire form (unknown parts are dropped). */
export function parseDegradedReasons(wire: string | undefined): DegradedReason[] {
  if (!wire) return [];
  return wire.split(",").filter((r): r is DegradedReason => (DEGRADED_REASONS as readonly string[]).includes(r));
}
