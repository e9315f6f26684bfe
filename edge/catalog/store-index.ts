/**
 * Each store's full-text index (edge/catalog/store-index.sql, shared with the pipeline): its FTS5 table name, and the
 * statements that create it with the triggers that keep it in step with the store's rows of `products`. The
 * retrieval SQL (edge/search/*.sql) names the table as `{{fts}}`; `withStoreIndex` fills it in.
 */
import qualityIndexSql from "./quality-index.sql";
import qualityKeySql from "./quality-key.sql";
import storeIndexSql from "./store-index.sql";

/** A store id as the catalogue API accepts it: the only ids that ever reach a table name or a trigger. */
export const STORE_ID = /^[a-z0-9][a-z0-9-]{1,62}$/;

const BREAKPOINT = "--> statement-breakpoint";

/**
 * The FTS5 table of a store's products: products_fts_<id with each "-" as "__">. One-to-one (ids hold no "_"), and
 * never another store's FTS5 shadow table: those add a single "_" and a word (`_data`, `_idx`, …) to a table name,
 * while every run of underscores a store id yields has an even length.
 */
export function ftsTable(store: string): string {
  if (!STORE_ID.test(store)) throw new Error(`not a store id: ${JSON.stringify(store)}`);
  return `products_fts_${store.replaceAll("-", "__")}`;
}

const filled = new Map<string, Map<string, string>>();

/** `sql` with the store's FTS table in place of {{fts}} (memoised per statement and store). */
export function withStoreIndex(sql: string, store: string): string {
  let byStore = filled.get(sql);
  if (!byStore) filled.set(sql, (byStore = new Map()));
  let out = byStore.get(store);
  if (out === undefined) byStore.set(store, (out = sql.replaceAll("{{fts}}", ftsTable(store))));
  return out;
}

const QUALITY_KEY = qualityKeySql.replace(/^--.*$/gm, "").trim();

/** The statements of an index file for a store: {{fts}}, {{store}} and {{key:ROW}} (quality-key.sql) filled in. */
function indexStatements(sql: string, store: string): string[] {
  const fts = ftsTable(store);
  return sql
    .split(BREAKPOINT)
    .map((s) =>
      s
        .replace(/^--.*$/gm, "")
        .replaceAll("{{fts}}", fts)
        .replaceAll("{{store}}", store)
        .replaceAll(/\{\{key:(\w+)\}\}/g, (_, row: string) => QUALITY_KEY.replaceAll("{{row}}", row))
        .trim(),
    )
    .filter((s) => s !== "");
}

/** The statements that create a store's index (each idempotent). */
export function storeIndexStatements(store: string): string[] {
  return indexStatements(storeIndexSql, store);
}

/** The statements that create a store's quality-ordered index (quality-index.sql; each idempotent). */
export function qualityIndexStatements(store: string): string[] {
  return indexStatements(qualityIndexSql, store);
}

/**
 * Stores this isolate saw without their quality-ordered index (created before migration 0019, not written since),
 * and when: retrieval reads them the unbounded way without a failing statement per request, and looks for the index
 * again after RECHECK_MS or once this isolate created it.
 */
const seenWithoutQualityIndex = new Map<string, number>();
const RECHECK_MS = 60_000;

export const qualityIndex = {
  missing(store: string): void {
    seenWithoutQualityIndex.set(store, Date.now());
  },
  mayExist(store: string): boolean {
    const at = seenWithoutQualityIndex.get(store);
    return at === undefined || Date.now() - at > RECHECK_MS;
  },
};

/**
 * Creates the store's index and its quality-ordered index with their triggers (idempotent: a store that has them
 * keeps them; a store whose products predate its quality-ordered index gets them indexed there once).
 */
export async function ensureStoreIndex(db: D1Database, store: string): Promise<void> {
  await db.batch([...storeIndexStatements(store), ...qualityIndexStatements(store)].map((s) => db.prepare(s)));
  seenWithoutQualityIndex.delete(store);
}
