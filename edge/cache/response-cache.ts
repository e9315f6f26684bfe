/**
 * Final search responses in the Cache API (caches.default). The key (responseCacheKey) is a synthetic GET URL built
 * from the store, the normalised query, k, the experiment variant and the model versions, so a model or variant change never
 * serves a stale ranking. Entries hold the response payload without per-request fields (request id); TTL is CACHE_TTL_S, or
 * DEGRADED_CACHE_TTL_S for degraded answers (0 = not cached). Writes go through ctx.waitUntil.
 */
import { config } from "../config";
import type { Bindings } from "../env";
import type { RankPlan } from "../search/rank-plan";

/** workerd's default cache (the WebWorker lib's CacheStorage type does not declare `default`). */
function defaultCache(): Cache {
  return (caches as CacheStorage & { default: Cache }).default;
}

const CACHE_ORIGIN = "https://vitrine-cache.internal";

/** Unicode NFKC, lower case, collapsed whitespace: "  Red  SHOES " and "red shoes" share an entry. */
export function normaliseQuery(q: string): string {
  return q.normalize("NFKC").toLowerCase().replace(/\s+/g, " ").trim();
}

/**
 * The key of a ranked answer: the route, the store, the normalised query, k, and the rank plan's experiment, variant
 * and models. The search route reads and writes under it; the cold-cache drill purges under it.
 */
export function responseCacheKey(
  route: string,
  store: string,
  query: string,
  k: number,
  plan: Pick<RankPlan, "experimentId" | "variant" | "lightModel" | "heavyModel">,
): Request {
  const u = new URL(`${CACHE_ORIGIN}/${route}`);
  u.searchParams.set("store", store);
  u.searchParams.set("q", normaliseQuery(query));
  u.searchParams.set("k", String(k));
  u.searchParams.set("exp", plan.experimentId);
  u.searchParams.set("variant", plan.variant);
  u.searchParams.set("light", plan.lightModel);
  u.searchParams.set("heavy", plan.heavyModel);
  return new Request(u.toString(), { method: "GET" });
}

export async function cacheGet<T>(key: Request): Promise<T | undefined> {
  const hit = await defaultCache().match(key);
  if (!hit) return undefined;
  return (await hit.json()) as T;
}

export function cacheTtl(env: Bindings, degraded: boolean): number {
  const { ttlS, degradedTtlS } = config(env).cache;
  return degraded ? degradedTtlS : ttlS;
}

/** Schedules the write on ctx.waitUntil; no-op when the TTL is 0. */
export function cachePut(ctx: ExecutionContext, key: Request, payload: unknown, ttlSeconds: number): void {
  if (ttlSeconds <= 0) return;
  const res = new Response(JSON.stringify(payload), {
    headers: { "content-type": "application/json", "cache-control": `public, max-age=${ttlSeconds}` },
  });
  ctx.waitUntil(
    defaultCache()
      .put(key, res)
      .catch((err: unknown) => {
        console.error("cache put failed", err);
      }),
  );
}
