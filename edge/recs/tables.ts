/**
 * The slice of one recs-light version's tables that one recommendation request needs, read per request (issue 23: no
 * whole-version load, nothing proportional to the catalogue): the item stats of the user's history and page / cart
 * items, the version's trending top list (held per isolate: the same for every request), the co-purchase and content
 * neighbours of the seed items (D1 `recs_neighbours`), the MF source's list from the ANN index (edge/recs/ann/: the
 * D1 top-N lists or Vectorize), and — once the candidates are merged — the stats of the candidates
 * (ensureCandidateStats). Every read is by primary key or the trend index, with one bound JSON list parameter
 * (json_each), so the rows read are bounded by the request (history, seeds, candidates), not by the store.
 *
 * The slice's items are indexed in item-id order (the pipeline's catalogue order), so every source breaks ties as it
 * did over the whole version's tables and as Python does (vitrine_gpu.recs.sources).
 */
import { and, desc, eq, gte, gt, inArray, sql, type AnyColumn, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { RecsSourceSettings } from "../generated/models";
import { recsItemStats, recsNeighbours } from "../db/schema";
import type { AnnIndex, AnnMatch } from "./ann/types";
import { userHistory, type HistoryRow, type UserHistory } from "./history";
import { seedsOf } from "./seeds";
import type { Scored } from "./sources/scored";

export type NeighbourKind = "copurchase" | "content";
const KINDS: readonly NeighbourKind[] = ["copurchase", "content"];

/** One item's neighbours, most similar first (indices into ItemTables.ids; sims as float32 like the pipeline's). */
export interface NeighbourList {
  ids: Int32Array;
  sims: Float32Array;
}

export interface ItemTables {
  store: string;
  version: string;
  /** the request's items in catalogue (sorted) order; an item's index is its position here */
  ids: string[];
  index: Map<string, number>;
  /** item stats (0 until read: `held`) */
  popAll: Float32Array;
  popRecent: Float32Array;
  trend: Float32Array;
  repeatRate: Float32Array;
  price: Float32Array;
  /** sold before the version's cut (pop_all > 0) */
  sold: Uint8Array;
  /** 1: the item's stats row is read */
  held: Uint8Array;
  /** the version's trending items (trend > 0), by trend descending (ties: catalogue order), the first perSource */
  trending: Int32Array;
  /** the MF source's items for this request (the ANN index's answer), best first */
  mf: Scored;
  /** neighbour lists of the seed items: key kind + index */
  neighbours: Map<string, NeighbourList>;
}

export interface RequestTablesInput {
  store: string;
  version: string;
  user: string | undefined;
  /** the user's MF vector of the version (request-data.ts), null when none */
  userVector: Float32Array | null;
  history: readonly HistoryRow[];
  /** page / cart item ids */
  contextIds: readonly string[];
  settings: RecsSourceSettings;
  /** the version's clock (days) */
  now: number;
}

export interface RequestTables {
  tables: ItemTables;
  history: UserHistory | null;
  /** the page / cart items of the version (indices) */
  context: number[];
  /** whether the ANN index knows the user (their MF list / vector) */
  knownUser: boolean;
}

/** The request's guarded D1 read (edge/db/guarded.ts D1Reader.read). */
export type Read = <T>(query: (db: D1Database) => Promise<T>) => Promise<T>;

type StatRow = typeof recsItemStats.$inferSelect;

const EMPTY_LIST: NeighbourList = { ids: new Int32Array(0), sims: new Float32Array(0) };
const nbKey = (kind: NeighbourKind, item: number): string => `${kind}:${item}`;
const inJson = (col: AnyColumn, ids: readonly string[]): SQL =>
  sql`${col} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`;
const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

// each read awaits its drizzle query: a query builder is a thenable that runs again on every then()/catch()
async function statsOf(db: D1Database, store: string, version: string, ids: readonly string[]): Promise<StatRow[]> {
  if (ids.length === 0) return [];
  const t = recsItemStats;
  return await drizzle(db)
    .select()
    .from(t)
    .where(and(eq(t.store, store), eq(t.modelVersion, version), inJson(t.itemId, ids)));
}

/**
 * The version's k most trending items (trend > 0), ties in catalogue order: the rows whose trend reaches the k-th
 * largest (or the smallest positive one when fewer trend), read down the trend index — k rows + ties — sorted here.
 * The outer query has the one lower bound on trend, so SQLite's range scan starts there (with `trend > 0` beside it,
 * it may pick that bound and read every trending row).
 */
async function trendingTop(db: D1Database, store: string, version: string, k: number): Promise<StatRow[]> {
  const t = recsItemStats;
  const version_ = and(eq(t.store, store), eq(t.modelVersion, version));
  const orm = drizzle(db);
  const kth = orm
    .select({ trend: t.trend })
    .from(t)
    .where(and(version_, gt(t.trend, 0)))
    .orderBy(desc(t.trend))
    .limit(1)
    .offset(Math.max(k - 1, 0));
  const least = orm
    .select({ trend: sql`min(${t.trend})` })
    .from(t)
    .where(and(version_, gt(t.trend, 0)));
  const rows = await orm
    .select()
    .from(t)
    .where(and(version_, gte(t.trend, sql`coalesce((${kth}), (${least}))`)));
  return rows.sort((a, b) => b.trend - a.trend || byId(a.itemId, b.itemId)).slice(0, k);
}

const MAX_TRENDING_HELD = 16;
const trendingHeld = new Map<string, Promise<StatRow[]>>();

/** trendingTop, held per isolate per version and k (a version's rows never change; a failed read does not stick). */
function trendingOf(read: Read, store: string, version: string, k: number): Promise<StatRow[]> {
  const key = `${store}\u0000${version}\u0000${k}`;
  let rows = trendingHeld.get(key);
  if (!rows) {
    if (trendingHeld.size >= MAX_TRENDING_HELD) trendingHeld.delete(trendingHeld.keys().next().value!);
    rows = read((db) => trendingTop(db, store, version, k));
    rows.catch(() => trendingHeld.delete(key));
    trendingHeld.set(key, rows);
  }
  return rows;
}

interface NeighbourRow {
  kind: string;
  itemId: string;
  neighbourId: string;
  score: number;
}

async function neighbourRows(
  db: D1Database,
  store: string,
  version: string,
  ids: readonly string[],
): Promise<NeighbourRow[]> {
  if (ids.length === 0) return [];
  const t = recsNeighbours;
  return await drizzle(db)
    .select({ kind: t.kind, itemId: t.itemId, neighbourId: t.neighbourId, score: t.score })
    .from(t)
    .where(
      and(
        eq(t.store, store),
        eq(t.modelVersion, version),
        inArray(t.kind, [...KINDS]), // the kind before the item id: a primary-key lookup per (kind, item)
        inJson(t.itemId, ids),
      ),
    )
    .orderBy(t.kind, t.itemId, t.rank);
}

/** A slice over `ids` (sorted, unique) with the stats of `rows`. */
function sliceOf(store: string, version: string, ids: string[], rows: readonly StatRow[]): ItemTables {
  const n = ids.length;
  const t: ItemTables = {
    store,
    version,
    ids,
    index: new Map(ids.map((id, i) => [id, i])),
    popAll: new Float32Array(n),
    popRecent: new Float32Array(n),
    trend: new Float32Array(n),
    repeatRate: new Float32Array(n),
    price: new Float32Array(n),
    sold: new Uint8Array(n),
    held: new Uint8Array(n),
    trending: new Int32Array(0),
    mf: { items: new Int32Array(0), scores: new Float32Array(0) },
    neighbours: new Map(),
  };
  holdStats(t, rows);
  return t;
}

function holdStats(t: ItemTables, rows: readonly StatRow[]): void {
  for (const r of rows) {
    const i = t.index.get(r.itemId);
    if (i === undefined) continue;
    t.popAll[i] = r.popAll;
    t.popRecent[i] = r.popRecent;
    t.trend[i] = r.trend;
    t.repeatRate[i] = r.repeatRate;
    t.price[i] = r.price;
    t.sold[i] = r.popAll > 0 ? 1 : 0;
    t.held[i] = 1;
  }
}

/** The MF source's list: the user's when the index knows them, else the seeds' weighted mean. */
async function mfMatches(
  ann: AnnIndex,
  input: RequestTablesInput,
  seeds: { ids: string[]; weights: number[] },
): Promise<{ matches: AnnMatch[]; knownUser: boolean }> {
  const scope = { store: input.store, version: input.version };
  const k = input.settings.perSource;
  if (input.user !== undefined) {
    const own = await ann.queryUser(scope, input.user, input.userVector, k);
    if (own) return { matches: own, knownUser: true };
  }
  return { matches: await ann.querySeeds(scope, seeds, k), knownUser: false };
}

/**
 * Reads the request's slice: (1) the stats of its history and page / cart items and the trending top list, (2) the
 * seeds' neighbour lists and the MF list, in parallel. The candidates' stats come later (ensureCandidateStats).
 */
export async function requestTables(read: Read, ann: AnnIndex, input: RequestTablesInput): Promise<RequestTables> {
  const { store, version, settings } = input;
  const asked = [...new Set([...input.history.map((r) => r.itemId), ...input.contextIds])];
  const [own, trending] = await Promise.all([
    read((db) => statsOf(db, store, version, asked)),
    trendingOf(read, store, version, settings.perSource),
  ]);
  // the seeds as the sources weigh them, over the items of the version (a slice of just those)
  const known = sliceOf(store, version, own.map((r) => r.itemId).sort(byId), own);
  const h0 = userHistory(input.history, known.index, input.now, settings.recencyTauDays);
  const ctx0 = input.contextIds.flatMap((id) => (known.index.has(id) ? [known.index.get(id)!] : []));
  const seeds0 = seedsOf(h0, ctx0);
  const seedIds = seeds0.items.map((i) => known.ids[i]!);
  const [nbRows, mf] = await Promise.all([
    read((db) => neighbourRows(db, store, version, [...new Set(seedIds)])),
    mfMatches(ann, input, { ids: seedIds, weights: seeds0.weights }),
  ]);
  const all = new Set(known.ids);
  for (const r of nbRows) all.add(r.neighbourId);
  for (const m of mf.matches) all.add(m.id);
  for (const r of trending) all.add(r.itemId);
  const t = sliceOf(store, version, [...all].sort(byId), [...own, ...trending]);
  t.trending = Int32Array.from(trending, (r) => t.index.get(r.itemId)!);
  const mfItems = mf.matches.filter((m) => t.index.has(m.id));
  t.mf = {
    items: Int32Array.from(mfItems, (m) => t.index.get(m.id)!),
    scores: Float32Array.from(mfItems, (m) => m.score),
  };
  const lists = new Map<string, { ids: number[]; sims: number[] }>();
  for (const r of nbRows) {
    const item = t.index.get(r.itemId)!;
    const key = nbKey(r.kind as NeighbourKind, item);
    let l = lists.get(key);
    if (!l) lists.set(key, (l = { ids: [], sims: [] }));
    l.ids.push(t.index.get(r.neighbourId)!);
    l.sims.push(r.score);
  }
  for (const id of new Set(seedIds)) {
    const i = t.index.get(id)!;
    for (const kind of KINDS) {
      const l = lists.get(nbKey(kind, i));
      holdNeighbours(t, kind, i, l ? { ids: Int32Array.from(l.ids), sims: Float32Array.from(l.sims) } : EMPTY_LIST);
    }
  }
  const history = userHistory(input.history, t.index, input.now, settings.recencyTauDays);
  const context = input.contextIds.flatMap((id) => (known.index.has(id) ? [t.index.get(id)!] : []));
  return { tables: t, history, context, knownUser: mf.knownUser };
}

/** Reads (one query) the stats of `items` not read yet: the merged candidates, before their features. */
export async function ensureCandidateStats(read: Read, t: ItemTables, items: Iterable<number>): Promise<void> {
  const missing = [...new Set(items)].filter((i) => t.held[i] === 0).map((i) => t.ids[i]!);
  if (missing.length === 0) return;
  holdStats(t, await read((db) => statsOf(db, t.store, t.version, missing)));
}

/** Keeps an item's neighbour list in the request's tables (requestTables; the bench builds tables in memory). */
export function holdNeighbours(t: ItemTables, kind: NeighbourKind, item: number, list: NeighbourList): void {
  t.neighbours.set(nbKey(kind, item), list);
}

/** An item's neighbours of a kind (empty when none, or not a seed of the request). */
export function neighboursOf(t: ItemTables, kind: NeighbourKind, item: number): NeighbourList {
  return t.neighbours.get(nbKey(kind, item)) ?? EMPTY_LIST;
}
