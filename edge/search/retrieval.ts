/**
 * Candidate rows from D1. The SQL is shared verbatim with the Python pipeline (imported as Text modules), so the
 * bm25 features the light model was trained on are the ones computed here. Raw prepared statements: drizzle does
 * not model FTS5.
 */
import candidatesSql from "./candidates.sql";
import type { CandidateRow } from "./features";
import retrieveSql from "./retrieve.sql";

/** Top `n` FTS5 matches of the match expression among the store's products, best bm25 first. */
export async function retrieveCandidates(
  db: D1Database,
  store: string,
  match: string,
  n: number,
): Promise<CandidateRow[]> {
  const { results } = await db.prepare(retrieveSql).bind(match, n, store).all<CandidateRow>();
  return results;
}

/**
 * Rows for exactly the given product ids (those that exist), with bm25 = 0 for the ones the query does not
 * match. Order is unspecified; callers compare ids themselves. Product ids are unique across stores (products.id is
 * UNIQUE), so a caller's id list names its store's products.
 */
export async function fetchCandidates(db: D1Database, match: string, ids: readonly string[]): Promise<CandidateRow[]> {
  const { results } = await db.prepare(candidatesSql).bind(match, JSON.stringify(ids)).all<CandidateRow>();
  return results;
}
