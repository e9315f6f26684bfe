/**
 * The HTTP contract of the search surface (edge/routes/search.ts): what GET /v1/search and POST /v1/rerank accept
 * (zod; a failed parse is a 400 naming the field) and the body both answer.
 */
import { z } from "zod";
import type { RankedItem } from "../search/cascade";
import { RERANK_MAX } from "../config";
import { STORE_ID_MAX } from "../stores/resolve";

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
  store: z.string().trim().min(1).max(STORE_ID_MAX).optional(),
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
});

export interface SearchResponseBody {
  items: RankedItem[];
  variant: string;
  experiment: string;
  models: { light: string; heavy: string };
  degraded: boolean;
  degradedReason?: string;
  requestId: string;
}

/** A response body as the cache keeps it: without the per-request id. */
export type Answer = Omit<SearchResponseBody, "requestId">;
