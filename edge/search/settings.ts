/** Numeric settings from wrangler vars, with the documented defaults when a var is missing or malformed. */
import type { Bindings } from "../env";

function intVar(raw: string | undefined, fallback: number, min: number, max: number): number {
  const n = Number(raw);
  if (raw === undefined || raw === "" || !Number.isFinite(n)) return fallback;
  return Math.min(max, Math.max(min, Math.floor(n)));
}

export interface SearchSettings {
  retrievalN: number;
  lightTopM: number;
  gpuDeadlineMs: number;
}

export function searchSettings(env: Bindings): SearchSettings {
  return {
    retrievalN: intVar(env.RETRIEVAL_N, 200, 1, 1000),
    lightTopM: intVar(env.LIGHT_TOP_M, 50, 0, 256),
    gpuDeadlineMs: intVar(env.GPU_DEADLINE_MS, 150, 0, 120_000),
  };
}

/** Maximum candidates /v1/rerank accepts (and sends to the heavy model). */
export const RERANK_MAX = 200;
