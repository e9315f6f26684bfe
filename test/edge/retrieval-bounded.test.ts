/**
 * Retrieval with a bounded first pass (edge/search/retrieve-bounded.sql over the store's quality-ordered index,
 * edge/catalog/quality-index.sql), in workerd on local D1:
 *  - a query that matches no more than the bound gets exactly retrieve.sql's rows — same ids, same order, same bm25
 *    features (so the light model's inputs and the ESCI ranking do not change: every ESCI query matches fewer than
 *    the default bound of 10,000, the whole catalogue being 6,764 products);
 *  - beyond the bound, the best n (bm25, then id) among the `bound` best-quality matches (quality tier by rating
 *    count, unavailable last, then rowid);
 *  - the index follows writes (rating count, availability, text, deletes), checked by FTS5's integrity-check;
 *  - a store without the index (created before migration 0019) is read by retrieve.sql, remembered until the index
 *    is created (no failing statement per request).
 */
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureStoreIndex, ftsTable, qualityIndex } from "../../edge/catalog/store-index";
import { matchExpression } from "../../edge/search/features";
import { retrieveCandidates } from "../../edge/search/retrieval";
import { FIXTURE_PRODUCTS, insertFixtureProducts } from "./fixtures";

const STORE = "bounded";
const db = env.DB;
const QUERIES = ["black", "phone case", "acme running shoes", "lamp", "model", "durable long bullet text"];

/** The tier of quality-key.sql for a rating count and availability. */
function tier(ratingCount: number | null, available: number): number {
  if (available === 0) return 7;
  const rc = ratingCount ?? 0;
  return rc >= 100_000 ? 0 : rc >= 10_000 ? 1 : rc >= 1_000 ? 2 : rc >= 100 ? 3 : rc >= 10 ? 4 : rc >= 1 ? 5 : 6;
}

beforeAll(async () => {
  await db.prepare("INSERT OR IGNORE INTO stores (id, title) VALUES (?1, 'bounded retrieval')").bind(STORE).run();
  await insertFixtureProducts(db, FIXTURE_PRODUCTS, { store: STORE, firstRowid: 5_001 });
});

describe("bounded first pass", () => {
  it.each(QUERIES)("%s: under the bound, exactly retrieve.sql's rows and features", async (q) => {
    const match = matchExpression(q)!;
    for (const n of [3, 20, 200]) {
      const exact = await retrieveCandidates(db, STORE, match, n, 0);
      expect(exact.length).toBeGreaterThan(0);
      expect(await retrieveCandidates(db, STORE, match, n, 10_000)).toEqual(exact);
      expect(await retrieveCandidates(db, STORE, match, n, FIXTURE_PRODUCTS.length)).toEqual(exact);
    }
  });

  it.each(QUERIES)("%s: over the bound, the best n of the best-quality matches", async (q) => {
    const match = matchExpression(q)!;
    const all = await retrieveCandidates(db, STORE, match, 1_000, 0);
    const byQuality = [...all].sort((a, b) => tier(a.rating_count, 1) - tier(b.rating_count, 1) || a.rowid - b.rowid);
    for (const bound of [1, 5, 12]) {
      const kept = byQuality.slice(0, bound);
      const expected = kept
        .sort((a, b) => b.bm25! - a.bm25! || (a.id < b.id ? -1 : 1))
        .slice(0, 4)
        .map((r) => r.id);
      const got = await retrieveCandidates(db, STORE, match, 4, bound);
      expect(got.map((r) => r.id)).toEqual(expected);
    }
  });

  it("follows writes: rating counts, availability, text and deletes move or drop a product's postings", async () => {
    const [a, b, c, d] = FIXTURE_PRODUCTS.map((p) => p.id);
    await db.batch([
      db.prepare("UPDATE products SET rating_count = 250000 WHERE store = ?1 AND id = ?2").bind(STORE, b),
      db.prepare("UPDATE products SET available = 0 WHERE store = ?1 AND id = ?2").bind(STORE, a),
      db.prepare("UPDATE products SET title = title || ' zebra' WHERE store = ?1 AND id = ?2").bind(STORE, c),
      db.prepare("DELETE FROM products WHERE store = ?1 AND id = ?2").bind(STORE, d),
    ]);
    const fts = `${ftsTable(STORE)}_q`;
    await db.prepare(`INSERT INTO ${fts}(${fts}) VALUES ('integrity-check')`).run();
    // the most-rated product is now first in quality order: a bound of 1 retrieves it for a query it matches
    const top = await retrieveCandidates(db, STORE, matchExpression("model")!, 5, 1);
    expect(top.map((r) => r.id)).toEqual([b]);
    expect((await retrieveCandidates(db, STORE, matchExpression("zebra")!, 5, 10)).map((r) => r.id)).toEqual([c]);
    for (const q of QUERIES) {
      const match = matchExpression(q)!;
      const exact = await retrieveCandidates(db, STORE, match, 200, 0);
      expect(exact.map((r) => r.id)).not.toContain(a);
      expect(exact.map((r) => r.id)).not.toContain(d);
      expect(await retrieveCandidates(db, STORE, match, 200, 10_000)).toEqual(exact);
    }
  });

  it("reads a store without its quality-ordered index with retrieve.sql", async () => {
    const other = "bounded-old";
    await db.prepare("INSERT OR IGNORE INTO stores (id, title) VALUES (?1, 'older store')").bind(other).run();
    await insertFixtureProducts(db, FIXTURE_PRODUCTS.slice(0, 20), { store: other, firstRowid: 9_001 });
    await db.prepare(`DROP TABLE ${ftsTable(other)}_q`).run();
    const match = matchExpression("black")!;
    const exact = await retrieveCandidates(db, other, match, 50, 0);
    expect(exact.length).toBeGreaterThan(0);
    expect(await retrieveCandidates(db, other, match, 50, 10_000)).toEqual(exact);
    expect(qualityIndex.mayExist(other)).toBe(false); // the next request goes straight to retrieve.sql
    expect(await retrieveCandidates(db, other, match, 50, 10_000)).toEqual(exact);
    await ensureStoreIndex(db, other); // a write creates the index (and indexes the store's products): looked for again
    expect(qualityIndex.mayExist(other)).toBe(true);
    expect(await retrieveCandidates(db, other, match, 50, 10_000)).toEqual(exact);
  });
});
