/**
 * The MF source's nearest-neighbour index (issue 23): the items with the largest MF dot product for a user, or for the
 * weighted mean of seed items (an item page, a cart, the history of a user the version does not know). Two
 * implementations: Cloudflare Vectorize when the worker has a `VECTORIZE` binding (production; ./vectorize.ts), and the
 * pipeline's precomputed top-N lists in D1 (`recs_mf_top`, ./d1-lists.ts), the local and fallback path. Either way a
 * request reads a bounded number of rows, whatever the catalogue's size.
 */

export interface AnnMatch {
  id: string;
  /** the MF dot product (float32) */
  score: number;
}

/** Whose vectors: a store's recs-light version. */
export interface AnnScope {
  store: string;
  version: string;
}

/** Seed items and their weights (edge/recs/seeds.ts seedsOf). */
export interface AnnSeeds {
  ids: readonly string[];
  weights: readonly number[];
}

export interface AnnIndex {
  readonly backend: "vectorize" | "d1-lists";
  /**
   * By the user: the top `topK` items for the user's MF vector (`vector`: as read from D1 with the request, null when
   * the version has none). null when this index does not know the user.
   */
  queryUser(scope: AnnScope, user: string, vector: Float32Array | null, topK: number): Promise<AnnMatch[] | null>;
  /** By seed items: the top `topK` items for the weighted mean of the seeds' vectors; [] when it knows none of them. */
  querySeeds(scope: AnnScope, seeds: AnnSeeds, topK: number): Promise<AnnMatch[]>;
}

/** Best first; equal scores in catalogue (item id) order, as the former scan over the sorted item matrix. */
export function byScore(a: AnnMatch, b: AnnMatch): number {
  return b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
