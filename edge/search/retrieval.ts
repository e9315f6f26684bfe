/**
 * Candidate rows from D1. The SQL is shared verbatim with the Python pipeline (imported as Text modules), so the
 * bm25 features the light model was trained on are the ones computed here; `{{fts}}` is the store's own FTS5 table
 * (edge/catalog/store-index.ts). Raw prepared statements: drizzle does not model FTS5.
 */
import { withStoreIndex } from "../catalog/store-index";
import candidatesSql from "./candidates.sql";
import type { CandidateRow } from "./features";
import retrieveSql from "./retrieve.sql";

/** Top `n` FTS5 matches of the match expression among the store's available products, best bm25 first. */
export async function retrieveCandidates(
  db: D1Database,
  store: string,
  match: string,
  n: number,
): Promise<CandidateRow[]> {
  const { results } = await db.prepare(withStoreIndex(retrieveSql, store)).bind(match, n, store).all<CandidateRow>();
  return results;
}

/**
 * candidates.sql kept to one store's available products. The shared file stays verbatim (the pipeline reads it and
 * hashes it into its cache keys; offline pools have no store), so the store filter wraps it: ?3 = the store.
 */
const storeCandidatesSql = `SELECT c.* FROM (\n${candidatesSql}\n) AS c
WHERE c.rowid IN (SELECT rowid FROM products WHERE store = ?3 AND available = 1 AND id IN (SELECT value FROM json_each(?2)))`;

/**
 * Rows for exactly the given product ids that are available in the store, with bm25 = 0 for the ones the query does
 * not match. Order is unspecified; callers compare ids themselves (an id of another store, or an unavailable product,
 * comes back as missing).
 */
export async function fetchCandidates(
  db: D1Database,
  store: string,
  match: string,
  ids: readonly string[],
): Promise<CandidateRow[]> {
  const { results } = await db
    .prepare(withStoreIndex(storeCandidatesSql, store))
    .bind(match, JSON.stringify(ids), store)
    .all<CandidateRow>();
  return results;
}
