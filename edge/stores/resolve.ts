/**
 * Stores (issue 14): the `stores` table read once per isolate and refreshed after CONFIG_TTL_S, like experiment
 * configs. Every route that takes a `store` resolves it here (resolveStoreName): none named → the default store
 * (`esci`), a known id → itself; a name this isolate does not know is looked up in D1 once — a store another isolate
 * created since is found at once — and anything else → undefined (the routes answer 404 `unknown_store`; the same
 * unknown name is not looked up again for CONFIG_VERSION_CHECK_S). A failed refresh keeps the previous set.
 */
import type { Context } from "hono";
import { drizzle } from "drizzle-orm/d1";
import { config } from "../config";
import { D1Unavailable, readD1 } from "../db/guarded";
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
/** bumped by invalidateStoreSet: a load that started before never becomes the cached set */
let generation = 0;

async function load(db: D1Database, now: number): Promise<StoreSet> {
  const rows = await drizzle(db).select().from(stores);
  const def = rows.find((r) => r.isDefault === 1)?.id ?? FALLBACK_DEFAULT_STORE;
  return { ids: new Set([...rows.map((r) => r.id), def]), defaultId: def, loadedAt: now };
}

/** The known stores (cached per isolate for CONFIG_TTL_S; concurrent callers share one load). */
export async function storeSet(env: Bindings): Promise<StoreSet> {
  const now = Date.now();
  if (cached && now - cached.loadedAt < config(env).experiments.configTtlMs) return cached;
  const gen = generation;
  loading ??= readD1(env, (db) => load(db, now))
    .then((s) => (gen === generation ? (cached = s) : s))
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
  generation += 1;
  cached = undefined;
  loading = undefined;
}

/** names D1 did not know, and when it said so */
const absent = new Map<string, number>();
const MAX_ABSENT = 1_000;

/**
 * The store id a request means (resolveStore), and for a name this isolate does not know, one indexed look in D1: a
 * store created since this isolate loaded the set (by another isolate) is found at once. While D1 is unavailable
 * (edge/db/guarded.ts) a name that cannot be checked is taken as given (and none named is the default store as this
 * isolate last knew it): such a request is served only from what was cached for that name, never a 500.
 */
export async function resolveStoreName(env: Bindings, requested: string | undefined): Promise<string | undefined> {
  try {
    return await checkedStoreName(env, requested);
  } catch (err) {
    if (!(err instanceof D1Unavailable)) throw err;
    return requested ?? defaultStore();
  }
}

async function checkedStoreName(env: Bindings, requested: string | undefined): Promise<string | undefined> {
  const known = resolveStore(await storeSet(env), requested);
  if (known !== undefined || requested === undefined) return known;
  const now = Date.now();
  const saidAbsent = absent.get(requested);
  if (saidAbsent !== undefined && now - saidAbsent < config(env).experiments.versionCheckMs) return undefined;
  const row = await readD1(env, (db) => db.prepare("SELECT id FROM stores WHERE id = ?1").bind(requested).first());
  if (!row) {
    if (absent.size >= MAX_ABSENT) absent.clear();
    absent.set(requested, now);
    return undefined;
  }
  absent.delete(requested);
  invalidateStoreSet();
  return requested;
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
  const store = await resolveStoreName(c.env, requested);
  if (store !== undefined) c.set("store", store);
  return store;
}
