/**
 * The zod primitives the routes share — a store, k, a user, product ids, times, list limits, resource ids — written
 * once so every route that takes one validates it the same way and says so in the same words.
 */
import { productIdSchema } from "../catalog/product";
import { z } from "./openapi";

/** A `store` parameter or field (whether it exists is checked by edge/stores/resolve.ts → 404 unknown_store). */
export const STORE_ID_MAX = 64;
export const storeId = z
  .string()
  .trim()
  .min(1, "store must not be empty")
  .max(STORE_ID_MAX, `store must be at most ${STORE_ID_MAX} characters`)
  .openapi({ description: "a store id (default: the default store); unknown → 404 unknown_store" });

/** How many items to answer. */
export const k = z.coerce
  .number({ invalid_type_error: "k must be a number" })
  .int("k must be an integer")
  .min(1, "k must be at least 1")
  .max(100, "k must be at most 100")
  .default(20);

/** The shopper (else the anonymous `vitrine_uid` cookie decides the experiment variant). */
export const user = z.string().trim().min(1, "user must not be empty").max(128, "user must be at most 128 characters");

/** One product id (the catalogue's rule, edge/catalog/product.ts). */
export const productId = productIdSchema;

/** A query text (search q, rerank query) of 1–200 characters. */
export const queryText = (field: string) =>
  z
    .string({ required_error: `${field} is required` })
    .trim()
    .min(1, `${field} must not be empty`)
    .max(200, `${field} must be at most 200 characters`);

/** Seconds since the epoch (a time range bound). */
export const unixSeconds = z.coerce.number().int().min(0).max(4_102_444_800);

/** `?limit=` of a list: 1..max, `fallback` when absent. */
export const limit = (max: number, fallback: number) => z.coerce.number().int().min(1).max(max).default(fallback);

/** A path id of a stored resource (drill run, release): letters, digits, `_`, `-`. */
export const resourceId = (what: string) =>
  z.object({
    id: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[A-Za-z0-9_-]+$/, `malformed ${what} id`)
      .openapi({ param: { name: "id", in: "path" } }),
  });

/** A model version or similar token. */
export const versionToken = (what: string) =>
  z
    .string()
    .min(1)
    .max(200)
    .regex(/^[A-Za-z0-9._:+-]+$/, `malformed ${what}`);
