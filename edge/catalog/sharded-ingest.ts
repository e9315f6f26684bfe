/**
 * Catalogue writes for any store, sharded or not (edge/catalog/shards.ts): an unsharded store's go to DB as one
 * batch (edge/catalog/ingest.ts); a sharded store's are split by the shard of each product id, each shard's part is
 * one batch in that shard (the shards are written in parallel; a batch is atomic within its shard only), and the
 * store's catalogue version in DB is bumped once when any shard changed a row.
 */
import type { Bindings } from "../env";
import {
  bumpCatalogVersion,
  deleteIds,
  deleteStatement,
  upsertRows,
  upsertStatements,
  type WriteResult,
} from "./ingest";
import type { ProductRow } from "./product";
import { byShard, catalogShards } from "./shards";

/** Upserts rows into a store (which must exist), routed to its shards when it is sharded. */
export async function upsertProducts(
  env: Bindings,
  store: string,
  rows: readonly ProductRow[],
  now = Date.now(),
): Promise<WriteResult> {
  const shards = catalogShards(env, store);
  if (!shards) return upsertRows(env.DB, store, rows, now);
  const parts = byShard(rows, (r) => r.id, shards.length);
  const results = await Promise.all(
    parts.map((part, s) => (part.length === 0 ? [] : shards[s]!.batch(upsertStatements(shards[s]!, store, part, now)))),
  );
  const changed = results.flat().reduce((n, r) => n + (r.meta.changes ?? 0), 0);
  return { changed, catalogVersion: await bumpCatalogVersion(env.DB, store, changed, now) };
}

/** Deletes products of a store by id (each from its own shard when the store is sharded). */
export async function deleteProducts(
  env: Bindings,
  store: string,
  ids: readonly string[],
  now = Date.now(),
): Promise<WriteResult & { deleted: string[] }> {
  const shards = catalogShards(env, store);
  if (!shards) return deleteIds(env.DB, store, ids, now);
  const parts = byShard(ids, (id) => id, shards.length);
  const results = await Promise.all(
    parts.map((part, s) => (part.length === 0 ? null : deleteStatement(shards[s]!, store, part).all<{ id: string }>())),
  );
  const deleted = results.flatMap((r) => (r ? r.results.map((row) => row.id) : []));
  return {
    changed: deleted.length,
    deleted,
    catalogVersion: await bumpCatalogVersion(env.DB, store, deleted.length, now),
  };
}
