/**
 * A store sharded across two D1 databases (edge/catalog/shards.ts; the CATALOG_SHARD_1 / _2 bindings of
 * wrangler.toml, real local D1 in workerd): writes land in the shard of each id's hash, and retrieval fanned out over
 * the shards and merged by bm25 equals single-database retrieval on the same products — same ids, same order. First
 * where the shards' statistics agree (every product text is in the catalogue twice, under two ids of different
 * shards, so each shard holds the same texts); then on a real hash split, where they do not and the merge re-scores
 * with the store's statistics (edge/search/shard-bm25.ts).
 */
import { applyD1Migrations, createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { upsertRows } from "../../edge/catalog/ingest";
import { productRow, productSchema, type ProductRow } from "../../edge/catalog/product";
import { deleteProducts, upsertProducts } from "../../edge/catalog/sharded-ingest";
import { catalogShards, ensureShardIndexes, shardOf } from "../../edge/catalog/shards";
import { putStore } from "../../edge/catalog/stores";
import type { Bindings } from "../../edge/env";
import { matchExpression } from "../../edge/search/features";
import { fetchCandidates, fetchFromShards, retrieveCandidates, retrieveFromShards } from "../../edge/search/retrieval";
import { averages, matchTerms, varint } from "../../edge/search/shard-bm25";
import worker from "../../edge/index";

const SINGLE = "shard-single";
const SHARDED = "shard-split";
const sharded = { ...env, CATALOG_SHARDED_STORES: `${SHARDED}, other-store` } as Bindings;

const WORDS = "black case leather wallet phone cover red blue slim card holder magnetic stand clear soft".split(" ");
/** Text j: a deterministic mix of words, common ones more often, lengths varying so bm25 differs between texts. */
function text(j: number): Pick<ProductRow, "title" | "description"> {
  const pick = (k: number) => WORDS[(j * 7 + k * k * 3 + (k % 3) * j) % (k % 2 === 0 ? 4 : WORDS.length)]!;
  return {
    title: Array.from({ length: 2 + (j % 5) }, (_, k) => pick(k)).join(" "),
    description: Array.from({ length: 3 + ((j * 5) % 11) }, (_, k) => pick(k + 5)).join(" "),
  };
}

/** Two ids per text, in different shards of 2: "T<j>a" and the first "T<j>b<k>" of the other shard. */
function twinIds(j: number): [string, string] {
  const a = `T${j}a`;
  for (let k = 0; ; k++) {
    const b = `T${j}b${k}`;
    if (shardOf(b, 2) !== shardOf(a, 2)) return [a, b];
  }
}

const TEXTS = 40;
const rows: ProductRow[] = Array.from({ length: TEXTS }, (_, j) => twinIds(j).map((id) => ({ id, ...text(j) })))
  .flat()
  .map((p) => productRow(productSchema.parse(p)));

beforeAll(async () => {
  await applyD1Migrations(env.CATALOG_SHARD_1, env.TEST_MIGRATIONS);
  await applyD1Migrations(env.CATALOG_SHARD_2, env.TEST_MIGRATIONS);
  await putStore(env.DB, SINGLE, { name: "one database" });
  await upsertRows(env.DB, SINGLE, rows);
  await putStore(env.DB, SHARDED, { name: "two shards" });
  await ensureShardIndexes(sharded, SHARDED);
  await upsertProducts(sharded, SHARDED, rows);
});

const idsIn = async (db: D1Database) =>
  (
    await db.prepare("SELECT id FROM products WHERE store = ?1 ORDER BY id").bind(SHARDED).all<{ id: string }>()
  ).results.map((r) => r.id);

describe("catalogue shards", () => {
  it("shards only the configured stores, over the declared bindings in order", () => {
    expect(catalogShards(env as Bindings, SHARDED)).toBeNull();
    expect(catalogShards(sharded, SINGLE)).toBeNull();
    expect(catalogShards(sharded, SHARDED)).toEqual([env.CATALOG_SHARD_1, env.CATALOG_SHARD_2]);
  });

  it("routes each product to the shard of its id's hash, none to DB", async () => {
    const [one, two] = [await idsIn(env.CATALOG_SHARD_1), await idsIn(env.CATALOG_SHARD_2)];
    expect(one.length + two.length).toBe(rows.length);
    expect(one.length).toBe(TEXTS);
    for (const id of one) expect(shardOf(id, 2)).toBe(0);
    for (const id of two) expect(shardOf(id, 2)).toBe(1);
    expect(await idsIn(env.DB)).toEqual([]);
  });

  it.each(["black", "case", "leather", "magnetic", "holder"])(
    "one-term query %s: the merged shards' list is the single database's (same ids, same order)",
    async (q) => {
      const match = matchExpression(q)!;
      for (const n of [5, 17, 200]) {
        const single = await retrieveCandidates(env.DB, SINGLE, match, n);
        const merged = await retrieveFromShards(catalogShards(sharded, SHARDED)!, SHARDED, match, n);
        expect(single.length).toBeGreaterThan(0);
        expect(merged.map((r) => r.id)).toEqual(single.map((r) => r.id));
      }
    },
  );

  it("a multi-term query: the merged list holds each shard's rows once, best bm25 first (ties by id)", async () => {
    const shards = catalogShards(sharded, SHARDED)!;
    const match = matchExpression("red leather wallet")!;
    const merged = await retrieveFromShards(shards, SHARDED, match, 30);
    expect(merged.length).toBe(30);
    expect(new Set(merged.map((r) => r.id)).size).toBe(30);
    for (let i = 1; i < merged.length; i++) {
      const [a, b] = [merged[i - 1]!, merged[i]!];
      expect(a.bm25! > b.bm25! || (a.bm25 === b.bm25 && a.id < b.id)).toBe(true);
    }
  });

  it("fetches rows by id from their own shards, and deletes there", async () => {
    const shards = catalogShards(sharded, SHARDED)!;
    const ids = [rows[0]!.id, rows[1]!.id, rows[7]!.id];
    const fetched = await fetchFromShards(shards, SHARDED, matchExpression("black")!, ids);
    expect(fetched.map((r) => r.id).sort()).toEqual([...ids].sort());

    const gone = await deleteProducts(sharded, SHARDED, [rows[0]!.id, "no-such-id"]);
    expect(gone.deleted).toEqual([rows[0]!.id]);
    expect(gone.catalogVersion).toBeGreaterThan(0);
    expect(await fetchFromShards(shards, SHARDED, matchExpression("black")!, [rows[0]!.id])).toEqual([]);
    await upsertProducts(sharded, SHARDED, [rows[0]!]);
  });
});

describe("a real hash split: each product once, the shards' statistics differ", () => {
  const SPLIT_SINGLE = "split-single";
  const SPLIT = "split-sharded";
  const splitEnv = { ...env, CATALOG_SHARDED_STORES: SPLIT } as Bindings;
  const VOCAB = [...WORDS, ..."navy canvas zip pocket mini travel kids gift".split(" ")];
  /** Product j: words drawn by a seeded generator, common words more often, lengths 1–12 per field. */
  const split: ProductRow[] = (() => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const word = () => VOCAB[Math.floor(VOCAB.length * rnd() * rnd())]!;
    const words = (max: number) => Array.from({ length: 1 + Math.floor(rnd() * max) }, word).join(" ");
    return Array.from({ length: 240 }, (_, j) =>
      productRow(productSchema.parse({ id: `S${j}`, title: words(6), brand: word(), description: words(12) })),
    );
  })();
  const QUERIES = ["black", "leather", "magnetic", "red leather wallet", "black phone case", "slim card holder stand"];

  beforeAll(async () => {
    await putStore(env.DB, SPLIT_SINGLE, { name: "one database" });
    await upsertRows(env.DB, SPLIT_SINGLE, split);
    await putStore(env.DB, SPLIT, { name: "two shards" });
    await ensureShardIndexes(splitEnv, SPLIT);
    await upsertProducts(splitEnv, SPLIT, split);
  });

  it("merged with the store's statistics: the single database's ids, order and six bm25 scores", async () => {
    const shards = catalogShards(splitEnv, SPLIT)!;
    let naiveDiffers = 0;
    for (const q of QUERIES) {
      const match = matchExpression(q)!;
      for (const n of [5, 17, 60]) {
        const single = await retrieveCandidates(env.DB, SPLIT_SINGLE, match, n);
        const merged = await retrieveFromShards(shards, SPLIT, match, n);
        expect(single.length).toBeGreaterThan(0);
        expect(
          merged.map((r) => r.id),
          `${q} @ ${n}`,
        ).toEqual(single.map((r) => r.id));
        for (let i = 0; i < single.length; i++)
          for (const f of ["bm25", "bm25_title", "bm25_brand", "bm25_description"] as const)
            expect(merged[i]![f]).toBeCloseTo(single[i]![f]!, 9);
        // what merging by each shard's own scores gives: the data has to make the statistics matter
        const own = (await Promise.all(shards.map((db) => retrieveCandidates(db, SPLIT, match, n))))
          .flat()
          .sort((a, b) => b.bm25! - a.bm25! || (a.id < b.id ? -1 : 1))
          .slice(0, n);
        if (own.map((r) => r.id).join() !== single.map((r) => r.id).join()) naiveDiffers += 1;
      }
    }
    expect(naiveDiffers).toBeGreaterThan(0);
  });

  it("reads FTS5's averages record (SQLite varints) and the match expression's terms", () => {
    expect(averages(Uint8Array.of(4, 12, 6))).toEqual({ rows: 4, tokens: 18 }); // sqlite3: 4 rows, 12 + 6 tokens
    expect(varint(Uint8Array.of(0x81, 0x00), 0)).toEqual([128, 2]);
    expect(varint(Uint8Array.of(0x83, 0xff, 0x7f), 0)).toEqual([65535, 3]);
    expect(varint(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x81, 0x05), 0)).toEqual([2 ** 8 + 5, 9]);
    expect(matchTerms(matchExpression("Red leather, wallet")!)).toEqual(["red", "leather", "wallet"]);
  });

  it("rows fetched by id (/v1/rerank's path) carry the store's bm25, not their shard's", async () => {
    const match = matchExpression("black phone case")!;
    const ids = split.slice(0, 40).map((p) => p.id);
    const single = new Map((await fetchCandidates(env.DB, SPLIT_SINGLE, match, ids)).map((r) => [r.id, r]));
    const fetched = await fetchFromShards(catalogShards(splitEnv, SPLIT)!, SPLIT, match, ids);
    expect(fetched.length).toBe(ids.length);
    for (const r of fetched) expect(r.bm25).toBeCloseTo(single.get(r.id)!.bm25!, 9);
  });

  it("the statistics are kept per catalogue version: reused until a write's new version", async () => {
    const shards = catalogShards(splitEnv, SPLIT)!;
    const match = matchExpression("black phone case")!;
    const scores = (rows: { id: string; bm25: number | null }[]) => rows.map((r) => `${r.id}:${r.bm25!.toFixed(9)}`);
    const single = async () => scores(await retrieveCandidates(env.DB, SPLIT_SINGLE, match, 20));
    expect(scores(await retrieveFromShards(shards, SPLIT, match, 20, 0, 1))).toEqual(await single());
    const extra = productRow(productSchema.parse({ id: "S-new", title: "black phone case black", brand: "navy" }));
    await upsertRows(env.DB, SPLIT_SINGLE, [extra]);
    await upsertProducts(splitEnv, SPLIT, [extra]);
    // at version 1 the statistics read before the write are reused: the scores are no longer the store's
    expect(scores(await retrieveFromShards(shards, SPLIT, match, 20, 0, 1))).not.toEqual(await single());
    expect(scores(await retrieveFromShards(shards, SPLIT, match, 20, 0, 2))).toEqual(await single());
  });
});

describe("the catalogue API and search on a sharded store", () => {
  const API_STORE = "shard-api";
  const apiEnv = { ...env, CATALOG_SHARDED_STORES: API_STORE } as Bindings;
  async function call(path: string, method = "GET", body?: string, type = "application/json") {
    const ctx = createExecutionContext();
    const headers: Record<string, string> = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
    if (body !== undefined) headers["content-type"] = type;
    const res = await worker.fetch(new Request(`http://vitrine.test${path}`, { method, headers, body }), apiEnv, ctx);
    await waitOnExecutionContext(ctx);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it("writes, reads, patches, searches and deletes products in their shards", async () => {
    expect((await call(`/admin/stores/${API_STORE}`, "PUT", JSON.stringify({ name: "sharded shop" }))).status).toBe(
      201,
    );
    const products = Array.from({ length: 12 }, (_, i) => ({
      id: `api-${i}`,
      title: `walnut desk lamp ${i}`,
      price: 10 + i,
    }));
    const ndjson = products.map((p) => JSON.stringify(p)).join("\n");
    const put = await call(`/admin/stores/${API_STORE}/products`, "POST", ndjson, "application/x-ndjson");
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ accepted: 12, rejected: [] });
    const inShards =
      (await idsOf(env.CATALOG_SHARD_1, API_STORE)).length + (await idsOf(env.CATALOG_SHARD_2, API_STORE)).length;
    expect(inShards).toBe(12);
    expect(await idsOf(env.DB, API_STORE)).toEqual([]);

    expect((await call(`/admin/stores/${API_STORE}/products/api-3`)).body).toMatchObject({ id: "api-3", price: 13 });
    const patched = await call(`/admin/stores/${API_STORE}/products/api-3`, "PATCH", JSON.stringify({ price: 99 }));
    expect(patched.status).toBe(200);
    expect((await call(`/admin/stores/${API_STORE}/products/api-3`)).body).toMatchObject({ price: 99 });

    const found = await call(`/v1/search?store=${API_STORE}&q=walnut%20lamp&k=20&user=shard-test`);
    expect(found.status).toBe(200);
    const items = found.body.items as { id: string }[];
    expect(items.map((i) => i.id).sort()).toEqual(products.map((p) => p.id).sort());

    expect((await call(`/admin/stores/${API_STORE}/products/api-3`, "DELETE")).status).toBe(200);
    expect((await call(`/admin/stores/${API_STORE}/products/api-3`)).status).toBe(404);
  });
});

const idsOf = async (db: D1Database, store: string) =>
  (await db.prepare("SELECT id FROM products WHERE store = ?1").bind(store).all<{ id: string }>()).results.map(
    (r) => r.id,
  );

describe("the product list (export) of a sharded store", () => {
  const LIST_STORE = "shard-list";
  const PLAIN_STORE = "shard-list-plain";
  const listEnv = { ...env, CATALOG_SHARDED_STORES: LIST_STORE } as Bindings;
  type Page = { products: { id: string }[]; nextCursor?: string };
  async function get(path: string) {
    const ctx = createExecutionContext();
    const headers = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
    const res = await worker.fetch(new Request(`http://vitrine.test${path}`, { headers }), listEnv, ctx);
    await waitOnExecutionContext(ctx);
    return { status: res.status, body: (await res.json()) as Page & { error?: string; message?: string } };
  }
  /** Every page of a store's list at `limit`, following nextCursor. */
  async function allPages(store: string, limit: number) {
    const pages: Page[] = [];
    let cursor: string | undefined;
    do {
      const res = await get(`/admin/stores/${store}/products?limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      pages.push(res.body);
      cursor = res.body.nextCursor;
      expect(pages.length).toBeLessThan(100);
    } while (cursor);
    return pages;
  }
  const ids = Array.from({ length: 23 }, (_, i) => `list-${String(i).padStart(2, "0")}`);
  let inShard1: string[] = [];

  beforeAll(async () => {
    await putStore(env.DB, LIST_STORE, { name: "sharded list" });
    await ensureShardIndexes(listEnv, LIST_STORE);
    await upsertProducts(
      listEnv,
      LIST_STORE,
      ids.map((id) => productRow(productSchema.parse({ id, title: id }))),
    );
    inShard1 = await idsOf(env.CATALOG_SHARD_1, LIST_STORE);
    await putStore(env.DB, PLAIN_STORE, { name: "one database" });
    await upsertRows(
      env.DB,
      PLAIN_STORE,
      ids.slice(0, 10).map((id) => productRow(productSchema.parse({ id, title: id }))),
    );
  });

  it.each([1, 4, 5, 7, 23, 100])(
    "limit %i: every product once, across both shards, no page over the limit",
    async (limit) => {
      const pages = await allPages(LIST_STORE, limit);
      const seen = pages.flatMap((p) => p.products.map((x) => x.id));
      expect([...seen].sort()).toEqual(ids);
      for (const p of pages) expect(p.products.length).toBeLessThanOrEqual(limit);
      for (const p of pages.slice(0, -1)) expect(p.products.length).toBe(limit);
      expect(pages.at(-1)!.nextCursor).toBeUndefined();
      expect(pages.at(-1)!.products.length).toBeGreaterThan(0); // no empty page at the end
      // shard 1's products come first, then shard 2's
      expect(seen.slice(0, inShard1.length).sort()).toEqual([...inShard1].sort());
    },
  );

  it("both shards hold some products, and the cursors name each shard", async () => {
    expect(inShard1.length).toBeGreaterThan(0);
    expect(inShard1.length).toBeLessThan(ids.length);
    const cursors = (await allPages(LIST_STORE, 3)).flatMap((p) => (p.nextCursor ? [p.nextCursor] : []));
    expect(cursors.some((c) => c.startsWith("s1:"))).toBe(true);
    expect(cursors.some((c) => c.startsWith("s2:"))).toBe(true);
    for (const c of cursors) expect(c).toMatch(/^s[12]:\d+$/);
  });

  it("a page that ends at the end of shard 1 goes on in shard 2", async () => {
    const first = await get(`/admin/stores/${LIST_STORE}/products?limit=${inShard1.length}`);
    expect(first.body.products.map((p) => p.id).sort()).toEqual([...inShard1].sort());
    expect(first.body.nextCursor).toMatch(/^s1:\d+$/);
    const rest = await get(`/admin/stores/${LIST_STORE}/products?limit=100&cursor=${first.body.nextCursor}`);
    expect(rest.body.products.length).toBe(ids.length - inShard1.length);
    expect(rest.body.nextCursor).toBeUndefined();
  });

  it.each([
    ["abc", "nextCursor"],
    ["s0:5", "nextCursor"],
    ["s1:", "nextCursor"],
    ["s3:0", "names shard 3"],
    ["12", "is sharded"],
  ])("a bad cursor %s is a 400 JSON", async (cursor, says) => {
    const res = await get(`/admin/stores/${LIST_STORE}/products?cursor=${cursor}`);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("invalid_request");
    expect(res.body.message).toContain(says);
  });

  it("an unsharded store's cursor is still the last rowid of the page, and a shard cursor is refused", async () => {
    const { results } = await env.DB.prepare("SELECT rowid FROM products WHERE store = ?1 ORDER BY rowid")
      .bind(PLAIN_STORE)
      .all<{ rowid: number }>();
    const first = await get(`/admin/stores/${PLAIN_STORE}/products?limit=4`);
    expect(first.body.products.map((p) => p.id)).toEqual(ids.slice(0, 4));
    expect(first.body.nextCursor).toBe(String(results[3]!.rowid));
    const second = await get(`/admin/stores/${PLAIN_STORE}/products?limit=4&cursor=${first.body.nextCursor}`);
    expect(second.body.products.map((p) => p.id)).toEqual(ids.slice(4, 8));
    expect(second.body.nextCursor).toBe(String(results[7]!.rowid));
    const pages = await allPages(PLAIN_STORE, 4);
    expect(pages.flatMap((p) => p.products.map((x) => x.id))).toEqual(ids.slice(0, 10));
    const bad = await get(`/admin/stores/${PLAIN_STORE}/products?cursor=s1:0`);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain("not sharded");
  });
});
