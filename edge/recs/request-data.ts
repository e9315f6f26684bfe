/**
 * What one recommendation request reads from D1 before any ranking, in one batch: the store (resolved by
 * edge/stores/resolve.ts) with the recs-light version its tables belong to (`recs_current`), and — for a user — that
 * user's history rows in the store and MF vector of that version. Products and rows of other stores are never read.
 */
import { and, eq, sql, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { recsCurrent, recsHistory, recsVectors, stores } from "../db/schema";
import type { HistoryRow } from "./history";

export interface StoreRow {
  id: string;
  /** the recs-light version whose rows the store serves (null: the store has no recommendation tables) */
  version: string | null;
}

export interface RequestData {
  /** null: no such store */
  store: StoreRow | null;
  history: HistoryRow[];
  userVector: Float32Array | null;
}

/** `store`: an id resolveStore (edge/stores/resolve.ts) accepted. */
export async function readRequestData(db: D1Database, store: string, user: string | undefined): Promise<RequestData> {
  const orm = drizzle(db);
  const storeId: SQL = sql`${store}`;
  const storeQuery = orm
    .select({ id: stores.id, version: recsCurrent.modelVersion })
    .from(stores)
    .leftJoin(recsCurrent, eq(recsCurrent.store, stores.id))
    .where(sql`${stores.id} = ${storeId}`)
    .limit(1);
  if (user === undefined) {
    const [row] = await storeQuery;
    return { store: row ?? null, history: [], userVector: null };
  }
  const [storeRows, history, vectors] = await orm.batch([
    storeQuery,
    orm
      .select({ itemId: recsHistory.itemId, n: recsHistory.n, lastDay: recsHistory.lastDay, qty: recsHistory.qty })
      .from(recsHistory)
      .where(and(sql`${recsHistory.store} = ${storeId}`, eq(recsHistory.userId, user))),
    orm
      .select({ vector: recsVectors.vector })
      .from(recsVectors)
      .where(
        and(
          sql`${recsVectors.store} = ${storeId}`,
          sql`${recsVectors.modelVersion} = (SELECT model_version FROM recs_current WHERE store = ${storeId})`,
          eq(recsVectors.kind, "user"),
          eq(recsVectors.key, user),
        ),
      )
      .limit(1),
  ]);
  const vec = vectors[0]?.vector;
  return {
    store: storeRows[0] ?? null,
    history,
    userVector: vec ? Float32Array.from(JSON.parse(vec) as number[]) : null,
  };
}
