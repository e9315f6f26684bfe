/**
 * The HTTP contract of GET /v1/recommend (edge/routes/recommend.ts): the query (zod; a failed parse is a 400 naming
 * the field) and the body it answers (CONTRACTS.md C5b).
 */
import { z } from "zod";
import { describeRoute, errorSchemas, json } from "../openapi/registry";
import { SOURCES, type Source } from "./sources/scored";
import { storeIdSchema } from "../stores/resolve";

export const MAX_CART = 50;

const id = z.string().trim().min(1, "ids must not be empty").max(64, "ids are at most 64 characters");

export const recommendQuerySchema = z.object({
  store: storeIdSchema.optional(),
  user: z.string().trim().min(1, "user must not be empty").max(128, "user must be at most 128 characters").optional(),
  k: z.coerce
    .number({ invalid_type_error: "k must be a number" })
    .int("k must be an integer")
    .min(1, "k must be at least 1")
    .max(100, "k must be at most 100")
    .default(20),
  item: id.optional(),
  cart: z
    .string()
    .transform((s) => s.split(",").map((x) => x.trim()))
    .pipe(
      z
        .array(id, { invalid_type_error: "cart must be a comma-separated list of product ids" })
        .min(1, "cart must hold at least 1 id")
        .max(MAX_CART, `cart must hold at most ${MAX_CART} ids`),
    )
    .optional(),
});
export type RecommendQuery = z.infer<typeof recommendQuerySchema>;

/** user: "for you"; item: a product page; cart: a basket; user+item / user+cart: personalised context. */
export type RecommendMode = "user" | "item" | "cart" | "user+item" | "user+cart" | "trending";

export function modeOf(q: Pick<RecommendQuery, "user" | "item" | "cart">): RecommendMode {
  const ctx = q.cart ? "cart" : q.item ? "item" : null;
  if (q.user) return ctx ? `user+${ctx}` : "user";
  return ctx ?? "trending";
}

export type ItemScores = Record<Source, number> & { light: number; heavy: number | null };

const modes = [
  "user",
  "item",
  "cart",
  "user+item",
  "user+cart",
  "trending",
] as const satisfies readonly RecommendMode[];

const itemSchema = z.object({
  id: z.string(),
  title: z.string(),
  price: z.number().nullable(),
  /** the value the final position was decided by (light + w × heavy over the heavy top M, else light) */
  score: z.number(),
  scores: z.object({
    ...(Object.fromEntries(SOURCES.map((s) => [s, z.number()])) as Record<Source, z.ZodNumber>),
    light: z.number(),
    heavy: z.number().nullable(),
  }),
  /** the candidate sources that proposed the item */
  sources: z.array(z.enum(SOURCES)),
});

export const recommendResponseSchema = z.object({
  items: z.array(itemSchema),
  store: z.string(),
  mode: z.enum(modes),
  /** false: the answer is the same for everyone asking it (no history or vector of this user) — cacheable */
  personalised: z.boolean(),
  variant: z.string(),
  experiment: z.string(),
  /** light: recs-light ONNX; heavy: recs-heavy on the GPU tier; data: the recs-light version of the D1 tables */
  models: z.object({ light: z.string(), heavy: z.string(), data: z.string().nullable() }),
  degraded: z.boolean(),
  degradedReason: z.string().optional(),
  requestId: z.string(),
});

export type RecommendItem = z.infer<typeof itemSchema>;
export type RecommendResponseBody = z.infer<typeof recommendResponseSchema>;

describeRoute({
  method: "get",
  path: "/v1/recommend",
  access: "public",
  summary:
    "Recommendations: D1 candidate sources → recs-light ONNX → recs-heavy sequence model on the GPU tier → top k",
  query: recommendQuerySchema,
  responses: {
    200: {
      ...json("the ranked recommendations (degraded: light ranking only)", recommendResponseSchema),
      headers: {
        "x-vitrine-cache": {
          description: "HIT | STALE | MISS | COLLAPSED (non-personalised answers) | BYPASS (personalised)",
          schema: { type: "string" as const },
        },
      },
    },
    404: json("unknown store (error unknown_store)", errorSchemas.NotFound),
  },
});

export type RecommendAnswer = Omit<RecommendResponseBody, "requestId">;
