/**
 * The item tables of one recs-light version of a store (D1 `recs_item_stats`, `recs_vectors` kind "item",
 * `recs_neighbours`), held per isolate keyed by store + model version: the stats and the MF item vectors load once
 * (two queries), neighbour lists load on demand for the items a request seeds from (one batched query per request
 * for the ones not yet held). Items are indexed in StockCode order, the pipeline's catalogue order, so ties break
 * as in Python (vitrine_gpu.recs.sources).
 */
import { and, asc, eq, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { recsItemStats, recsNeighbours, recsVectors } from "../db/schema";

export type NeighbourKind = "copurchase" | "content";

/** One item's neighbours, most similar first (indices into ItemTables.ids; sims as float32 like the pipeline's). */
export interface NeighbourList {
  ids: Int32Array;
  sims: Float32Array;
}

export interface ItemTables {
  store: string;
  version: string;
  /** item ids in catalogue (sorted) order; an item's index is its position here */
  ids: string[];
  index: Map<string, number>;
  popAll: Float32Array;
  popRecent: Float32Array;
  trend: Float32Array;
  repeatRate: Float32Array;
  price: Float32Array;
  /** MF factors per item vector (0 when the version has none) */
  factors: number;
  /** [items × factors] row-major; rows of unsold items are zero */
  vectors: Float32Array;
  /** items with a sale before the version's cut (pop_all > 0), ascending */
  soldItems: Int32Array;
  sold: Uint8Array;
  /** every item with trend > 0, by trend descending (ties: catalogue order) */
  trending: Int32Array;
  /** neighbour lists held so far: key kind + index */
  neighbours: Map<string, NeighbourList>;
}

const EMPTY_LIST: NeighbourList = { ids: new Int32Array(0), sims: new Float32Array(0) };
const MAX_VERSIONS = 4;
const held = new Map<string, Promise<ItemTables>>();

const nbKey = (kind: NeighbourKind, item: number): string => `${kind}:${item}`;

async function loadItemTables(db: D1Database, store: string, version: string): Promise<ItemTables> {
  const orm = drizzle(db);
  const [stats, vecs] = await orm.batch([
    orm
      .select()
      .from(recsItemStats)
      .where(and(eq(recsItemStats.store, store), eq(recsItemStats.modelVersion, version))),
    orm
      .select({ key: recsVectors.key, vector: recsVectors.vector })
      .from(recsVectors)
      .where(and(eq(recsVectors.store, store), eq(recsVectors.modelVersion, version), eq(recsVectors.kind, "item"))),
  ]);
  stats.sort((a, b) => (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0));
  const n = stats.length;
  const ids = stats.map((s) => s.itemId);
  const index = new Map(ids.map((id, i) => [id, i]));
  const col = (f: (s: (typeof stats)[number]) => number): Float32Array => Float32Array.from(stats, f);
  const popAll = col((s) => s.popAll);
  const trend = col((s) => s.trend);
  const parsed = vecs.map((v) => ({ i: index.get(v.key), v: JSON.parse(v.vector) as number[] }));
  const factors = parsed.reduce((m, p) => Math.max(m, p.v.length), 0);
  const vectors = new Float32Array(n * factors);
  for (const p of parsed) if (p.i !== undefined) vectors.set(p.v.slice(0, factors), p.i * factors);
  const sold = Uint8Array.from(popAll, (p) => (p > 0 ? 1 : 0));
  const soldItems = Int32Array.from(ids.keys()).filter((i) => sold[i] === 1);
  const trending = Int32Array.from(ids.keys())
    .filter((i) => trend[i]! > 0)
    .sort((a, b) => trend[b]! - trend[a]! || a - b);
  return {
    store,
    version,
    ids,
    index,
    popAll,
    popRecent: col((s) => s.popRecent),
    trend,
    repeatRate: col((s) => s.repeatRate),
    price: col((s) => s.price),
    factors,
    vectors,
    soldItems,
    sold,
    trending,
    neighbours: new Map(),
  };
}

/** The version's item tables, loaded once per isolate (concurrent first requests share the load). */
export function itemTables(db: D1Database, store: string, version: string): Promise<ItemTables> {
  const key = `${store}\u0000${version}`;
  let t = held.get(key);
  if (!t) {
    if (held.size >= MAX_VERSIONS) held.delete(held.keys().next().value!);
    t = loadItemTables(db, store, version);
    t.catch(() => held.delete(key)); // a failed load must not stick
    held.set(key, t);
  }
  return t;
}

/** Loads (one query) the copurchase and content neighbours of `items` that this isolate does not hold yet. */
export async function ensureNeighbours(db: D1Database, t: ItemTables, items: Iterable<number>): Promise<void> {
  const missing = [...new Set(items)].filter((i) => !t.neighbours.has(nbKey("copurchase", i)));
  if (missing.length === 0) return;
  const rows = await drizzle(db)
    .select({
      kind: recsNeighbours.kind,
      itemId: recsNeighbours.itemId,
      neighbourId: recsNeighbours.neighbourId,
      score: recsNeighbours.score,
    })
    .from(recsNeighbours)
    .where(
      and(
        eq(recsNeighbours.store, t.store),
        eq(recsNeighbours.modelVersion, t.version),
        sql`${recsNeighbours.itemId} IN (SELECT value FROM json_each(${JSON.stringify(missing.map((i) => t.ids[i]))}))`,
      ),
    )
    .orderBy(asc(recsNeighbours.kind), asc(recsNeighbours.itemId), asc(recsNeighbours.rank));
  const lists = new Map<string, { ids: number[]; sims: number[] }>();
  for (const r of rows) {
    const item = t.index.get(r.itemId);
    const nb = t.index.get(r.neighbourId);
    if (item === undefined || nb === undefined || (r.kind !== "copurchase" && r.kind !== "content")) continue;
    const key = nbKey(r.kind, item);
    let l = lists.get(key);
    if (!l) lists.set(key, (l = { ids: [], sims: [] }));
    l.ids.push(nb);
    l.sims.push(r.score);
  }
  for (const i of missing) {
    for (const kind of ["copurchase", "content"] as const) {
      const l = lists.get(nbKey(kind, i));
      holdNeighbours(t, kind, i, l ? { ids: Int32Array.from(l.ids), sims: Float32Array.from(l.sims) } : EMPTY_LIST);
    }
  }
}

/** Keeps an item's neighbour list in the isolate's tables (ensureNeighbours; the bench builds tables in memory). */
export function holdNeighbours(t: ItemTables, kind: NeighbourKind, item: number, list: NeighbourList): void {
  t.neighbours.set(nbKey(kind, item), list);
}

/** An item's neighbours of a kind (empty when none, or not loaded by ensureNeighbours). */
export function neighboursOf(t: ItemTables, kind: NeighbourKind, item: number): NeighbourList {
  return t.neighbours.get(nbKey(kind, item)) ?? EMPTY_LIST;
}
