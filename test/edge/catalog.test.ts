/**
 * The catalogue API through the whole worker (SELF): stores created and listed; bulk upserts in NDJSON and JSON with
 * a result per line (bad JSON, wrong types, duplicate ids, too many products, an unknown store, no token); re-sending
 * a batch changes nothing; a write is visible on the next search (the cache key's catalogue version); unavailable and
 * deleted products are never served by search, rerank or recommend; the same product id in two stores; each store's
 * bm25 statistics are its own; the export pages through a store.
 */
import { SELF, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../edge/app";
import { productRow, clipBytes, isBookCategory } from "../../edge/catalog/product";
import fixture from "../fixtures/features-parity.json";
import { insertFixtureProducts, type FixtureProduct } from "./fixtures";

const BASE = "http://vitrine.test";
const AUTH = { authorization: `Bearer ${env.ADMIN_TOKEN}` };

const call = (path: string, init: RequestInit = {}): Promise<Response> => SELF.fetch(`${BASE}${path}`, init);
const admin = (path: string, method: string, body?: unknown, type = "application/json"): Promise<Response> =>
  call(path, {
    method,
    headers: { ...AUTH, ...(body === undefined ? {} : { "content-type": type }) },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });

let n = 0;
/** A fresh store id per test (the test database is shared within this file). */
const newStore = async (): Promise<string> => {
  const id = `shop-${Date.now().toString(36)}-${n++}`;
  expect((await admin(`/admin/stores/${id}`, "PUT", { name: `Shop ${id}`, currency: "EUR" })).status).toBe(201);
  return id;
};

const mug = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  title: `Ceramic coffee mug ${id}`,
  brand: "Acme",
  category: ["Home & Kitchen", "Mugs"],
  price: 9.5,
  ...extra,
});
const ndjson = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join("\n");

interface UpsertBody {
  accepted: number;
  rejected: { line: number; id?: string; error: string }[];
  catalogVersion: number;
}
interface SearchBody {
  items: { id: string; scores: { retrieval: number } }[];
}

async function upsert(store: string, rows: unknown[]): Promise<UpsertBody> {
  const res = await admin(`/admin/stores/${store}/products`, "POST", ndjson(rows), "application/x-ndjson");
  expect(res.status).toBe(200);
  return (await res.json()) as UpsertBody;
}
async function search(store: string, q: string, k = 50): Promise<{ res: Response; body: SearchBody }> {
  const res = await call(`/v1/search?store=${store}&q=${encodeURIComponent(q)}&k=${k}&user=cat-test`);
  expect(res.status).toBe(200);
  return { res, body: (await res.json()) as SearchBody };
}
const ids = (b: SearchBody): string[] => b.items.map((i) => i.id);

describe("stores", () => {
  it("creates (201), updates (200) and lists stores with product and event counts", async () => {
    const id = await newStore();
    const again = await admin(`/admin/stores/${id}`, "PUT", { name: "Renamed" });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ id, name: "Renamed", currency: null, products: 0, events: 0 });
    await upsert(id, [mug("m1"), mug("m2", { available: false })]);
    const events = await call("/v1/events", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ events: [{ type: "purchase", productId: "m1", user: "u1", store: id }] }),
    });
    expect(events.status).toBe(202);
    const list = (await (await admin("/admin/stores", "GET")).json()) as { stores: Record<string, unknown>[] };
    expect(list.stores.find((s) => s.id === id)).toMatchObject({ products: 2, availableProducts: 1, events: 1 });
    expect(list.stores.find((s) => s.id === "esci")).toMatchObject({ default: true });
  });

  it("refuses a malformed store id, a bad body and a missing token", async () => {
    expect((await admin("/admin/stores/Bad_Id", "PUT", { name: "x" })).status).toBe(400);
    expect((await admin("/admin/stores/ok-id", "PUT", { name: "" })).status).toBe(400);
    expect((await admin("/admin/stores/ok-id", "PUT", { name: "x", currency: "euro" })).status).toBe(400);
    const anonymous = await call("/admin/stores/ok-id", { method: "PUT", body: JSON.stringify({ name: "x" }) });
    expect(anonymous.status).toBe(401);
    expect((await call("/admin/stores")).status).toBe(401);
  });
});

describe("bulk upsert", () => {
  it("lands the good lines and reports each bad one with its line and id", async () => {
    const store = await newStore();
    const body = [
      JSON.stringify(mug("ok-1")),
      "{not json",
      JSON.stringify({ id: "no-title" }),
      JSON.stringify(mug("bad-price", { price: "cheap" })),
      "",
      JSON.stringify(mug("ok-1", { title: "a second ok-1" })),
      JSON.stringify(mug("extra", { colour: "red" })),
      JSON.stringify(mug("ok-2")),
    ].join("\n");
    const res = await admin(`/admin/stores/${store}/products`, "POST", body, "application/x-ndjson");
    expect(res.status).toBe(200);
    const out = (await res.json()) as UpsertBody;
    expect(out.accepted).toBe(2);
    expect(out.rejected.map((r) => [r.line, r.id])).toEqual([
      [2, undefined],
      [3, "no-title"],
      [4, "bad-price"],
      [6, "ok-1"],
      [7, "extra"],
    ]);
    expect(out.rejected[0]!.error).toContain("JSON");
    expect(out.rejected[1]!.error).toContain("title");
    expect(out.rejected[3]!.error).toContain("first at line 1");
    // a bad line is never half-applied; the good ones landed
    expect((await admin(`/admin/stores/${store}/products/bad-price`, "GET")).status).toBe(404);
    const ok = (await (await admin(`/admin/stores/${store}/products/ok-1`, "GET")).json()) as Record<string, unknown>;
    expect(ok).toMatchObject({ id: "ok-1", title: "Ceramic coffee mug ok-1", category: ["Home & Kitchen", "Mugs"] });
  });

  it('takes {"products": [...]} too, numbering lines by position', async () => {
    const store = await newStore();
    const res = await admin(`/admin/stores/${store}/products`, "POST", { products: [mug("j1"), 42, mug("j2")] });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ accepted: 2, rejected: [{ line: 2 }] });
    expect((await admin(`/admin/stores/${store}/products`, "POST", { items: [] })).status).toBe(400);
    expect((await admin(`/admin/stores/${store}/products`, "POST", "a,b", "text/csv")).status).toBe(415);
  });

  it("re-sending the same batch changes nothing, not even the catalogue version", async () => {
    const store = await newStore();
    const rows = Array.from({ length: 50 }, (_, i) => mug(`p${i}`));
    const first = await upsert(store, rows);
    expect(first.accepted).toBe(50);
    const second = await upsert(store, rows);
    expect(second).toEqual({ accepted: 50, rejected: [], catalogVersion: first.catalogVersion });
    const changed = await upsert(store, [mug("p3", { price: 11 })]);
    expect(changed.catalogVersion).toBeGreaterThan(first.catalogVersion);
  });

  it("refuses an unknown store (404), more than 10,000 products or an oversized body (413)", async () => {
    const missing = await admin(
      "/admin/stores/no-such-store/products",
      "POST",
      ndjson([mug("x")]),
      "application/x-ndjson",
    );
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: "unknown_store" });
    const store = await newStore();
    const many = ndjson(Array.from({ length: 10_001 }, (_, i) => ({ id: `${i}`, title: "t" })));
    const tooMany = await admin(`/admin/stores/${store}/products`, "POST", many, "application/x-ndjson");
    expect(tooMany.status).toBe(413);
    // the body cap, with a small CATALOG_MAX_BODY_BYTES (the default is 10 MiB)
    const small = { ...env, CATALOG_MAX_BODY_BYTES: "2048" };
    const big = await app.fetch(
      new Request(`${BASE}/admin/stores/${store}/products`, {
        method: "POST",
        headers: { ...AUTH, "content-type": "application/x-ndjson" },
        body: ndjson(Array.from({ length: 40 }, (_, i) => mug(`b${i}`))),
      }),
      small,
      { waitUntil: () => undefined, passThroughOnException: () => undefined } as unknown as ExecutionContext,
    );
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ error: "payload_too_large", limit: 2048 });
  });
});

describe("what the catalogue serves", () => {
  it("a write is seen by the next search (no TTL wait); unavailable and deleted products are never served", async () => {
    const store = await newStore();
    await upsert(store, [mug("a"), mug("b"), mug("c")]);
    const first = await search(store, "coffee mug");
    expect(ids(first.body).sort()).toEqual(["a", "b", "c"]);
    expect((await search(store, "coffee mug")).res.headers.get("x-vitrine-cache")).toBe("HIT");
    // out of stock: gone from the very next answer
    const patched = await admin(`/admin/stores/${store}/products/b`, "PATCH", { available: false });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ product: { id: "b", available: false, price: 9.5 } });
    const after = await search(store, "coffee mug");
    expect(after.res.headers.get("x-vitrine-cache")).toBe("MISS");
    expect(ids(after.body).sort()).toEqual(["a", "c"]);
    // rerank: an unavailable product is refused like an unknown one
    const rerank = await call("/v1/rerank", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "coffee mug", candidates: ["a", "b"], store }),
    });
    expect(rerank.status).toBe(400);
    expect(await rerank.json()).toMatchObject({ error: "unknown_candidates", unknown: ["b"] });
    // deleted: gone too
    const deleted = await admin(`/admin/stores/${store}/products/c`, "DELETE");
    expect(await deleted.json()).toMatchObject({ deleted: "c" });
    expect(ids((await search(store, "coffee mug")).body)).toEqual(["a"]);
    expect((await admin(`/admin/stores/${store}/products/c`, "DELETE")).status).toBe(404);
    // bulk delete says which ids were not the store's
    const bulk = await admin(`/admin/stores/${store}/delete-products`, "POST", { ids: ["a", "zz"] });
    expect(await bulk.json()).toMatchObject({ deleted: ["a"], missing: ["zz"] });
    expect(ids((await search(store, "coffee mug")).body)).toEqual([]);
  });

  it("the same product id names different products in two stores", async () => {
    const [s1, s2] = [await newStore(), await newStore()];
    await upsert(s1, [mug("same", { title: "Blue enamel kettle" })]);
    await upsert(s2, [mug("same", { title: "Red enamel kettle" })]);
    expect(ids((await search(s1, "blue")).body)).toEqual(["same"]);
    expect(ids((await search(s1, "red")).body)).toEqual([]);
    expect(ids((await search(s2, "red")).body)).toEqual(["same"]);
    const p2 = (await (await admin(`/admin/stores/${s2}/products/same`, "GET")).json()) as { title: string };
    expect(p2.title).toBe("Red enamel kettle");
  });

  it("each store's bm25 statistics are its own", async () => {
    const [alone, crowded] = [await newStore(), await newStore()];
    const doc = mug("x", { title: "Walnut chess board" });
    await upsert(alone, [doc]);
    const before = (await search(alone, "walnut chess")).body.items[0]!.scores.retrieval;
    // another store full of walnut products: the lone store's idf, hence its bm25, does not move
    await upsert(crowded, [doc, ...Array.from({ length: 30 }, (_, i) => mug(`w${i}`, { title: `Walnut tray ${i}` }))]);
    const after = (await search(alone, "walnut chess", 49)).body.items[0]!.scores.retrieval; // another k: no cache hit
    const crowdedScore = (await search(crowded, "walnut chess")).body.items.find((i) => i.id === "x")!.scores.retrieval;
    expect(after).toBe(before);
    expect(crowdedScore).not.toBeCloseTo(before, 3);
  });

  it("a catalogue loaded through the API ranks exactly as the same catalogue loaded by the pipeline", async () => {
    // the same products: through the API into one store, as the pipeline's rows (Python's product_row) into another
    const entries = (fixture as unknown as { catalog: { product: { id: string }; row: FixtureProduct }[] }).catalog;
    const [viaApi, viaPipeline] = [await newStore(), await newStore()];
    expect(
      (
        await upsert(
          viaApi,
          entries.map((e) => e.product),
        )
      ).rejected,
    ).toEqual([]);
    await insertFixtureProducts(
      env.DB,
      entries.map((e) => e.row),
      { store: viaPipeline, firstRowid: 900_000_000 },
    );
    const rows = (store: string) =>
      env.DB.prepare("SELECT * FROM products WHERE store = ?1 ORDER BY id")
        .bind(store)
        .all<Record<string, unknown>>()
        .then((r) => r.results.map(({ rowid: _, store: __, updated_at: ___, ...row }) => row));
    expect(await rows(viaApi)).toEqual(await rows(viaPipeline));
    for (const q of ["espresso cups", "greek cookbook", "smart tv black", "notebook"]) {
      const [a, b] = [await search(viaApi, q), await search(viaPipeline, q)];
      expect(
        a.body.items.map((i) => [i.id, i.scores.retrieval]),
        q,
      ).toEqual(b.body.items.map((i) => [i.id, i.scores.retrieval]));
    }
  });

  it("exports a store a page at a time", async () => {
    const store = await newStore();
    await upsert(
      store,
      Array.from({ length: 25 }, (_, i) => mug(`e${String(i).padStart(2, "0")}`)),
    );
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = (await (
        await admin(`/admin/stores/${store}/products?limit=10${cursor ? `&cursor=${cursor}` : ""}`, "GET")
      ).json()) as { products: { id: string }[]; nextCursor?: string };
      seen.push(...page.products.map((p) => p.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(25);
    expect(new Set(seen).size).toBe(25);
  });
});

describe("product rows", () => {
  it("derive is_book from the category path and clip long text on a character boundary", () => {
    expect(isBookCategory(["Books", "Literature"])).toBe(true);
    expect(isBookCategory(["Kindle Store", "Kindle eBooks"])).toBe(true);
    expect(isBookCategory(["Office Products", "Notebooks"])).toBe(false);
    const row = productRow({ id: "b1", title: "A novel", category: ["Books"], available: true });
    expect(row).toMatchObject({ is_book: 1, category: "Books", available: 1, brand: "", title_terms: "a novel" });
    const long = "é".repeat(7000); // 14,000 bytes: clipped to 12,000 bytes = 6,000 characters
    expect(clipBytes(long)).toHaveLength(6000);
    expect(clipBytes("a" + long).length).toBe(6000); // 1 + 5999 × 2 = 11,999 bytes: the cut character is dropped
  });
});
