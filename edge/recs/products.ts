/** Titles and prices of recommended items: the request's store's available products only (one query). */
import { and, eq, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { products } from "../db/schema";

export interface ProductInfo {
  title: string;
  price: number | null;
}

export async function productInfo(
  db: D1Database,
  store: string,
  ids: readonly string[],
): Promise<Map<string, ProductInfo>> {
  if (ids.length === 0) return new Map();
  const rows = await drizzle(db)
    .select({ id: products.id, title: products.title, price: products.price })
    .from(products)
    .where(
      and(
        eq(products.store, store),
        eq(products.available, 1),
        sql`${products.id} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`,
      ),
    );
  return new Map(rows.map((r) => [r.id, { title: r.title, price: r.price }]));
}
