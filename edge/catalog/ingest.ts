/**
 * Writing a store's catalogue (Meilisearch's documents API is the model: a batch in, a result per document out):
 *  - parseNdjson / arrayItems: the lines of a request body, numbered from 1 (a blank NDJSON line keeps its number);
 *  - validateBatch: each line parsed and validated on its own — a bad line is reported with its number and id and
 *    never half-applied, a repeated id is reported at its second line; good lines become rows (edge/catalog/product.ts);
 *  - upsertRows / deleteIds: one D1 batch (a transaction) per request. An upsert changes a row only when a column
 *    differs (`ON CONFLICT … DO UPDATE … WHERE`), so re-sending a batch changes nothing — no row, no trigger, no
 *    catalogue version. Every statement that changed a row bumps the store's catalogue version in the same batch
 *    (`changes()` of the statement before), the version the response cache keys carry (edge/catalog/version.ts).
 */
import { productRow, productSchema, ROW_COLUMNS, type ProductRow } from "./product";
import { noteCatalogVersion } from "./version";

/** The most products one request may carry (NDJSON lines or array items); more is a 413. */
export const MAX_PRODUCTS_PER_REQUEST = 10_000;
/** UTF-8 bytes of JSON per upsert statement: under D1's 2 MB bound-value limit with room to spare. */
const CHUNK_BYTES = 900_000;
const utf8 = new TextEncoder();

export type BatchItem = { line: number; value: unknown } | { line: number; error: string };

export interface Rejected {
  line: number;
  id?: string;
  error: string;
}

/** NDJSON → numbered items (blank lines skipped; a line that is not JSON is an item with its error). */
export function parseNdjson(text: string): BatchItem[] {
  const out: BatchItem[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "") return;
    try {
      out.push({ line: i + 1, value: JSON.parse(line) as unknown });
    } catch {
      out.push({ line: i + 1, error: "not valid JSON" });
    }
  });
  return out;
}

/** `{"products": [...]}` items, numbered from 1 by position. */
export function arrayItems(values: readonly unknown[]): BatchItem[] {
  return values.map((value, i) => ({ line: i + 1, value }));
}

const idOf = (v: unknown): string | undefined =>
  v && typeof v === "object" && "id" in v && typeof v.id === "string" ? v.id.trim() : undefined;

export function validateBatch(items: readonly BatchItem[]): { rows: ProductRow[]; rejected: Rejected[] } {
  const rows: ProductRow[] = [];
  const rejected: Rejected[] = [];
  const firstLine = new Map<string, number>();
  for (const item of items) {
    if ("error" in item) {
      rejected.push({ line: item.line, error: item.error });
      continue;
    }
    const parsed = productSchema.safeParse(item.value);
    if (!parsed.success) {
      const id = idOf(item.value);
      const error = parsed.error.issues.map((i) => `${i.path.join(".") || "(product)"}: ${i.message}`).join("; ");
      rejected.push({ line: item.line, ...(id ? { id } : {}), error });
      continue;
    }
    const { id } = parsed.data;
    const seen = firstLine.get(id);
    if (seen !== undefined) {
      rejected.push({ line: item.line, id, error: `duplicate id in this batch (first at line ${seen})` });
      continue;
    }
    firstLine.set(id, item.line);
    rows.push(productRow(parsed.data));
  }
  return { rows, rejected };
}

const DATA_COLUMNS = ROW_COLUMNS.filter((c) => c !== "id");

/** Rows as JSON arrays in ROW_COLUMNS order, then the store and the write time. */
const UPSERT_SQL = `INSERT INTO products (${ROW_COLUMNS.join(", ")}, store, updated_at)
SELECT ${ROW_COLUMNS.map((_, i) => `json_extract(j.value, '$[${i}]')`).join(", ")}, ?2, ?3
FROM json_each(?1) AS j WHERE true
ON CONFLICT (store, id) DO UPDATE SET ${DATA_COLUMNS.map((c) => `${c} = excluded.${c}`).join(", ")}, updated_at = excluded.updated_at
WHERE ${DATA_COLUMNS.map((c) => `products.${c} IS NOT excluded.${c}`).join(" OR ")}`;

/** Bumps the store's catalogue version when the statement just before changed a row. */
const BUMP_SQL =
  "UPDATE stores SET catalog_version = catalog_version + 1, updated_at = ?2 WHERE id = ?1 AND changes() > 0";
const VERSION_SQL = "SELECT catalog_version AS version FROM stores WHERE id = ?1";
const DELETE_SQL = "DELETE FROM products WHERE store = ?1 AND id IN (SELECT value FROM json_each(?2)) RETURNING id";

/** Splits rows into JSON chunks of at most CHUNK_BYTES (UTF-8: a CJK character is 3 bytes, 1 JS unit). */
function chunks(rows: readonly ProductRow[]): string[] {
  const out: string[] = [];
  let parts: string[] = [];
  let size = 2;
  for (const row of rows) {
    const part = JSON.stringify(ROW_COLUMNS.map((c) => row[c]));
    const bytes = utf8.encode(part).length;
    if (parts.length > 0 && size + bytes + 1 > CHUNK_BYTES) {
      out.push(`[${parts.join(",")}]`);
      parts = [];
      size = 2;
    }
    parts.push(part);
    size += bytes + 1;
  }
  if (parts.length > 0) out.push(`[${parts.join(",")}]`);
  return out;
}

export interface WriteResult {
  /** rows inserted, changed or deleted */
  changed: number;
  /** the store's catalogue version after the write */
  catalogVersion: number;
}

/** Runs `writes` (each followed by a version bump if it changed a row) and reads the version, in one batch. */
async function writeBatch(db: D1Database, store: string, writes: D1PreparedStatement[], now: number) {
  const bump = db.prepare(BUMP_SQL).bind(store, now);
  const results = await db.batch([...writes.flatMap((w) => [w, bump]), db.prepare(VERSION_SQL).bind(store)]);
  const changed = writes.reduce((n, _, i) => n + (results[2 * i]!.meta.changes ?? 0), 0);
  return { results, changed, catalogVersion: versionRead(store, results[results.length - 1]!) };
}

/** The catalogue version VERSION_SQL read (0: no such store), noted for this isolate's cache keys. */
function versionRead(store: string, read: D1Result): number {
  const version = (read.results[0] as { version?: number } | undefined)?.version ?? 0;
  noteCatalogVersion(store, version);
  return version;
}

/** Upserts rows into a store (which must exist); `now` (unix ms) stamps the rows that change. */
export async function upsertRows(
  db: D1Database,
  store: string,
  rows: readonly ProductRow[],
  now = Date.now(),
): Promise<WriteResult> {
  const { changed, catalogVersion } = await writeBatch(db, store, upsertStatements(db, store, rows, now), now);
  return { changed, catalogVersion };
}

/** The upsert statements of `rows` (one per JSON chunk), for a caller that batches them itself (a shard). */
export function upsertStatements(
  db: D1Database,
  store: string,
  rows: readonly ProductRow[],
  now: number,
): D1PreparedStatement[] {
  return chunks(rows).map((json) => db.prepare(UPSERT_SQL).bind(json, store, now));
}

/** The delete statement of a store's products by id (RETURNING the ids deleted). */
export function deleteStatement(db: D1Database, store: string, ids: readonly string[]): D1PreparedStatement {
  return db.prepare(DELETE_SQL).bind(store, JSON.stringify(ids));
}

/**
 * Bumps the store's catalogue version in `db` when `changed` > 0 (rows written elsewhere: a sharded store's
 * products live in its shards, its row in DB) and returns the version.
 */
export async function bumpCatalogVersion(db: D1Database, store: string, changed: number, now: number) {
  const [, read] = await db.batch([
    db
      .prepare("UPDATE stores SET catalog_version = catalog_version + 1, updated_at = ?2 WHERE id = ?1 AND ?3 > 0")
      .bind(store, now, changed),
    db.prepare(VERSION_SQL).bind(store),
  ]);
  return versionRead(store, read!);
}

/** Deletes products of a store by id: which of `ids` were deleted (the others were not the store's). */
export async function deleteIds(
  db: D1Database,
  store: string,
  ids: readonly string[],
  now = Date.now(),
): Promise<WriteResult & { deleted: string[] }> {
  const { results, changed, catalogVersion } = await writeBatch(db, store, [deleteStatement(db, store, ids)], now);
  return { changed, catalogVersion, deleted: (results[0]!.results as { id: string }[]).map((r) => r.id) };
}
