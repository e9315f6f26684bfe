/**
 * The HTTP contract of GET /v1/recommend (edge/routes/recommend.ts): the query (zod; a failed parse is a 400 naming
 * the field) and the body it answers (CONTRACTS.md C5b).
 */
import { z } from "zod";
import type { Source } from "./sources/scored";

export const MAX_CART = 50;

const id = z.string().trim().min(1, "ids must not be empty").max(64, "ids are at most 64 characters");

export const recommendQuerySchema = z.object({
  store: z.string().trim().min(1, "store must not be empty").max(64, "store must be at most 64 characters").optional(),
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

export interface RecommendItem {
  id: string;
  title: string;
  price: number | null;
  /** the value the final position was decided by (light + w × heavy over the heavy top M, else light) */
  score: number;
  scores: ItemScores;
  /** the candidate sources that proposed the item */
  sources: Source[];
}

export interface RecommendResponseBody {
  items: RecommendItem[];
  store: string;
  mode: RecommendMode;
  /** false: the answer is the same for everyone asking it (no history or vector of this user) — cacheable */
  personalised: boolean;
  variant: string;
  experiment: string;
  /** light: recs-light ONNX; heavy: recs-heavy on the GPU tier; data: the recs-light version of the D1 tables */
  models: { light: string; heavy: string; data: string | null };
  degraded: boolean;
  degradedReason?: string;
  requestId: string;
}

export type RecommendAnswer = Omit<RecommendResponseBody, "requestId">;
