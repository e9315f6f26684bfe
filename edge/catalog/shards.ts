/**
 * A store larger than one D1 database (README "Scale"): the products of a store listed in CATALOG_SHARDED_STORES
 * live in the CATALOG_SHARD_1 … CATALOG_SHARD_n databases (wrangler.toml, each with the same migrations as DB),
 * product i in shard `shardOf(id, n)` — a hash of the product id, so a write, a delete and an id lookup each go to
 * one shard, and only retrieval (which does not know the ids) asks every shard (edge/search/retrieval.ts). The
 * store's own row (its catalogue version) stays in DB. Every other store is unsharded: its products are in DB.
 */
import { config } from "../config";
import type { Bindings } from "../env";
import { fnv1a32 } from "../fnv1a";
import { ensureStoreIndex } from "./store-index";

/** The shard bindings CATALOG_SHARD_1, CATALOG_SHARD_2, … in order, up to the first one missing. */
export function shardBindings(env: Bindings): D1Database[] {
  const bound = env as unknown as Record<string, D1Database | undefined>;
  const out: D1Database[] = [];
  for (let i = 1; bound[`CATALOG_SHARD_${i}`]; i++) out.push(bound[`CATALOG_SHARD_${i}`]!);
  return out;
}

/**
 * The databases that hold a store's products: its shards when the store is configured sharded, else `null` (the
 * store's products are in DB). A sharded store with no shard bound is a deployment error, not a request's.
 */
export function catalogShards(env: Bindings, store: string): D1Database[] | null {
  if (!config(env).catalog.shardedStores.has(store)) return null;
  const shards = shardBindings(env);
  if (shards.length === 0) throw new Error(`store ${store} is sharded but no CATALOG_SHARD_1 binding is declared`);
  return shards;
}

const utf8 = new TextEncoder();

/** The shard of a product id among `n`: FNV-1a (32-bit) of its UTF-8 bytes, mod n. Stable across isolates. */
export function shardOf(id: string, n: number): number {
  return fnv1a32(utf8.encode(id)) % n;
}

/** `items` split by the shard of their id: `out[s]` keeps the items of shard s in their given order. */
export function byShard<T>(items: readonly T[], idOf: (item: T) => string, n: number): T[][] {
  const out = Array.from({ length: n }, (): T[] => []);
  for (const item of items) out[shardOf(idOf(item), n)]!.push(item);
  return out;
}

/** The database that holds (or would hold) a store's product: its shard, or DB for an unsharded store. */
export function productDb(env: Bindings, store: string, id: string): D1Database {
  const shards = catalogShards(env, store);
  return shards ? shards[shardOf(id, shards.length)]! : env.DB;
}

/** Creates the store's full-text index in each of its shards (idempotent; nothing for an unsharded store). */
export async function ensureShardIndexes(env: Bindings, store: string): Promise<void> {
  const shards = catalogShards(env, store);
  if (shards) await Promise.all(shards.map((db) => ensureStoreIndex(db, store)));
}
