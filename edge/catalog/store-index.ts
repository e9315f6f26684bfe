/**
 * Each store's full-text index (edge/catalog/store-index.sql, shared with the pipeline): its FTS5 table name, and the
 * statements that create it with the triggers that keep it in step with the store's rows of `products`. The
 * retrieval SQL (edge/search/*.sql) names the table as `{{fts}}`; `withStoreIndex` fills it in.
 */
import storeIndexSql from "./store-index.sql";

/** A store id as the catalogue API accepts it: the only ids that ever reach a table name or a trigger. */
export const STORE_ID = /^[a-z0-9][a-z0-9-]{1,62}$/;

const BREAKPOINT = "--> statement-breakpoint";

/** The FTS5 table of a store's products: products_fts_<id with "-" as "_"> (ids hold no "_", so it is one-to-one). */
export function ftsTable(store: string): string {
  if (!STORE_ID.test(store)) throw new Error(`not a store id: ${JSON.stringify(store)}`);
  return `products_fts_${store.replaceAll("-", "_")}`;
}

const filled = new Map<string, string>();

/** `sql` with the store's FTS table in place of {{fts}} (memoised per store and statement). */
export function withStoreIndex(sql: string, store: string): string {
  const key = `${store}\u0000${sql}`;
  let out = filled.get(key);
  if (out === undefined) filled.set(key, (out = sql.replaceAll("{{fts}}", ftsTable(store))));
  return out;
}

/** The statements that create a store's index (each idempotent). */
export function storeIndexStatements(store: string): string[] {
  const fts = ftsTable(store);
  return storeIndexSql
    .split(BREAKPOINT)
    .map((s) =>
      s
        .replace(/^--.*$/gm, "")
        .replaceAll("{{fts}}", fts)
        .replaceAll("{{store}}", store)
        .trim(),
    )
    .filter((s) => s !== "");
}

/** Creates the store's index and triggers (idempotent: a store that has them keeps them). */
export async function ensureStoreIndex(db: D1Database, store: string): Promise<void> {
  await db.batch(storeIndexStatements(store).map((s) => db.prepare(s)));
}
