/**
 * What a ranking surface serves when D1 fails on its request path (D1Unavailable, edge/db/guarded.ts): the last good
 * answer of the same ask from the Cache API (lastGoodAnswer, edge/cache/response-cache.ts), at most STALE_IF_ERROR_S
 * past its freshness, marked degraded `d1_unavailable` and served as STALE; else the surface's own fallback (the
 * recommendation surface's last-known-good list); else the D1Unavailable goes on to the error handler, which answers
 * 503 catalog_unavailable with Retry-After (edge/middleware/errors.ts). Any other error is rethrown as it is.
 */
import { lastGoodAnswer } from "../cache/response-cache";
import { D1Unavailable } from "../db/guarded";
import type { Bindings } from "../env";
import type { DegradedReason } from "./degraded";
import type { RankPlan } from "./plan";
import type { RankedAnswer, Served } from "./request";

/** The answer with `d1_unavailable` added to its degraded reasons. */
export function d1Degraded<A extends RankedAnswer>(answer: A): A {
  const reasons: DegradedReason[] = answer.degradedReasons.filter((r) => r !== "d1_unavailable");
  return { ...answer, degradedReasons: [...reasons, "d1_unavailable"] };
}

export interface StaleIfError<A extends RankedAnswer> {
  env: Bindings;
  plan: RankPlan;
  /** the ask's stale-if-error key (lastGoodKey) */
  lastGood: Request;
  /** when no cached answer is left: another stand-in (undefined: none) */
  otherwise?: () => Promise<A | undefined>;
}

/** `work`, or — when it fails with D1Unavailable — the stale answer / stand-in, or that D1Unavailable. */
export async function staleIfError<A extends RankedAnswer>(
  work: () => Promise<Served<A>>,
  fallback: StaleIfError<A>,
): Promise<Served<A>> {
  try {
    return await work();
  } catch (err) {
    if (!(err instanceof D1Unavailable)) throw err;
    const answer = (await lastGoodAnswer<A>(fallback.env, fallback.lastGood)) ?? (await fallback.otherwise?.());
    if (answer === undefined) throw err;
    console.warn(JSON.stringify({ event: "d1_stale_answer", kind: err.kind, key: fallback.lastGood.url }));
    return { plan: fallback.plan, answer: d1Degraded(answer), cache: "STALE", stages: {} };
  }
}
