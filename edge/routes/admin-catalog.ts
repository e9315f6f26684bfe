/** Stores and catalogues, admin side (edge/api/admin-catalog.ts): each handler parses, calls edge/catalog/, answers. */
import type { Context } from "hono";
import {
  deleteProductRoute,
  deleteProductsRoute,
  getProductRoute,
  listProductsRoute,
  listStoresRoute,
  patchProductRoute,
  putStoreRoute,
  upsertProductsRoute,
} from "../api/admin-catalog";
import { createAdminApi, invalidRequest, unknownStore } from "../api/openapi";
import { arrayItems, MAX_PRODUCTS_PER_REQUEST, parseNdjson, validateBatch, type BatchItem } from "../catalog/ingest";
import { listStoreProducts } from "../catalog/product-pages";
import { getProduct, patchProduct } from "../catalog/products";
import { deleteProducts, upsertProducts } from "../catalog/sharded-ingest";
import { ensureShardIndexes, productDb } from "../catalog/shards";
import { listStores, putStore } from "../catalog/stores";
import type { AppEnv } from "../env";
import { resolveStoreName } from "../stores/resolve";

export const adminCatalog = createAdminApi();

/** Whether the store exists (edge/stores/resolve.ts: a store another isolate created a moment ago included). */
async function known(c: Context<AppEnv>, store: string): Promise<boolean> {
  return (await resolveStoreName(c.env, store)) !== undefined;
}

const notFound = (c: Context<AppEnv>, store: string, id: string) =>
  c.json({ error: "not_found", message: `store ${store} has no product ${JSON.stringify(id)}` }, 404);

adminCatalog.openapi(putStoreRoute, async (c) => {
  const { store } = c.req.valid("param");
  const out = await putStore(c.env.DB, store, c.req.valid("json"));
  await ensureShardIndexes(c.env, store);
  return c.json(out.store, out.created ? 201 : 200);
});

adminCatalog.openapi(listStoresRoute, async (c) => c.json({ stores: await listStores(c.env.DB) }, 200));

/** The body's products as numbered items, or why the body is not a batch. */
async function batchOf(c: Context<AppEnv>): Promise<BatchItem[] | { status: 400 | 413 | 415; message: string }> {
  const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  const text = await c.req.text();
  let items: BatchItem[];
  if (type === "application/x-ndjson" || type === "application/jsonl") items = parseNdjson(text);
  else if (type === "application/json") {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return { status: 400, message: "the body is not valid JSON" };
    }
    const products = (body as { products?: unknown } | null)?.products;
    if (!Array.isArray(products)) return { status: 400, message: 'a JSON body is {"products": [...]}' };
    items = arrayItems(products);
  } else return { status: 415, message: "send application/x-ndjson (a product a line) or application/json" };
  if (items.length > MAX_PRODUCTS_PER_REQUEST)
    return { status: 413, message: `${items.length} products: at most ${MAX_PRODUCTS_PER_REQUEST} per request` };
  return items;
}

adminCatalog.openapi(upsertProductsRoute, async (c) => {
  const { store } = c.req.valid("param");
  if (!(await known(c, store))) return unknownStore(c, [store]);
  const batch = await batchOf(c);
  if (!Array.isArray(batch)) {
    if (batch.status === 413)
      return c.json({ error: "payload_too_large", message: batch.message, limit: MAX_PRODUCTS_PER_REQUEST }, 413);
    if (batch.status === 415)
      return c.json({ error: "unsupported_media_type", message: batch.message, issues: [] }, 415);
    return invalidRequest(c, batch.message);
  }
  const { rows, rejected } = validateBatch(batch);
  const { catalogVersion } = await upsertProducts(c.env, store, rows);
  return c.json({ accepted: rows.length, rejected, catalogVersion }, 200);
});

adminCatalog.openapi(listProductsRoute, async (c) => {
  const { store } = c.req.valid("param");
  if (!(await known(c, store))) return unknownStore(c, [store]);
  const { cursor, limit } = c.req.valid("query");
  const page = await listStoreProducts(c.env, store, cursor, limit);
  if ("badCursor" in page)
    return invalidRequest(c, page.badCursor, [{ path: "cursor", message: page.badCursor, code: "invalid_cursor" }]);
  return c.json(page, 200);
});

adminCatalog.openapi(getProductRoute, async (c) => {
  const { store, id } = c.req.valid("param");
  const product = await getProduct(productDb(c.env, store, id), store, id);
  return product ? c.json(product, 200) : notFound(c, store, id);
});

adminCatalog.openapi(patchProductRoute, async (c) => {
  const { store, id } = c.req.valid("param");
  const out = await patchProduct(productDb(c.env, store, id), store, id, c.req.valid("json"), (rows) =>
    upsertProducts(c.env, store, rows),
  );
  if (!out) return notFound(c, store, id);
  return c.json({ product: out.product, catalogVersion: out.write.catalogVersion }, 200);
});

adminCatalog.openapi(deleteProductRoute, async (c) => {
  const { store, id } = c.req.valid("param");
  const out = await deleteProducts(c.env, store, [id]);
  if (out.deleted.length === 0) return notFound(c, store, id);
  return c.json({ deleted: id, catalogVersion: out.catalogVersion }, 200);
});

adminCatalog.openapi(deleteProductsRoute, async (c) => {
  const { store } = c.req.valid("param");
  if (!(await known(c, store))) return unknownStore(c, [store]);
  const ids = [...new Set(c.req.valid("json").ids)];
  const out = await deleteProducts(c.env, store, ids);
  const deleted = new Set(out.deleted);
  return c.json(
    { deleted: out.deleted, missing: ids.filter((id) => !deleted.has(id)), catalogVersion: out.catalogVersion },
    200,
  );
});
