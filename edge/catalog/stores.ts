/**
 * Stores through the API: create or update one (its full-text index is created with it, edge/catalog/store-index.ts),
 * list them with their product and event counts. The per-isolate store set every public route resolves against
 * (edge/stores/resolve.ts) is refreshed by the isolate that wrote, and by the others within CONFIG_TTL_S.
 */
import { invalidateStoreSet } from "../stores/resolve";
import { ensureStoreIndex } from "./store-index";

export interface StoreInput {
  name: string;
  currency?: string | undefined;
}

export interface StoreView {
  id: string;
  name: string;
  currency: string | null;
  /** the store requests that name none belong to */
  default: boolean;
  products: number;
  availableProducts: number;
  events: number;
  catalogVersion: number;
  createdAt: number;
  updatedAt: number;
}

interface StoreRow {
  id: string;
  title: string;
  currency: string | null;
  is_default: number;
  catalog_version: number;
  event_count: number;
  created_at: number;
  updated_at: number;
}

/**
 * Creates the store, or updates its name and currency; `created` tells which. The index is ensured either way (a store
 * created before its index existed — the shipped ones, by migration — gets it here).
 */
export async function putStore(
  db: D1Database,
  id: string,
  input: StoreInput,
  now = Date.now(),
): Promise<{ created: boolean; store: StoreView }> {
  await ensureStoreIndex(db, id);
  const [existing] = await db.batch([
    db.prepare("SELECT id FROM stores WHERE id = ?1").bind(id),
    db
      .prepare(
        `INSERT INTO stores (id, title, currency, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (id) DO UPDATE SET title = excluded.title, currency = excluded.currency, updated_at = excluded.updated_at`,
      )
      .bind(id, input.name, input.currency ?? null, now),
  ]);
  invalidateStoreSet();
  return { created: existing!.results.length === 0, store: (await getStore(db, id))! };
}

const LIST_SQL = `SELECT s.id, s.title, s.currency, s.is_default, s.catalog_version, s.event_count, s.created_at,
  s.updated_at, (SELECT count(*) FROM products p WHERE p.store = s.id) AS products,
  (SELECT count(*) FROM products p WHERE p.store = s.id AND p.available = 1) AS available_products
FROM stores s`;

type ListedRow = StoreRow & { products: number; available_products: number };

function view(r: ListedRow): StoreView {
  return {
    id: r.id,
    name: r.title,
    currency: r.currency,
    default: r.is_default === 1,
    products: r.products,
    availableProducts: r.available_products,
    events: r.event_count,
    catalogVersion: r.catalog_version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export async function listStores(db: D1Database): Promise<StoreView[]> {
  const { results } = await db.prepare(`${LIST_SQL} ORDER BY s.id`).all<ListedRow>();
  return results.map(view);
}

export async function getStore(db: D1Database, id: string): Promise<StoreView | undefined> {
  const row = await db.prepare(`${LIST_SQL} WHERE s.id = ?1`).bind(id).first<ListedRow>();
  return row ? view(row) : undefined;
}
