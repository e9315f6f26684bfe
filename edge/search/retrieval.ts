/**
 * Candidate rows from D1. The SQL is shared verbatim with the Python pipeline (imported as Text modules), so the
 * bm25 features the light model was trained on are the ones computed here; `{{fts}}` is the store's own FTS5 table
 * (edge/catalog/store-index.ts). Raw prepared statements: drizzle does not model FTS5.
 */
import { byShard } from "../catalog/shards";
import { qualityIndex, withStoreIndex } from "../catalog/store-index";
import candidatesSql from "./candidates.sql";
import type { CandidateRow } from "./features";
import boundedSql from "./retrieve-bounded.sql";
import retrieveSql from "./retrieve.sql";

/**
 * Top `n` FTS5 matches of the match expression among the store's available products, best bm25 first.
 * `firstPass` > 0: retrieve-bounded.sql, which reads at most that many of the query's matches, best quality first —
 * the same rows as retrieve.sql whenever the query matches no more (README "Scale"); a store without its
 * quality-ordered index yet (created before migration 0019, not written since) is read by retrieve.sql (remembered
 * for a minute: one failing statement, not one per request). 0: retrieve.sql.
 */
export async function retrieveCandidates(
  db: D1Database,
  store: string,
  match: string,
  n: number,
  firstPass = 0,
): Promise<CandidateRow[]> {
  if (firstPass > 0 && qualityIndex.mayExist(store)) {
    try {
      const stmt = db.prepare(withStoreIndex(boundedSql, store)).bind(match, n, store, firstPass);
      const { results } = await stmt.all<CandidateRow>();
      return results;
    } catch (err) {
      if (!/no such table/.test(String(err))) throw err;
      qualityIndex.missing(store);
    }
  }
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

/** Best first: bm25 descending, equal scores by product id (retrieve.sql's order). */
const bestFirst = (a: CandidateRow, b: CandidateRow) =>
  (b.bm25 ?? 0) - (a.bm25 ?? 0) || (String(a.id) < String(b.id) ? -1 : String(a.id) > String(b.id) ? 1 : 0);

/**
 * Retrieval over a sharded store (edge/catalog/shards.ts): each shard's top `n` in parallel, merged by bm25 (equal
 * scores by id) and cut to `n`. Each shard scores with its own bm25 statistics (document count, average length, the
 * terms' document frequencies): the merged list is the single database's exactly when those agree up to one factor
 * for the query's terms — always for a one-term query over shards of equal statistics; under a hash split, only
 * approximately (README "Scale" measures how often the top n differs, and what exact merging would need).
 */
export async function retrieveFromShards(
  shards: readonly D1Database[],
  store: string,
  match: string,
  n: number,
  firstPass = 0,
): Promise<CandidateRow[]> {
  const lists = await Promise.all(shards.map((db) => retrieveCandidates(db, store, match, n, firstPass)));
  return lists.flat().sort(bestFirst).slice(0, n);
}

/** fetchCandidates over a sharded store: each id asked of its own shard only. */
export async function fetchFromShards(
  shards: readonly D1Database[],
  store: string,
  match: string,
  ids: readonly string[],
): Promise<CandidateRow[]> {
  const parts = byShard(ids, (id) => id, shards.length);
  const lists = await Promise.all(
    parts.map((part, s) => (part.length === 0 ? [] : fetchCandidates(shards[s]!, store, match, part))),
  );
  return lists.flat();
}
