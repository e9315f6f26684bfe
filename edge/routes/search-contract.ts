/**
 * The HTTP contract of the search surface (edge/routes/search.ts): what GET /v1/search and POST /v1/rerank accept
 * (zod; a failed parse is a 400 naming the field) and the body both answer.
 */
import { z } from "zod";
import { RERANK_MAX } from "../config";
import { describeRoute, errorSchemas, json } from "../openapi/registry";
import { storeIdSchema } from "../stores/resolve";

export const searchQuerySchema = z.object({
  q: z
    .string({ required_error: "q is required" })
    .trim()
    .min(1, "q must not be empty")
    .max(200, "q must be at most 200 characters"),
  k: z.coerce
    .number({ invalid_type_error: "k must be a number" })
    .int("k must be an integer")
    .min(1, "k must be at least 1")
    .max(100, "k must be at most 100")
    .default(20),
  user: z.string().trim().min(1).max(128, "user must be at most 128 characters").optional(),
  /** the storefront (default: the default store); unknown → 404 unknown_store */
  store: storeIdSchema.optional(),
});

export const rerankBodySchema = z.object({
  query: z
    .string({ required_error: "query is required" })
    .trim()
    .min(1, "query must not be empty")
    .max(200, "query must be at most 200 characters"),
  candidates: z
    .array(z.string().min(1, "candidate ids must not be empty").max(64, "candidate ids are at most 64 characters"), {
      required_error: "candidates is required",
    })
    .min(1, "candidates must hold at least 1 id")
    .max(RERANK_MAX, `candidates must hold at most ${RERANK_MAX} ids`),
  user: z.string().trim().min(1).max(128).optional(),
  /** the storefront whose products the candidates are and whose experiment ranks them (default: the default store) */
  store: storeIdSchema.optional(),
});

const rankedItemSchema = z.object({
  id: z.string(),
  title: z.string(),
  brand: z.string(),
  price: z.number().nullable(),
  score: z.number().openapi({ description: "the value the final position was decided by" }),
  scores: z.object({ retrieval: z.number(), light: z.number(), heavy: z.number().nullable() }),
});

export const searchResponseSchema = z.object({
  items: z.array(rankedItemSchema),
  variant: z.string(),
  experiment: z.string(),
  models: z.object({ light: z.string(), heavy: z.string() }),
  degraded: z.boolean(),
  degradedReason: z.string().optional().openapi({ description: "comma-separated, e.g. gpu_timeout" }),
  requestId: z.string(),
});

export type SearchResponseBody = z.infer<typeof searchResponseSchema>;

/** A response body as the cache keeps it: without the per-request id. */
export type Answer = Omit<SearchResponseBody, "requestId">;

const cacheHeader = {
  "x-vitrine-cache": {
    description: "HIT | STALE | MISS | COLLAPSED | BYPASS (edge/cache/response-cache.ts)",
    schema: { type: "string" as const },
  },
};

describeRoute({
  method: "get",
  path: "/v1/search",
  access: "public",
  summary: "Search in a store: FTS5 retrieval → light ONNX → heavy GPU re-rank → top k (cached, collapsed)",
  query: searchQuerySchema,
  responses: {
    200: { ...json("the ranked answer (degraded: light ranking only)", searchResponseSchema), headers: cacheHeader },
    404: json("the store does not exist (error unknown_store)", errorSchemas.NotFound),
  },
});

describeRoute({
  method: "post",
  path: "/v1/rerank",
  access: "public",
  summary: "The search cascade on exactly the caller's candidates, products of one store (not cached)",
  body: rerankBodySchema,
  responses: {
    200: json("the candidates ranked", searchResponseSchema),
    400: json(
      "invalid input, or candidate ids that are not the store's (error unknown_candidates, listed in `unknown`)",
      z.object({
        error: z.string(),
        message: z.string(),
        issues: z.array(z.object({ path: z.string(), message: z.string(), code: z.string() })),
        unknown: z.array(z.string()).optional(),
        requestId: z.string().optional(),
      }),
    ),
    404: json("the store does not exist (error unknown_store)", errorSchemas.NotFound),
  },
});
