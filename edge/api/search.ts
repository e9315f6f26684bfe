/**
 * The search surface's HTTP contract: GET /v1/search and POST /v1/rerank (handlers: edge/routes/search.ts; the
 * answers: edge/search/answer.ts). A query without searchable words is a 400 naming the field, like any failed parse.
 */
import { RERANK_MAX } from "../ranking/plan";
import { searchText } from "../search/answer";
import { defineRoute, errorSchemas, json, jsonBody, z } from "./openapi";
import { k, productId, queryText, storeId, user } from "./params";

/** A query text parsed into the search surface's form (its FTS5 match); no searchable words → 400 on `field`. */
const searchable = (field: string) =>
  queryText(field).transform((text, ctx) => {
    const parsed = searchText(text);
    if (!parsed) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${field} has no searchable words` });
    return parsed ?? z.NEVER;
  });

export const searchQuerySchema = z.object({
  q: searchable("q"),
  k,
  user: user.optional(),
  store: storeId.optional(),
});

export const rerankBodySchema = z.object({
  query: searchable("query"),
  candidates: z
    .array(productId, { required_error: "candidates is required" })
    .min(1, "candidates must hold at least 1 id")
    .max(RERANK_MAX, `candidates must hold at most ${RERANK_MAX} ids`),
  user: user.optional(),
  /** the storefront whose products the candidates are and whose experiment ranks them (default: the default store) */
  store: storeId.optional(),
});

const rankedItemSchema = z.object({
  id: z.string(),
  title: z.string(),
  brand: z.string(),
  price: z.number().nullable(),
  score: z.number().openapi({ description: "the value the final position was decided by" }),
  scores: z.object({ retrieval: z.number(), light: z.number(), heavy: z.number().nullable() }),
});

/** What every ranked answer says about degradation and the request. */
export const servedFields = {
  degraded: z.boolean(),
  degradedReason: z.string().optional().openapi({ description: "comma-separated, e.g. gpu_timeout" }),
  requestId: z.string(),
};

const searchResponseSchema = z
  .object({
    items: z.array(rankedItemSchema),
    variant: z.string(),
    experiment: z.string(),
    models: z.object({ light: z.string(), heavy: z.string() }),
    ...servedFields,
  })
  .openapi("SearchAnswer");

export const cacheHeader = (description: string) =>
  z.object({ "x-vitrine-cache": z.string().openapi({ description }) });

const unknownStore = json("the store does not exist (error unknown_store)", errorSchemas.NotFound);

export const searchRoute = defineRoute("public", "get", "/search", {
  summary: "Search in a store: FTS5 retrieval → light ONNX → heavy GPU re-rank → top k (cached, collapsed)",
  request: { query: searchQuerySchema },
  responses: {
    200: {
      ...json("the ranked answer (degraded: light ranking only)", searchResponseSchema),
      headers: cacheHeader("HIT | STALE | MISS | COLLAPSED | BYPASS (edge/cache/response-cache.ts)"),
    },
    404: unknownStore,
  },
});

export const rerankRoute = defineRoute("public", "post", "/rerank", {
  summary: "The search cascade on exactly the caller's candidates, products of one store (not cached)",
  request: { body: jsonBody(rerankBodySchema) },
  responses: {
    200: json("the candidates ranked", searchResponseSchema),
    400: json(
      "invalid input, or candidate ids that are not the store's (error unknown_candidates, listed in `unknown`)",
      errorSchemas.ValidationError.extend({ unknown: z.array(z.string()).optional() }),
    ),
    404: unknownStore,
  },
});
