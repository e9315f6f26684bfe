/**
 * Stores and their catalogues, admin (bearer ADMIN_TOKEN) — the HTTP contract (handlers: edge/routes/admin-catalog.ts;
 * the domain: edge/catalog/):
 *  PUT    /admin/stores/{store}                        create (201) or update (200) a store {name, currency?}
 *  GET    /admin/stores                                every store with its product and event counts
 *  POST   /admin/stores/{store}/products               bulk upsert: NDJSON (a product a line) or {"products": […]},
 *                                                      ≤ 10,000 products / 10 MiB → {accepted, rejected, catalogVersion}
 *  GET    /admin/stores/{store}/products?cursor=&limit= export, a page at a time (rowid order; a sharded store's
 *                                                      shard by shard: edge/catalog/product-pages.ts)
 *  GET | PATCH | DELETE /admin/stores/{store}/products/{id}
 *  POST   /admin/stores/{store}/delete-products        bulk delete {ids: […]}
 */
import { STORE_ID } from "../catalog/store-index";
import { MAX_PRODUCTS_PER_REQUEST } from "../catalog/ingest";
import { PAGE_CURSOR } from "../catalog/product-pages";
import { productIdSchema, productSchema } from "../catalog/product";
import { defineRoute, errorSchemas, json, jsonBody, z } from "./openapi";

const Product = productSchema.openapi("Product");
/** A product as stored: what was sent, and when it last changed (unix ms). */
const StoredProduct = productSchema.extend({ updatedAt: z.number().int().optional() }).openapi("StoredProduct");

/** A store id in a path: what a store may be called (lower-case letters, digits, "-"; 2–63 characters). */
export const storePath = z.object({
  store: z
    .string()
    .regex(STORE_ID, "a store id is 2–63 characters of a-z, 0-9 and -, starting with a letter or digit")
    .openapi({ param: { name: "store", in: "path" } }),
});
const productPath = storePath.extend({
  id: productIdSchema.openapi({ param: { name: "id", in: "path" } }),
});

const storeSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    currency: z.string().nullable(),
    default: z.boolean(),
    products: z.number().int(),
    availableProducts: z.number().int(),
    events: z.number().int().openapi({ description: "events accepted by POST /v1/events (repeats not counted)" }),
    catalogVersion: z.number().int(),
    createdAt: z.number().int(),
    updatedAt: z.number().int(),
  })
  .openapi("Store");

export const storeInputSchema = z
  .object({
    name: z.string().trim().min(1, "name must not be empty").max(200),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, "currency is an ISO 4217 code, e.g. EUR")
      .optional(),
  })
  .strict();

const unknownStore = json("the store does not exist (error unknown_store)", errorSchemas.NotFound);
const versioned = { catalogVersion: z.number().int().openapi({ description: "the store's catalogue version now" }) };

export const putStoreRoute = defineRoute("admin", "put", "/stores/{store}", {
  summary: "Create or update a store (its name, its prices' currency)",
  request: { params: storePath, body: jsonBody(storeInputSchema) },
  responses: { 200: json("updated", storeSchema), 201: json("created", storeSchema) },
});

export const listStoresRoute = defineRoute("admin", "get", "/stores", {
  summary: "Every store with its product and event counts",
  responses: { 200: json("the stores", z.object({ stores: z.array(storeSchema) })) },
});

export const upsertProductsRoute = defineRoute("admin", "post", "/stores/{store}/products", {
  summary: `Upsert up to ${MAX_PRODUCTS_PER_REQUEST} products: a result per line, bad lines never half-applied`,
  description:
    'NDJSON (`application/x-ndjson`: one product a line) or JSON `{"products": [...]}`. Every good line lands; ' +
    "each bad one is reported with its line number (1-based; for JSON, its position), its id when it has one, and " +
    "why. Re-sending a batch changes nothing. A write bumps the store's catalogue version, so the next search or " +
    "recommendation sees it.",
  request: {
    params: storePath,
    body: {
      required: true,
      content: {
        "application/x-ndjson": { schema: Product },
        // not validated as a whole: each item is validated on its own, so one bad product does not refuse the batch
        "application/json": {
          schema: {
            type: "object",
            required: ["products"],
            properties: {
              products: {
                type: "array",
                maxItems: MAX_PRODUCTS_PER_REQUEST,
                items: { $ref: "#/components/schemas/Product" },
              },
            },
          },
        },
      },
    },
  },
  responses: {
    200: json(
      "the batch's outcome",
      z.object({
        accepted: z.number().int(),
        rejected: z.array(z.object({ line: z.number().int(), id: z.string().optional(), error: z.string() })),
        ...versioned,
      }),
    ),
    404: unknownStore,
    413: json(
      `more than ${MAX_PRODUCTS_PER_REQUEST} products, or a body over CATALOG_MAX_BODY_BYTES`,
      errorSchemas.PayloadTooLarge,
    ),
    415: json("a body that is neither NDJSON nor JSON", errorSchemas.ValidationError),
  },
});

export const listProductsRoute = defineRoute("admin", "get", "/stores/{store}/products", {
  summary: "The store's products a page at a time (export): pass nextCursor back as cursor",
  request: {
    params: storePath,
    query: z.object({
      cursor: z
        .string()
        .regex(PAGE_CURSOR, "cursor is a previous page's nextCursor: a rowid, or s<shard>:<rowid> for a sharded store")
        .optional(),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
    }),
  },
  responses: {
    200: json(
      "a page (no nextCursor: the last one)",
      z.object({ products: z.array(StoredProduct), nextCursor: z.string().optional() }),
    ),
    404: unknownStore,
  },
});

export const getProductRoute = defineRoute("admin", "get", "/stores/{store}/products/{id}", {
  summary: "One product of the store",
  request: { params: productPath },
  responses: { 200: json("the product", StoredProduct) },
});

export const patchProductRoute = defineRoute("admin", "patch", "/stores/{store}/products/{id}", {
  summary: "Change some fields of a product (price, available, text …); the rest stay",
  request: { params: productPath, body: jsonBody(productSchema.omit({ id: true }).partial().strict()) },
  responses: { 200: json("the product as it is now", z.object({ product: Product, ...versioned })) },
});

export const deleteProductRoute = defineRoute("admin", "delete", "/stores/{store}/products/{id}", {
  summary: "Delete a product from the store",
  request: { params: productPath },
  responses: { 200: json("deleted", z.object({ deleted: z.string(), ...versioned })) },
});

export const deleteProductsRoute = defineRoute("admin", "post", "/stores/{store}/delete-products", {
  summary: `Delete up to ${MAX_PRODUCTS_PER_REQUEST} products by id`,
  request: {
    params: storePath,
    body: jsonBody(z.object({ ids: z.array(productIdSchema).min(1).max(MAX_PRODUCTS_PER_REQUEST) }).strict()),
  },
  responses: {
    200: json(
      "which were deleted and which were not the store's",
      z.object({ deleted: z.array(z.string()), missing: z.array(z.string()), ...versioned }),
    ),
    404: unknownStore,
  },
});
