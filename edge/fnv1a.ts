/**
 * FNV-1a, 32 bit: a small stable hash, the same in every isolate and in the pipeline (Python). Over any sequence of
 * code units: the catalogue's shard router hashes a product id's UTF-8 bytes (edge/catalog/shards.ts); the Vectorize
 * namespace hashes UTF-16 code units, as vitrine_gpu.recs.mf_top does (edge/recs/ann/vectorize.ts).
 */
export const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export function fnv1a32(units: Iterable<number>, basis: number = FNV_OFFSET_BASIS): number {
  let h = basis >>> 0;
  for (const u of units) h = Math.imul(h ^ u, FNV_PRIME) >>> 0;
  return h;
}

/** The UTF-16 code units of a string (what `charCodeAt` gives). */
export function* utf16Units(s: string): Generator<number> {
  for (let i = 0; i < s.length; i++) yield s.charCodeAt(i);
}
