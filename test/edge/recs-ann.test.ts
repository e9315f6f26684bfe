/**
 * The AnnIndex contract (edge/recs/ann/), in workerd: the D1 top-N lists (the pipeline's recs_mf_top rows of the
 * parity fixture, in local D1) and the Vectorize adapter answer the same top items with the same scores — for a known
 * user (by vector), one page item and a weighted cart (by ids: getByIds, then the weighted mean) — and a failing
 * Vectorize falls back to the lists. Vectorize does not run under workerd / `wrangler dev`: the adapter is tested
 * against a test double at our own boundary, an in-memory index implementing the binding's `VectorizeIndex`
 * interface (exact dot-product search, namespaces, the topK ≤ 100 limit of queries without values or metadata).
 */
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { d1Reader } from "../../edge/db/guarded";
import { d1ListsIndex } from "../../edge/recs/ann/d1-lists";
import { annIndexFor } from "../../edge/recs/ann/select";
import type { AnnIndex, AnnMatch, AnnSeeds } from "../../edge/recs/ann/types";
import { VECTORIZE_MAX_TOP_K, vectorizeId, vectorizeIndex, vectorizeNamespace } from "../../edge/recs/ann/vectorize";
import type { Read } from "../../edge/recs/tables";
import fixture from "../fixtures/recs-features-parity.json";
import { loadRecsTables, type TablesJson } from "./recs-tables";

const tables = (fixture as unknown as { tables: TablesJson }).tables;
const SCOPE = { store: "ann-store", version: "recs-light-ann" };

/** An in-memory Vectorize index: exact dot-product search over the vectors of the query's namespace. */
class MemoryVectorize implements VectorizeIndex {
  readonly vectors = new Map<string, VectorizeVector>();
  queries: VectorizeQueryOptions[] = [];

  async describe(): Promise<VectorizeIndexDetails> {
    const dimensions = [...this.vectors.values()][0]?.values.length ?? 0;
    return {
      id: "memory",
      name: "memory",
      config: { dimensions, metric: "dot-product" },
      vectorsCount: this.vectors.size,
    };
  }

  async query(vector: VectorFloatArray | number[], options?: VectorizeQueryOptions): Promise<VectorizeMatches> {
    const topK = options?.topK ?? 5;
    if (topK > VECTORIZE_MAX_TOP_K) throw new Error(`VECTOR_QUERY_ERROR: topK ${topK} > ${VECTORIZE_MAX_TOP_K}`);
    this.queries.push(options ?? {});
    const q = Array.from(vector);
    const matches = [...this.vectors.values()]
      .filter((v) => options?.namespace === undefined || v.namespace === options.namespace)
      .map((v) => ({ id: v.id, score: Array.from(v.values).reduce((s, x, j) => s + x * q[j]!, 0) }))
      .sort((a, b) => b.score - a.score)
      .slice(0, topK);
    return { matches, count: matches.length };
  }

  async insert(vectors: VectorizeVector[]): Promise<VectorizeVectorMutation> {
    return this.upsert(vectors);
  }

  async upsert(vectors: VectorizeVector[]): Promise<VectorizeVectorMutation> {
    for (const v of vectors) this.vectors.set(v.id, v);
    return { ids: vectors.map((v) => v.id), count: vectors.length };
  }

  async deleteByIds(ids: string[]): Promise<VectorizeVectorMutation> {
    const gone = ids.filter((id) => this.vectors.delete(id));
    return { ids: gone, count: gone.length };
  }

  async getByIds(ids: string[]): Promise<VectorizeVector[]> {
    return ids.flatMap((id) => {
      const v = this.vectors.get(id);
      return v ? [v] : [];
    });
  }
}

const read: Read = (q) => q(env.DB);
const lists = d1ListsIndex(read);
const memory = new MemoryVectorize();
const vectorize = vectorizeIndex(memory);

const items = Object.keys(tables.item_vectors).sort();
const user = Object.keys(tables.user_vectors).sort()[0]!;
const userVector = Float32Array.from(tables.user_vectors[user]!);

beforeAll(async () => {
  await loadRecsTables(env.DB, tables, SCOPE.store, SCOPE.version);
  // what the pipeline loads into Vectorize: every sold item's vector, in the version's namespace
  await memory.upsert(
    items.map((id) => ({
      id: vectorizeId(SCOPE, id),
      namespace: vectorizeNamespace(SCOPE),
      values: tables.item_vectors[id]!,
    })),
  );
  // another version's vectors in the same index never answer this one
  await memory.upsert(
    items.map((id) => ({
      id: vectorizeId({ ...SCOPE, version: "other" }, id),
      namespace: vectorizeNamespace({ ...SCOPE, version: "other" }),
      values: tables.item_vectors[id]!.map((x) => -x),
    })),
  );
});

function expectSame(a: AnnMatch[], b: AnnMatch[], k: number): void {
  expect(a).toHaveLength(k);
  expect(b.map((m) => m.id)).toEqual(a.map((m) => m.id));
  a.forEach((m, i) => expect(Math.abs(m.score - b[i]!.score)).toBeLessThanOrEqual(1e-5));
}

describe("AnnIndex: D1 top-N lists and Vectorize answer alike", () => {
  it("a known user (by vector): the same top 20", async () => {
    const a = (await lists.queryUser(SCOPE, user, userVector, 20))!;
    const b = (await vectorize.queryUser(SCOPE, user, userVector, 20))!;
    expectSame(a, b, 20);
    expect(a.map((m) => m.score)).toEqual([...a.map((m) => m.score)].sort((x, y) => y - x));
  });

  it.each<[string, AnnSeeds]>([
    ["one page item", { ids: [items[3]!], weights: [1] }],
    ["a cart", { ids: [items[0]!, items[10]!, items[11]!], weights: [1, 1, 1] }],
    ["weighted history seeds", { ids: [items[5]!, items[20]!, items[30]!], weights: [1, 0.25, 0.5] }],
  ])("%s (by ids): the same top 20", async (_n, seeds) => {
    expectSame(await lists.querySeeds(SCOPE, seeds, 20), await vectorize.querySeeds(SCOPE, seeds, 20), 20);
  });

  it("an unknown user: null from both; no seeds: nothing", async () => {
    expect(await lists.queryUser(SCOPE, "nobody", null, 20)).toBeNull();
    expect(await vectorize.queryUser(SCOPE, "nobody", null, 20)).toBeNull();
    expect(await lists.querySeeds(SCOPE, { ids: [], weights: [] }, 20)).toEqual([]);
    expect(await vectorize.querySeeds(SCOPE, { ids: ["not-an-item"], weights: [1] }, 20)).toEqual([]);
  });

  it("Vectorize queries its own namespace with topK ≤ 100, without values or metadata", async () => {
    memory.queries = [];
    const got = (await vectorize.queryUser(SCOPE, user, userVector, 150))!;
    expect(got.length).toBe(Math.min(items.length, VECTORIZE_MAX_TOP_K));
    expect(memory.queries).toEqual([
      { topK: VECTORIZE_MAX_TOP_K, namespace: vectorizeNamespace(SCOPE), returnValues: false, returnMetadata: "none" },
    ]);
    expect(vectorizeNamespace(SCOPE)).toMatch(/^[0-9a-f]{16}$/);
    expect(vectorizeNamespace({ store: "online-retail", version: "recs-light-x" })).toBe("39c8e4e52a023303"); // vitrine_gpu.recs.mf_top.vectorize_namespace too;
  });

  it("the worker picks Vectorize when bound, and a failing Vectorize falls back to the D1 lists", async () => {
    const d1 = d1Reader(env);
    const failing = new MemoryVectorize();
    failing.query = () => Promise.reject(new Error("Vectorize unavailable"));
    const bound: AnnIndex = annIndexFor({ VECTORIZE: failing }, d1);
    expect(bound.backend).toBe("vectorize");
    expect(annIndexFor({}, d1).backend).toBe("d1-lists");
    const expected = (await lists.queryUser(SCOPE, user, userVector, 20))!;
    expectSame(expected, (await bound.queryUser(SCOPE, user, userVector, 20))!, 20);
  });
});
