/**
 * Final search responses in the Cache API (caches.default). The key is a synthetic GET URL built from the
 * normalised query, k, the experiment variant and the model versions, so a model or variant change never serves a
 * stale ranking. Entries hold the response payload without per-request fields (request id); TTL is CACHE_TTL_S, or
 * DEGRADED_CACHE_TTL_S for degraded answers (0 = not cached). Writes go through ctx.waitUntil.
 */
import { config } from "../config";
import type { Bindings } from "../env";

/** workerd's default cache (the WebWorker lib's CacheStorage type does not declare `default`). */
function defaultCache(): Cache {
  return (caches as CacheStorage & { default: Cache }).default;
}

const CACHE_ORIGIN = "https://vitrine-cache.internal";

export interface CacheKeyParts {
  route: string;
  query: string;
  k: number;
  experimentId: string;
  variant: string;
  lightModel: string;
  heavyModel: string;
}

/** Unicode NFKC, lower case, collapsed whitespace: "  Red  SHOES " and "red shoes" share an entry. */
export function normaliseQuery(q: string): string {
  return q.normalize("NFKC").toLowerCase().replace(/\s+/g, " ").trim();
}

export function cacheKey(p: CacheKeyParts): Request {
  const u = new URL(`${CACHE_ORIGIN}/${p.route}`);
  u.searchParams.set("q", normaliseQuery(p.query));
  u.searchParams.set("k", String(p.k));
  u.searchParams.set("exp", p.experimentId);
  u.searchParams.set("variant", p.variant);
  u.searchParams.set("light", p.lightModel);
  u.searchParams.set("heavy", p.heavyModel);
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
    defaultCache().put(key, res).catch((err: unknown) => {
      console.error("cache put failed", err);
    }),
  );
}
