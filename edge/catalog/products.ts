/**
 * Reading and changing single products of a store, and the export: every write goes through the one upsert
 * (edge/catalog/ingest.ts) — a patch is the stored product with the patch's fields, mapped again (token columns,
 * is_book) and upserted.
 */
import { upsertRows, type WriteResult } from "./ingest";
import { productOf, productRow, ROW_COLUMNS, type Product, type ProductRow } from "./product";

export type StoredRow = ProductRow & { rowid: number; updated_at: number };

const SELECT = `SELECT rowid, ${ROW_COLUMNS.join(", ")}, updated_at FROM products`;

export async function getProduct(db: D1Database, store: string, id: string) {
  const row = await db.prepare(`${SELECT} WHERE store = ?1 AND id = ?2`).bind(store, id).first<StoredRow>();
  return row ? productOf(row) : undefined;
}

/** The fields a patch may change (not the id). */
export type ProductPatch = Partial<Omit<Product, "id">>;

/**
 * The product with `patch` applied; undefined when the store has no such product. `write` upserts the row (a sharded
 * store's: edge/catalog/sharded-ingest.ts, with `db` the product's shard).
 */
export async function patchProduct(
  db: D1Database,
  store: string,
  id: string,
  patch: ProductPatch,
  write: (rows: ProductRow[]) => Promise<WriteResult> = (rows) => upsertRows(db, store, rows),
): Promise<{ product: Product; write: WriteResult } | undefined> {
  const current = await getProduct(db, store, id);
  if (!current) return undefined;
  // the patch was validated by its route; the stored fields are what was loaded (a pipeline row may hold what the
  // API would refuse, e.g. an empty title): merged as they are, so a patch can always take a product off sale
  const { updatedAt: _, ...fields } = current;
  const product: Product = { ...fields, ...patch, id };
  return { product, write: await write([productRow(product)]) };
}

/** Up to `limit` of the store's rows in one database, in rowid order, after rowid `after` (0: from the first). */
export async function rowsAfter(db: D1Database, store: string, after: number, limit: number): Promise<StoredRow[]> {
  const { results } = await db
    .prepare(`${SELECT} WHERE store = ?1 AND rowid > ?2 ORDER BY rowid LIMIT ?3`)
    .bind(store, after, limit)
    .all<StoredRow>();
  return results;
}

/**
 * One page of an unsharded store's products in rowid order; `cursor` is the last rowid of the previous page (a
 * sharded store's pages: edge/catalog/product-pages.ts).
 */
export async function listProducts(db: D1Database, store: string, cursor: number, limit: number) {
  const results = await rowsAfter(db, store, cursor, limit);
  const last = results.length === limit ? results[results.length - 1]!.rowid : undefined;
  return { products: results.map(productOf), ...(last !== undefined ? { nextCursor: String(last) } : {}) };
}
