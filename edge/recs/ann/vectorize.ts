/**
 * The AnnIndex on Cloudflare Vectorize (production: a `VECTORIZE` binding, wrangler.toml; Vectorize does not run
 * under `wrangler dev`, where the D1 lists serve). The index holds the sold items' MF vectors of every store's
 * recs-light versions (metric dot-product, dimensions = the version's factors), one namespace per store + version,
 * written by the pipeline (`wrangler vectorize insert`, README "Recommendations at scale"). A user's vector comes with
 * the request's D1 data and is the query; seed items are fetched by id (getByIds) and their weighted mean is the query
 * (as vitrine_gpu.recs.sources.user_vector). Vectorize answers at most 100 matches without values or metadata, so the
 * MF source proposes ≤ 100 items on this path (the D1 lists: MF_TOP_N).
 */
import { FNV_OFFSET_BASIS, fnv1a32, utf16Units } from "../../fnv1a";
import { byScore, type AnnIndex, type AnnMatch, type AnnScope } from "./types";

/** Vectorize's topK limit when neither values nor metadata are returned. */
export const VECTORIZE_MAX_TOP_K = 100;

/** FNV-1a (32 bit) of a string, hex: two of them name a store + version within Vectorize's 64-byte limits. */
function fnv1a(s: string, seed: number): string {
  return fnv1a32(utf16Units(s), seed).toString(16).padStart(8, "0");
}

/** The namespace of a store's version: 16 hex digits (vitrine_gpu.recs.mf_top.vectorize_namespace computes it too). */
export function vectorizeNamespace(scope: AnnScope): string {
  const key = `${scope.store}\u0000${scope.version}`;
  return fnv1a(key, FNV_OFFSET_BASIS) + fnv1a(key, 0x01000193);
}

/** A vector's id: `<namespace>:<item id>` (ids are unique across the whole index; ≤ 64 bytes for item ids ≤ 47). */
export function vectorizeId(scope: AnnScope, item: string): string {
  return `${vectorizeNamespace(scope)}:${item}`;
}

export function vectorizeIndex(index: VectorizeIndex): AnnIndex {
  const query = async (scope: AnnScope, vector: Float32Array, topK: number): Promise<AnnMatch[]> => {
    const ns = vectorizeNamespace(scope);
    const prefix = `${ns}:`;
    const res = await index.query(Array.from(vector), {
      topK: Math.min(topK, VECTORIZE_MAX_TOP_K),
      namespace: ns,
      returnValues: false,
      returnMetadata: "none",
    });
    return res.matches
      .filter((m) => m.id.startsWith(prefix))
      .map((m) => ({ id: m.id.slice(prefix.length), score: Math.fround(m.score) }))
      .sort(byScore);
  };
  return {
    backend: "vectorize",
    async queryUser(scope, _user, vector, topK) {
      return vector ? query(scope, vector, topK) : null;
    },
    async querySeeds(scope, seeds, topK) {
      if (seeds.ids.length === 0) return [];
      const got = await index.getByIds([...new Set(seeds.ids)].map((id) => vectorizeId(scope, id)));
      const values = new Map(got.map((v) => [v.id, v.values]));
      let mean: Float32Array | null = null;
      let wsum = 0;
      seeds.ids.forEach((id, s) => {
        const v = values.get(vectorizeId(scope, id));
        const w = seeds.weights[s]!;
        wsum = Math.fround(wsum + w);
        if (!v) return; // not a sold item of the version: a zero vector, as in the former item matrix
        mean ??= new Float32Array(v.length);
        for (let j = 0; j < v.length; j++) mean[j] = mean[j]! + Math.fround(v[j]! * w);
      });
      if (!mean) return [];
      const div = Math.max(wsum, 1e-9);
      const m: Float32Array = mean;
      for (let j = 0; j < m.length; j++) m[j] = m[j]! / div;
      return query(scope, m, topK);
    },
  };
}
