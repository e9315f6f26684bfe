/**
 * The D1 circuit breakers (the GPU breaker's machinery, edge/gpu/breaker.ts, with the D1_BREAKER_* settings): the
 * isolate's one for real traffic, a drill run's own, and the test double's (injectD1Fault). Apart from the read
 * path (edge/db/guarded.ts) so that whoever only asks "is D1 known down?" — /healthz, the metrics flush, which holds
 * its payloads rather than write to a dead database — imports no more than this.
 */
import { config } from "../config";
import type { Bindings } from "../env";
import { type BreakerState, type BreakerTransition, CircuitBreaker } from "../gpu/breaker";
import type { D1Fault } from "./d1-scope";

/** A D1 breaker with the D1_BREAKER_* settings (the isolate's, or a drill run's own). */
export function newD1Breaker(env: Bindings, onTransition?: (t: BreakerTransition) => void): CircuitBreaker {
  return new CircuitBreaker("d1", config(env).d1.breaker, Date.now, onTransition);
}

let shared: CircuitBreaker | undefined;
let sharedListener: ((t: BreakerTransition) => void) | undefined;

/** Who hears the isolate breaker's transitions (edge/db/guarded.ts counts them in the metrics rollups). */
export function onIsolateD1Transition(listener: (t: BreakerTransition) => void): void {
  sharedListener = listener;
}

/** The isolate's D1 breaker (real traffic). */
export function isolateD1Breaker(env: Bindings): CircuitBreaker {
  shared ??= newD1Breaker(env, (t) => sharedListener?.(t));
  return shared;
}

/** envs made by injectD1Fault: their reads fail (tests only; production never registers one) */
const faulted = new WeakMap<Bindings, { breaker: CircuitBreaker; fault: D1Fault }>();

/**
 * The test double: a copy of `env` whose every D1 read through the guarded layer fails with `fault` (a workerd test
 * serves requests with it through app.fetch), behind a breaker of its own so the isolate's stays untouched.
 */
export function injectD1Fault(env: Bindings, fault: D1Fault = "down"): Bindings {
  const copy: Bindings = { ...env };
  faulted.set(copy, { breaker: newD1Breaker(copy), fault });
  return copy;
}

/** The breaker and fault of an injectD1Fault env; undefined for any other. */
export function registeredFault(env: Bindings): { breaker: CircuitBreaker; fault: D1Fault } | undefined {
  return faulted.get(env);
}

/** The state of the D1 breaker real traffic of `env` uses (/healthz; the metrics flush). */
export function d1BreakerState(env: Bindings): BreakerState {
  return (registeredFault(env)?.breaker ?? isolateD1Breaker(env)).state;
}
