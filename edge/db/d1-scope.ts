/**
 * Whose D1 breaker a request-path read uses, and what it is told (the types of edge/db/guarded.ts, apart so that the
 * request's typed variables, edge/env.ts, can carry a scope without importing the read path).
 */
import type { BreakerState, CircuitBreaker } from "../gpu/breaker";

/** Why a read failed: the database erred, the deadline passed, the breaker refused, or a drill / test injected it. */
export type D1FailureKind = "error" | "timeout" | "circuit_open" | "injected";

/** An injected fault: `down` fails every read of the scope before it reaches D1. */
export type D1Fault = "down";

/** One thing a scoped read did, for the scope's observer (the drill runner's timeline). */
export type D1Event =
  | { type: "read"; at: number; ok: boolean; ms: number; kind?: D1FailureKind }
  | { type: "breaker"; breaker: string; at: number; from: BreakerState; to: BreakerState; reason: string };

export interface D1Scope {
  /** its transitions reach the scope's observer through the breaker's own listener (newD1Breaker) */
  breaker: CircuitBreaker;
  fault?: D1Fault;
  observe?: (e: D1Event) => void;
}
