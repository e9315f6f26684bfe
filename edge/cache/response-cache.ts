/**
 * Final answers in the Cache API (caches.default), with request collapsing; route-agnostic (search uses it, any route
 * whose answer is a function of its key can). The key (responseCacheKey) is a synthetic GET URL built from the route,
 * the normalised query, k, the experiment variant and the model versions — so a model or variant change never serves
 * a stale ranking — plus `scope`: whatever personalises the answer (e.g. the user of a recommendation) must go there,
 * so a personalised answer is never served to another user. Entries hold the payload without per-request fields.
 *
 * cachedAnswer(key, compute) answers, per key:
 *  - HIT        a fresh entry (CACHE_TTL_S; a degraded answer only DEGRADED_CACHE_TTL_S; 0 = not cached);
 *  - STALE      a non-degraded entry past its TTL but within CACHE_SWR_S: served at once, and ONE background refresh
 *               (ctx.waitUntil) per isolate recomputes it — keys asked again within the window (the popular ones)
 *               never go cold; the rest simply expire;
 *  - MISS       no usable entry: this request runs compute (the leader) and stores its answer;
 *  - COLLAPSED  no usable entry, but a leader in this isolate is computing the key: this request waits for its answer
 *               instead of running its own cascade (single flight, edge/cache/single-flight.ts, COLLAPSE_MAX_KEYS).
 * An expired degraded entry is a miss: one request recomputes it, the concurrent ones join it. Writes and the
 * leader's computation run under ctx.waitUntil, so followers get their answer even if the leader's client goes.
 *
 * Stale-if-error: every computed answer is also kept under its `lastGood` key (lastGoodKey: the route, query, k and
 * a scope that needs no D1 read — no plan, no catalogue or table version), with its fresh-until time, for
 * CACHE_TTL_S + STALE_IF_ERROR_S. When D1 fails on the request path (edge/db/guarded.ts), lastGoodAnswer serves it
 * (edge/ranking/stale-if-error.ts) until STALE_IF_ERROR_S past its freshness, whatever variant or version it was
 * ranked under.
 */
import { config } from "../config";
import type { Bindings } from "../env";
import { SingleFlight, type SingleFlightStats } from "./single-flight";

/** workerd's default cache (the WebWorker lib's CacheStorage type does not declare `default`). */
function defaultCache(): Cache {
  return (caches as CacheStorage & { default: Cache }).default;
}

const CACHE_ORIGIN = "https://vitrine-cache.internal";
/** The entries' format: answers keep typed degraded reasons (a new format never reads an old entry). */
const FORMAT = "v2";

/** Unicode NFKC, lower case, collapsed whitespace: "  Red  SHOES " and "red shoes" share an entry. */
export function normaliseQuery(q: string): string {
  return q.normalize("NFKC").toLowerCase().replace(/\s+/g, " ").trim();
}

/**
 * The key of a ranked answer: the route, the normalised query, k, the rank plan's experiment, variant and models,
 * and the route's `scope` (what else shapes the answer, kept as given: search's store and catalogue version — its
 * answer depends on the user only through the variant; /v1/recommend's store, page / cart ids, mode, the version of
 * its D1 tables and the catalogue version). The search and
 * recommend answers read and write under it; whoever must empty an entry (the cold-cache drill) purges under it.
 */
export function responseCacheKey(
  route: string,
  query: string,
  k: number,
  plan: { experimentId: string; variant: string; lightModel: string; heavyModel: string },
  scope: Readonly<Record<string, string>> = {},
): Request {
  const u = new URL(`${CACHE_ORIGIN}/${FORMAT}/${route}`);
  u.searchParams.set("q", normaliseQuery(query));
  u.searchParams.set("k", String(k));
  u.searchParams.set("exp", plan.experimentId);
  u.searchParams.set("variant", plan.variant);
  u.searchParams.set("light", plan.lightModel);
  u.searchParams.set("heavy", plan.heavyModel);
  for (const name of Object.keys(scope).sort()) u.searchParams.set(`scope.${name}`, scope[name]!);
  return new Request(u.toString(), { method: "GET" });
}

/**
 * The stale-if-error key of an answer: what the request names (route, query, k) and a scope computable without D1
 * (search: the store; recommend: the store, page / cart ids and the context kind).
 */
export function lastGoodKey(
  route: string,
  query: string,
  k: number,
  scope: Readonly<Record<string, string>> = {},
): Request {
  const u = new URL(`${CACHE_ORIGIN}/${FORMAT}/last-good/${route}`);
  u.searchParams.set("q", normaliseQuery(query));
  u.searchParams.set("k", String(k));
  for (const name of Object.keys(scope).sort()) u.searchParams.set(`scope.${name}`, scope[name]!);
  return new Request(u.toString(), { method: "GET" });
}

/** How an answer was served (the x-vitrine-cache header; BYPASS when the cache is not used). */
export type CacheOutcome = "HIT" | "STALE" | "MISS" | "COLLAPSED";

/** What an entry holds: the answer, when it stops being fresh (epoch ms), and whether it is degraded. */
interface StoredAnswer<T> {
  answer: T;
  freshUntil: number;
  degraded: boolean;
}

const flights = new SingleFlight<unknown>();

/** This isolate's collapsing counters (tests and /healthz-style diagnostics). */
export function collapsingStats(): SingleFlightStats {
  return flights.stats();
}

export interface CachedAnswerOptions<T> {
  env: Bindings;
  ctx: ExecutionContext;
  key: Request;
  /** computes the answer (the cascade); must not throw for a degraded answer — return it with degraded() true */
  compute: () => Promise<T>;
  degraded: (answer: T) => boolean;
  /** the answer's stale-if-error key (lastGoodKey): every computed answer is kept there too */
  lastGood?: Request;
}

export async function cachedAnswer<T>(opts: CachedAnswerOptions<T>): Promise<{ answer: T; outcome: CacheOutcome }> {
  const { env, ctx, key } = opts;
  const { collapseMaxKeys } = config(env).cache;
  const id = key.url;
  const stored = await storedAnswer<T>(key);
  if (stored && Date.now() < stored.freshUntil) return { answer: stored.answer, outcome: "HIT" };

  const computeAndStore = async (): Promise<T> => {
    const answer = await opts.compute();
    await Promise.all([
      storeAnswer(env, key, answer, opts.degraded(answer)),
      opts.lastGood ? storeLastGood(env, opts.lastGood, answer, opts.degraded(answer)) : undefined,
    ]);
    return answer;
  };

  if (stored && !stored.degraded) {
    // stale-while-revalidate: one refresh per isolate, this request does not wait for it
    if (!flights.has(id)) ctx.waitUntil(flights.run(id, collapseMaxKeys, computeAndStore).promise.catch(logRefresh));
    return { answer: stored.answer, outcome: "STALE" };
  }
  const flight = flights.run(id, collapseMaxKeys, computeAndStore) as { promise: Promise<T>; leader: boolean };
  if (flight.leader) ctx.waitUntil(flight.promise.catch(() => undefined));
  return { answer: await flight.promise, outcome: flight.leader ? "MISS" : "COLLAPSED" };
}

function logRefresh(err: unknown): void {
  console.error("cache refresh failed", err);
}

/** The entry under `key`; undefined when none, or in another shape (an entry written before this format). */
async function storedAnswer<T>(key: Request): Promise<StoredAnswer<T> | undefined> {
  const hit = await defaultCache().match(key);
  if (!hit) return undefined;
  const entry = (await hit.json()) as Partial<StoredAnswer<T>>;
  if (typeof entry.freshUntil !== "number" || typeof entry.degraded !== "boolean" || entry.answer === undefined)
    return undefined;
  return entry as StoredAnswer<T>;
}

/**
 * The answer kept under a stale-if-error key, while it is at most STALE_IF_ERROR_S past its freshness; undefined
 * when none (or stale-if-error is off). Never reads D1.
 */
export async function lastGoodAnswer<T>(env: Bindings, key: Request): Promise<T | undefined> {
  const { staleIfErrorS } = config(env).d1;
  if (staleIfErrorS <= 0) return undefined;
  const stored = await storedAnswer<T>(key).catch(() => undefined);
  if (!stored || Date.now() > stored.freshUntil + staleIfErrorS * 1000) return undefined;
  return stored.answer;
}

/** Keeps a computed answer under its stale-if-error key: fresh-until as CACHE_TTL_S, kept STALE_IF_ERROR_S longer. */
async function storeLastGood(env: Bindings, key: Request, answer: unknown, degraded: boolean): Promise<void> {
  const { staleIfErrorS } = config(env).d1;
  if (staleIfErrorS <= 0) return;
  await putEntry(
    key,
    { answer, freshUntil: Date.now() + config(env).cache.ttlS * 1000, degraded },
    config(env).cache.ttlS + staleIfErrorS,
  );
}

/**
 * Writes the entry: fresh for CACHE_TTL_S (degraded: DEGRADED_CACHE_TTL_S), kept CACHE_SWR_S longer for
 * stale-while-revalidate unless degraded; nothing when the fresh TTL is 0. A failed write is logged, never thrown.
 */
async function storeAnswer(env: Bindings, key: Request, answer: unknown, degraded: boolean): Promise<void> {
  const { ttlS, degradedTtlS, swrS } = config(env).cache;
  const freshS = degraded ? degradedTtlS : ttlS;
  if (freshS <= 0) return;
  const keepS = degraded ? freshS : freshS + swrS;
  await putEntry(key, { answer, freshUntil: Date.now() + freshS * 1000, degraded }, keepS);
}

/** One Cache API write, kept `keepS` seconds; a failed write is logged, never thrown. */
async function putEntry(key: Request, entry: StoredAnswer<unknown>, keepS: number): Promise<void> {
  const res = new Response(JSON.stringify(entry), {
    headers: { "content-type": "application/json", "cache-control": `public, max-age=${keepS}` },
  });
  await defaultCache()
    .put(key, res)
    .catch((err: unknown) => {
      console.error("cache put failed", err);
    });
}
