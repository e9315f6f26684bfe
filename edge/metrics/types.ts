/** Boundary types of the monitoring platform: what routes and cron jobs hand to the collector and rollups. */

/** One served request, as the search/rerank routes report it to `recordRequest`. */
export interface RequestSample {
  route: string;
  variant: string;
  lightModel: string;
  heavyModel: string;
  colo: string;
  /** a ranking request's GPU route: the nearest region (tried first) and the one that answered (absent: none) */
  geo?: { nearest: string; servedBy?: string };
  /** the store (stores.id) the request was served for; the default store when it resolved none */
  store: string;
  status: number;
  cache: "HIT" | "MISS" | "BYPASS";
  degradedReason?: string;
  stages: { retrieval?: number; light?: number; gpu?: number; total: number };
  scores?: { light?: number[]; heavy?: number[] };
  drill?: boolean;
}

/** Latency stages tracked per request. */
export const STAGES = ["retrieval", "light", "gpu", "total"] as const;
export type Stage = (typeof STAGES)[number];
