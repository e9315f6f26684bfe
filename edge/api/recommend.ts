/**
 * The recommendation surface's HTTP contract: GET /v1/recommend (handler: edge/routes/recommend.ts; the answer:
 * edge/recs/answer.ts; CONTRACTS.md C5b).
 */
import { MAX_CART, MODES } from "../recs/answer";
import { SOURCES, type Source } from "../recs/sources/scored";
import { defineRoute, errorSchemas, json, z } from "./openapi";
import { k, productId, storeId, user } from "./params";
import { cacheHeader, servedFields } from "./search";

export const recommendQuerySchema = z.object({
  store: storeId.optional(),
  user: user.optional(),
  k,
  item: productId.optional(),
  cart: z
    .string()
    .transform((s) => s.split(",").map((x) => x.trim()))
    .pipe(
      z
        .array(productId, { invalid_type_error: "cart must be a comma-separated list of product ids" })
        .min(1, "cart must hold at least 1 id")
        .max(MAX_CART, `cart must hold at most ${MAX_CART} ids`),
    )
    .optional()
    .openapi({ description: `a basket: ≤ ${MAX_CART} comma-separated product ids` }),
});

const itemSchema = z.object({
  id: z.string(),
  title: z.string(),
  price: z.number().nullable(),
  score: z.number().openapi({ description: "light + w × heavy over the heavy top M, else light" }),
  scores: z.object({
    ...(Object.fromEntries(SOURCES.map((s) => [s, z.number()])) as Record<Source, z.ZodNumber>),
    light: z.number(),
    heavy: z.number().nullable(),
  }),
  sources: z.array(z.enum(SOURCES)).openapi({ description: "the candidate sources that proposed the item" }),
});

const recommendResponseSchema = z
  .object({
    items: z.array(itemSchema),
    store: z.string(),
    mode: z.enum(MODES),
    personalised: z
      .boolean()
      .openapi({ description: "false: the answer is the same for everyone asking it (cacheable)" }),
    variant: z.string(),
    experiment: z.string(),
    models: z
      .object({ light: z.string(), heavy: z.string(), data: z.string().nullable() })
      .openapi({ description: "data: the recs-light version of the store's D1 tables" }),
    ...servedFields,
  })
  .openapi("RecommendAnswer");

export const recommendRoute = defineRoute("public", "get", "/recommend", {
  summary:
    "Recommendations: D1 candidate sources → recs-light ONNX → recs-heavy sequence model on the GPU tier → top k",
  request: { query: recommendQuerySchema },
  responses: {
    200: {
      ...json("the ranked recommendations (degraded: light ranking only)", recommendResponseSchema),
      headers: cacheHeader("HIT | STALE | MISS | COLLAPSED (non-personalised answers) | BYPASS (personalised)"),
    },
    404: json("unknown store (error unknown_store)", errorSchemas.NotFound),
  },
});
