/**
 * Candidate rows from D1. The SQL is shared verbatim with the Python pipeline (imported as Text modules), so the
 * bm25 features the light model was trained on are the ones computed here; `{{fts}}` is the store's own FTS5 table
 * (edge/catalog/store-index.ts). Raw prepared statements: drizzle does not model FTS5.
 */
import { byShard } from "../catalog/shards";
import { ftsTable, qualityIndex, withStoreIndex } from "../catalog/store-index";
import candidatesSql from "./candidates.sql";
import type { CandidateRow } from "./features";
import boundedSql from "./retrieve-bounded.sql";
import retrieveSql from "./retrieve.sql";
import {
  type Bm25Stats,
  matchTerms,
  readStats,
  rescore,
  shardRetrievalN,
  statsStatements,
  storeScoreBound,
  sumStats,
} from "./shard-bm25";

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

type StoreStats = { parts: Bm25Stats[]; store: Bm25Stats };
/** Statistics read at a known catalogue version, by store, version and terms (oldest dropped past STATS_CACHE). */
const statsCache = new Map<string, StoreStats>();
const STATS_CACHE = 2_000;

/**
 * Each shard's bm25 statistics for the query's terms, and the store's: their sum (edge/search/shard-bm25.ts). With
 * the store's catalogue version they are kept per isolate until it changes: only writes change them, and every
 * write bumps it (an isolate sees another's write within CONFIG_VERSION_CHECK_S, as the response cache does).
 */
async function shardStats(
  shards: readonly D1Database[],
  store: string,
  terms: readonly string[],
  version?: number,
): Promise<StoreStats> {
  const key = version === undefined ? null : `${store}@${version}|${terms.join(" ")}`;
  const held = key === null ? undefined : statsCache.get(key);
  if (held) return held;
  const fts = ftsTable(store);
  const parts = await Promise.all(shards.map(async (db) => readStats(await db.batch(statsStatements(db, fts, terms)))));
  const stats = { parts, store: sumStats(parts) };
  if (key !== null) {
    if (statsCache.size >= STATS_CACHE) statsCache.delete(statsCache.keys().next().value!);
    statsCache.set(key, stats);
  }
  return stats;
}

/**
 * Retrieval over a sharded store (edge/catalog/shards.ts): each shard's best rows and its bm25 statistics in
 * parallel; every row re-scored with the whole store's statistics (edge/search/shard-bm25.ts) and merged best first
 * (equal scores by id), a shard read further (4× its last limit) while a row it has not returned could still enter
 * the top `n` — the single database's list and scores.
 */
export async function retrieveFromShards(
  shards: readonly D1Database[],
  store: string,
  match: string,
  n: number,
  firstPass = 0,
  version?: number,
): Promise<CandidateRow[]> {
  const terms = matchTerms(match);
  const limits = shards.map(() => shardRetrievalN(n));
  const read = (s: number) => retrieveCandidates(shards[s]!, store, match, limits[s]!, firstPass);
  const [first, stats] = await Promise.all([
    Promise.all(shards.map((_, s) => read(s))),
    shardStats(shards, store, terms, version),
  ]);
  // each shard's rows, re-scored once as they are read, and what its unread rows can score at most (from its last
  // row's own score, taken before the re-score replaces it; 0 when it returned every row it has)
  const lists: CandidateRow[][] = [];
  const bounds: number[] = [];
  const take = (s: number, rows: CandidateRow[]) => {
    const last = rows.length < limits[s]! ? 0 : (rows[rows.length - 1]!.bm25 ?? 0);
    bounds[s] = storeScoreBound(last, stats.parts[s]!, stats.store);
    lists[s] = rescore(rows, terms, stats.store);
  };
  first.forEach((rows, s) => take(s, rows));
  for (;;) {
    const merged = lists.flat().sort(bestFirst).slice(0, n);
    const last = merged.length < n ? 0 : (merged[n - 1]!.bm25 ?? 0);
    const again = bounds.flatMap((b, s) => (b > 0 && (b >= last || merged.length < n) ? [s] : []));
    if (again.length === 0) return merged;
    for (const s of again) limits[s] = limits[s]! * 4;
    const more = await Promise.all(again.map(read));
    again.forEach((s, i) => take(s, more[i]!));
  }
}

/** fetchCandidates over a sharded store: each id asked of its own shard only, scored with the store's statistics. */
export async function fetchFromShards(
  shards: readonly D1Database[],
  store: string,
  match: string,
  ids: readonly string[],
  version?: number,
): Promise<CandidateRow[]> {
  const parts = byShard(ids, (id) => id, shards.length);
  const terms = matchTerms(match);
  const [lists, stats] = await Promise.all([
    Promise.all(parts.map((part, s) => (part.length === 0 ? [] : fetchCandidates(shards[s]!, store, match, part)))),
    shardStats(shards, store, terms, version),
  ]);
  return rescore(lists.flat(), terms, stats.store);
}
