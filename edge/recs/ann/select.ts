/**
 * Which AnnIndex a request uses: Vectorize when the worker has the binding (production), else the D1 lists; a
 * Vectorize query that fails falls back to the D1 lists for that query (logged), so a Vectorize outage costs the
 * MF source's reach beyond the lists, never the answer.
 */
import type { D1Reader } from "../../db/guarded";
import type { Bindings } from "../../env";
import { d1ListsIndex } from "./d1-lists";
import type { AnnIndex } from "./types";
import { vectorizeIndex } from "./vectorize";

function withFallback(primary: AnnIndex, fallback: AnnIndex): AnnIndex {
  const guard = async <T>(op: string, run: (i: AnnIndex) => Promise<T>): Promise<T> => {
    try {
      return await run(primary);
    } catch (err) {
      console.error(JSON.stringify({ event: "ann_fallback", backend: primary.backend, op, error: String(err) }));
      return run(fallback);
    }
  };
  return {
    backend: primary.backend,
    queryUser: (scope, user, vector, topK) => guard("user", (i) => i.queryUser(scope, user, vector, topK)),
    querySeeds: (scope, seeds, topK) => guard("seeds", (i) => i.querySeeds(scope, seeds, topK)),
  };
}

export function annIndexFor(env: Pick<Bindings, "VECTORIZE">, d1: D1Reader): AnnIndex {
  const lists = d1ListsIndex((q) => d1.read(q));
  return env.VECTORIZE ? withFallback(vectorizeIndex(env.VECTORIZE), lists) : lists;
}
