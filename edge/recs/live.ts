/**
 * Live recommendation tables for any store, before any training: every minute the scheduled worker rebuilds, from the
 * store's own events in D1 (POST /v1/events: purchases and add-to-carts in recs_history, clicks in recs_views), the
 * tables the recommendation sources read — per item its popularity (all time, last 30 days), a time-decayed trend
 * (τ = 14 days), repeat rate and price, from purchases as the pipeline's `fit_tables` defines them
 * (vitrine_gpu.recs.sources), and its top 50 co-purchase / co-view neighbours (cosine over the users who bought,
 * carted or viewed both; served as the "copurchase" source) — minus MF vectors and content neighbours.
 *
 * They are written as a recs version of their own, `live-<event count>`, and the store's `recs_current` points at
 * it, so /v1/recommend answers the store (trending, item page, cart, history) within one cron run of its first
 * events, ranked by the bundled recs-light model on the same sources. A store with a trained version (the pipeline
 * loaded one) keeps it: live tables are built only for stores whose current version is live or absent. The work is
 * bounded per run (a few stores, users with at most MAX_BASKET items in the pair count, the newest MAX_PAIR_ROWS rows)
 * and each store's rebuild is one read and one D1 batch of a few set-based statements, whatever its size.
 */
import type { Bindings } from "../env";

export const LIVE_PREFIX = "live-";
export const TREND_TAU_DAYS = 14;
export const POPULARITY_DAYS = 30;
export const NEIGHBOURS = 50;
/** stores rebuilt per run: the never-built first, then a random pick of the stale ones (no store starves) */
export const MAX_STORES_PER_RUN = 4;
/** users with more distinct items than this are left out of the co-purchase pair count (quadratic in basket size) */
export const MAX_BASKET = 200;
/**
 * the co-purchase / co-view pairs are counted over the store's newest (by last day) this many (user, item) rows of
 * purchases, carts and views, so a rebuild's work is bounded whatever the store's size (item statistics still read
 * every purchase: one grouped scan); a store past it is served its recent co-purchases (README "Scale")
 */
export const MAX_PAIR_ROWS = 100_000;

const DAY_MS = 86_400_000;

export function isLive(version: string | null | undefined): boolean {
  return version?.startsWith(LIVE_PREFIX) ?? false;
}

/** The stores whose live tables are stale: no trained version, and events since their live version was built. */
const STALE_SQL = `SELECT s.id AS store, s.event_count AS events FROM stores s
LEFT JOIN recs_current c ON c.store = s.id
WHERE s.event_count > 0 AND (c.model_version IS NULL OR (c.model_version LIKE '${LIVE_PREFIX}%'
  AND c.model_version <> '${LIVE_PREFIX}' || s.event_count))
ORDER BY c.model_version IS NOT NULL, random() LIMIT ?1`;

/** ?1 store, ?2 version, ?3 now (days since 1970-01-01): every item with an event; the stats count purchases */
const STATS_SQL = `INSERT INTO recs_item_stats (store, model_version, item_id, pop_all, pop_recent, trend, repeat_rate, price)
SELECT ?1, ?2, i.item_id, coalesce(h.pop_all, 0), coalesce(h.pop_recent, 0), coalesce(h.trend, 0),
       coalesce(h.repeat_rate, 0), coalesce((SELECT p.price FROM products p WHERE p.store = ?1 AND p.id = i.item_id), 0)
FROM (SELECT item_id FROM recs_history WHERE store = ?1 UNION SELECT item_id FROM recs_views WHERE store = ?1) AS i
LEFT JOIN (
  SELECT item_id, sum(n) AS pop_all, sum(CASE WHEN last_day >= ?3 - ${POPULARITY_DAYS} THEN n ELSE 0 END) AS pop_recent,
         sum(n * exp(-(?3 - last_day) / ${TREND_TAU_DAYS}.0)) AS trend,
         CAST(sum(n >= 2) AS REAL) / max(sum(n >= 1), 1) AS repeat_rate
  FROM recs_history WHERE store = ?1 GROUP BY item_id
) AS h ON h.item_id = i.item_id`;

/**
 * ?1 store, ?2 version, ?3 the first day counted (CUTOFF_SQL): cosine of two items' user sets (bought, carted or
 * viewed since that day), top NEIGHBOURS per item. A pair's
 * partner side is read from the tables through their (store, user_id, item_id) keys, not by joining the `basket` CTE
 * to itself: SQLite builds no index on a materialised CTE and scanned it once per row — quadratic in the store's
 * events (92,130 history rows: 240 s before, 14.6 s after, same rows; README "Scale").
 */
const NEIGHBOURS_SQL = `INSERT INTO recs_neighbours (store, model_version, kind, item_id, rank, neighbour_id, score)
WITH seen AS (
  SELECT user_id, item_id FROM recs_history WHERE store = ?1 AND last_day >= ?3
  UNION SELECT user_id, item_id FROM recs_views WHERE store = ?1 AND last_day >= ?3
), basket AS (
  SELECT user_id, item_id FROM seen
  WHERE user_id IN (SELECT user_id FROM seen GROUP BY user_id HAVING count(*) <= ${MAX_BASKET})
), buyers AS (SELECT item_id, count(*) AS n FROM basket GROUP BY item_id),
pairs AS (
  SELECT item, nb, count(*) AS both_n FROM (
    SELECT a.item_id AS item, h.item_id AS nb, a.user_id AS user_id FROM basket a
    JOIN recs_history h ON h.store = ?1 AND h.user_id = a.user_id AND h.item_id <> a.item_id AND h.last_day >= ?3
    UNION
    SELECT a.item_id, v.item_id, a.user_id FROM basket a
    JOIN recs_views v ON v.store = ?1 AND v.user_id = a.user_id AND v.item_id <> a.item_id AND v.last_day >= ?3
  ) GROUP BY item, nb
), scored AS (
  SELECT p.item, p.nb, p.both_n / sqrt(CAST(x.n AS REAL) * y.n) AS score
  FROM pairs p JOIN buyers x ON x.item_id = p.item JOIN buyers y ON y.item_id = p.nb
)
SELECT ?1, ?2, 'copurchase', item, rank, nb, score FROM (
  SELECT item, nb, score, row_number() OVER (PARTITION BY item ORDER BY score DESC, nb) AS rank FROM scored
) WHERE rank <= ${NEIGHBOURS}`;

/** ?1 store, ?2 MAX_PAIR_ROWS: the last day of the store's newest ?2 (user, item) rows (0: it has no more than that) */
const CUTOFF_SQL = `SELECT CASE WHEN count(*) < ?2 THEN 0 ELSE min(last_day) END AS cutoff FROM (
  SELECT last_day FROM (
    SELECT last_day FROM recs_history WHERE store = ?1 UNION ALL SELECT last_day FROM recs_views WHERE store = ?1
  ) ORDER BY last_day DESC LIMIT ?2
)`;

/** ?1 store, ?2 version: point the store at the new live version unless it serves a trained one */
const CURRENT_SQL = `INSERT INTO recs_current (store, model_version) VALUES (?1, ?2)
ON CONFLICT (store) DO UPDATE SET model_version = excluded.model_version
WHERE recs_current.model_version LIKE '${LIVE_PREFIX}%'`;

/** ?1 store, ?2 the version to keep */
const PRUNE_SQL = ["recs_item_stats", "recs_neighbours"].map(
  (t) => `DELETE FROM ${t} WHERE store = ?1 AND model_version LIKE '${LIVE_PREFIX}%' AND model_version <> ?2`,
);

/**
 * Rebuilds one store's live tables (one batch: a transaction) as version `live-<events>`; the pairs over the newest
 * `maxPairRows` (user, item) rows.
 */
export async function buildLiveTables(
  db: D1Database,
  store: string,
  events: number,
  nowMs: number,
  maxPairRows = MAX_PAIR_ROWS,
): Promise<string> {
  const version = `${LIVE_PREFIX}${events}`;
  const now = nowMs / DAY_MS;
  const cutoff = (await db.prepare(CUTOFF_SQL).bind(store, maxPairRows).first<{ cutoff: number }>())?.cutoff ?? 0;
  await db.batch([
    ...PRUNE_SQL.map((sql) => db.prepare(sql).bind(store, "")), // a half-built earlier run of this version too
    db.prepare(STATS_SQL).bind(store, version, now),
    db.prepare(NEIGHBOURS_SQL).bind(store, version, cutoff),
    db.prepare(CURRENT_SQL).bind(store, version),
  ]);
  return version;
}

/** The EVERY_MINUTE job: the stale stores' live tables, a few per run. */
export async function refreshLiveRecs(env: Bindings, _ctx: ExecutionContext, scheduledTime: number): Promise<void> {
  const { results } = await env.DB.prepare(STALE_SQL).bind(MAX_STORES_PER_RUN).all<{ store: string; events: number }>();
  for (const { store, events } of results) {
    try {
      const version = await buildLiveTables(env.DB, store, events, scheduledTime);
      console.log(JSON.stringify({ event: "recs_live_built", store, version }));
    } catch (err) {
      // one store's failure (e.g. a statement past D1's limits) keeps its previous tables and never blocks the others
      console.error(JSON.stringify({ event: "recs_live_failed", store, error: String(err) }));
    }
  }
}
