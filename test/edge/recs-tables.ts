/**
 * Loads a recs-light version's edge tables (the `tables.json` shape the pipeline exports as recs.sql,
 * vitrine_gpu/recs/d1.py) into local D1 through the real schema, for a store and version; `prefix` renames every
 * item id (a second store with its own catalogue). Used by the recommend tests and bench.
 */
import type { RecsSourceSettings } from "../../edge/generated/models";

export interface TablesJson {
  now: number;
  config: Record<string, number>;
  items: Record<string, { pop_all: number; pop_recent: number; trend: number; repeat_rate: number; price: number }>;
  copurchase: Record<string, [string, number][]>;
  content: Record<string, [string, number][]>;
  item_vectors: Record<string, number[]>;
  user_vectors: Record<string, number[]>;
  history: Record<string, [string, number, number, number][]>;
  /** recs_mf_top rows (vitrine_gpu.recs.mf_top): kind, key, items JSON, scores JSON */
  mf_top?: [string, string, string, string][];
}

export function settingsOf(t: TablesJson): RecsSourceSettings {
  return {
    now: t.now,
    recencyTauDays: t.config.recency_tau_days!,
    perSource: t.config.per_source!,
    maxHistory: t.config.max_history!,
    maxCandidates: t.config.max_candidates!,
  };
}

export async function loadRecsTables(
  db: D1Database,
  t: TablesJson,
  store: string,
  version: string,
  prefix = "",
): Promise<void> {
  const p = (id: string): string => prefix + id;
  const stmts: D1PreparedStatement[] = [
    db.prepare("INSERT OR IGNORE INTO stores (id, title, is_default) VALUES (?1, ?1, 0)").bind(store),
    db.prepare("DELETE FROM recs_history WHERE store = ?1").bind(store),
    ...["recs_item_stats", "recs_neighbours", "recs_vectors", "recs_mf_top"].map((tb) =>
      db.prepare(`DELETE FROM ${tb} WHERE store = ?1 AND model_version = ?2`).bind(store, version),
    ),
  ];
  const hist = db.prepare(
    "INSERT INTO recs_history (store, user_id, item_id, n, last_day, qty) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
  );
  for (const [user, rows] of Object.entries(t.history))
    for (const [item, n, last, qty] of rows) stmts.push(hist.bind(store, user, p(item), n, last, qty));
  const stats = db.prepare(
    "INSERT INTO recs_item_stats (store, model_version, item_id, pop_all, pop_recent, trend, repeat_rate, price) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
  );
  for (const [item, s] of Object.entries(t.items))
    stmts.push(stats.bind(store, version, p(item), s.pop_all, s.pop_recent, s.trend, s.repeat_rate, s.price));
  const nb = db.prepare(
    "INSERT INTO recs_neighbours (store, model_version, kind, item_id, rank, neighbour_id, score) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
  );
  for (const kind of ["copurchase", "content"] as const)
    for (const [item, list] of Object.entries(t[kind]))
      list.forEach(([other, score], rank) => stmts.push(nb.bind(store, version, kind, p(item), rank, p(other), score)));
  const vec = db.prepare(
    "INSERT INTO recs_vectors (store, model_version, kind, key, vector) VALUES (?1, ?2, ?3, ?4, ?5)",
  );
  for (const [item, v] of Object.entries(t.item_vectors))
    stmts.push(vec.bind(store, version, "item", p(item), JSON.stringify(v)));
  for (const [user, v] of Object.entries(t.user_vectors))
    stmts.push(vec.bind(store, version, "user", user, JSON.stringify(v)));
  const top = db.prepare(
    "INSERT INTO recs_mf_top (store, model_version, kind, key, items, scores) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
  );
  for (const [kind, key, items, scores] of t.mf_top ?? []) {
    const ids = (JSON.parse(items) as string[]).map(p);
    stmts.push(top.bind(store, version, kind, kind === "item" ? p(key) : key, JSON.stringify(ids), scores));
  }
  stmts.push(
    db
      .prepare(
        "INSERT INTO recs_current (store, model_version) VALUES (?1, ?2) ON CONFLICT(store) DO UPDATE SET model_version = excluded.model_version",
      )
      .bind(store, version),
  );
  for (let i = 0; i < stmts.length; i += 500) await db.batch(stmts.slice(i, i + 500));
}

/**
 * A store with recommendation tables and its products (only a store's available products are recommended): what the
 * recommend_* drill scenarios and the D1-outage tests probe.
 */
export async function insertRecsStore(db: D1Database, t: TablesJson, store: string, version: string): Promise<void> {
  await loadRecsTables(db, t, store, version);
  const stmt = db.prepare("INSERT OR IGNORE INTO products (id, title, price, store) VALUES (?1, ?2, ?3, ?4)");
  await db.batch(Object.keys(t.items).map((id) => stmt.bind(id, `Retail item ${id}`, 1.5, store)));
}
