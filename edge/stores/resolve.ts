/**
 * Stores (issue 14): the `stores` table read once per isolate and refreshed after CONFIG_TTL_S, like experiment
 * configs. Every public route that takes a `store` resolves it here: none named → the default store (`esci`), a
 * known id → itself, anything else → undefined (the routes answer 404 `unknown_store`). A failed refresh keeps the
 * previous set.
 */
import type { Context } from "hono";
import { drizzle } from "drizzle-orm/d1";
import { config } from "../config";
import { stores } from "../db/schema";
import type { Bindings } from "../env";

export interface StoreSet {
  ids: ReadonlySet<string>;
  defaultId: string;
  loadedAt: number;
}

/** The store every request that names none belongs to, when the table names no default. */
export const FALLBACK_DEFAULT_STORE = "esci";

let cached: StoreSet | undefined;
let loading: Promise<StoreSet> | undefined;

async function load(db: D1Database, now: number): Promise<StoreSet> {
  const rows = await drizzle(db).select().from(stores);
  const def = rows.find((r) => r.isDefault === 1)?.id ?? FALLBACK_DEFAULT_STORE;
  return { ids: new Set([...rows.map((r) => r.id), def]), defaultId: def, loadedAt: now };
}

/** The known stores (cached per isolate for CONFIG_TTL_S; concurrent callers share one load). */
export async function storeSet(env: Bindings): Promise<StoreSet> {
  const now = Date.now();
  if (cached && now - cached.loadedAt < config(env).experiments.configTtlMs) return cached;
  loading ??= load(env.DB, now)
    .then((s) => (cached = s))
    .catch((err: unknown) => {
      if (cached) return cached;
      throw err;
    })
    .finally(() => {
      loading = undefined;
    });
  return loading;
}

/** Forgets the store set of this isolate (a store was created or changed here): the next request reloads it. */
export function invalidateStoreSet(): void {
  cached = undefined;
}

/** The store id a request means: the default when none is named; undefined when the named store does not exist. */
export function resolveStore(set: StoreSet, requested: string | undefined): string | undefined {
  if (requested === undefined) return set.defaultId;
  return set.ids.has(requested) ? requested : undefined;
}

/** The default store as this isolate last loaded it (no I/O): what a request that resolved no store counts under. */
export function defaultStore(): string {
  return cached?.defaultId ?? FALLBACK_DEFAULT_STORE;
}

/** Set by requestStore: the store a request is served for, the store its metrics sample counts under. */
export interface StoreVariables {
  store?: string;
}

/**
 * resolveStore for a request, remembered as `c.var.store` for its metrics sample (edge/middleware/request-metrics.ts).
 * undefined: the named store does not exist (the route answers unknownStore, edge/api/openapi.ts).
 */
export async function requestStore<E extends { Bindings: Bindings; Variables: StoreVariables }>(
  c: Context<E>,
  requested: string | undefined,
): Promise<string | undefined> {
  const store = resolveStore(await storeSet(c.env), requested);
  if (store !== undefined) c.set("store", store);
  return store;
}
