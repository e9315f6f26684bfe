/**
 * The product list of any store a page at a time (GET /admin/stores/{store}/products: the catalogue's export).
 * An unsharded store's pages are DB's rows in rowid order, its cursor the last rowid read, as it always was
 * (edge/catalog/products.ts listProducts). A sharded store's (edge/catalog/shards.ts) walk CATALOG_SHARD_1's rows in
 * rowid order, then CATALOG_SHARD_2's, …; its cursor is "s<n>:<rowid>" — the shard's binding number and the last
 * rowid read there. A page may span shards; it holds at most `limit` products, the last page has no nextCursor, and
 * a product is listed once (a product keeps its shard and its rowid when it is updated).
 */
import type { Bindings } from "../env";
import { productOf, type Product } from "./product";
import { listProducts, rowsAfter, type StoredRow } from "./products";
import { catalogShards } from "./shards";

/** A page of products; no nextCursor on the last one. */
export type ProductPage = { products: (Product & { updatedAt?: number })[]; nextCursor?: string };

/** A cursor's syntax (the route's check); what it may name depends on the store (`listStoreProducts`). */
export const PAGE_CURSOR = /^(\d+|s[1-9]\d*:\d+)$/;

/** Where a sharded store's page starts: after `rowid` in shard `shard` (0-based). */
type ShardPosition = { shard: number; rowid: number };

/**
 * One page of a sharded store's products from `from` on: each shard in order, rows in rowid order, until `limit`
 * are read. One row more is asked for, so a page that ends at the very last product has no nextCursor; a shard is
 * read only while the page is not full (at most one query per shard).
 */
export async function listShardedProducts(
  shards: readonly D1Database[],
  store: string,
  from: ShardPosition,
  limit: number,
): Promise<ProductPage> {
  const read: { shard: number; row: StoredRow }[] = [];
  for (let s = from.shard; s < shards.length && read.length <= limit; s++) {
    const rows = await rowsAfter(shards[s]!, store, s === from.shard ? from.rowid : 0, limit + 1 - read.length);
    for (const row of rows) read.push({ shard: s, row });
  }
  const page = read.slice(0, limit);
  const last = page[page.length - 1];
  const products = page.map(({ row }) => productOf(row));
  return read.length > limit && last ? { products, nextCursor: `s${last.shard + 1}:${last.row.rowid}` } : { products };
}

/**
 * A page of the store's products after `cursor` (a previous page's nextCursor; none: the first page), or why the
 * cursor is not one of this store's (a sharded store's cursor for an unsharded one or the reverse, a shard beyond
 * the store's): the route answers that 400.
 */
export async function listStoreProducts(
  env: Bindings,
  store: string,
  cursor: string | undefined,
  limit: number,
): Promise<ProductPage | { badCursor: string }> {
  const shards = catalogShards(env, store);
  const sharded = cursor?.match(/^s(\d+):(\d+)$/);
  if (!shards) {
    if (sharded) return { badCursor: `store ${store} is not sharded: a cursor ${cursor} is another store's` };
    return listProducts(env.DB, store, Number(cursor ?? 0), limit);
  }
  if (cursor === undefined) return listShardedProducts(shards, store, { shard: 0, rowid: 0 }, limit);
  if (!sharded)
    return { badCursor: `store ${store} is sharded: its cursors are s<shard>:<rowid>, a previous page's nextCursor` };
  const shard = Number(sharded[1]);
  if (shard < 1 || shard > shards.length)
    return { badCursor: `cursor ${cursor} names shard ${shard}: store ${store} has ${shards.length}` };
  return listShardedProducts(shards, store, { shard: shard - 1, rowid: Number(sharded[2]) }, limit);
}
