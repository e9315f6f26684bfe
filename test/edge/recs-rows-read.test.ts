/**
 * Recommendations read a bounded number of D1 rows per request, whatever the store's catalogue (issue 23): two stores
 * of the same shape, 1,000 and 10,000 items (item stats, 10 co-purchase + 5 content neighbours and an MF top-200 list
 * per item, a known user with 20 purchases and an MF list), generated in local D1 by SQL; the same asks of each —
 * known user, item page, cart — through the real worker, and the rows D1 read for each (meta.rows_read summed by the
 * request's D1 session wrapper, edge/db/row-count.ts, served as `x-vitrine-d1-rows-read`). Before issue 23 the first
 * request of a version read every stats row and every item vector (≥ 2 × the catalogue).
 */
import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { invalidateExperimentConfig } from "../../edge/experiments/config";
import { ROWS_READ_HEADER } from "../../edge/routes/ranked";

const VERSION = "recs-light-rows";
const SIZES = { small: 1_000, large: 10_000 } as const;
const storeOf = (n: number): string => `rows-${n}`;
const item = (i: number): string => `I${String(i).padStart(6, "0")}`;

/** ?1 store, ?2 version, ?3 items: 0..n-1 */
const SEQ = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?3 - 1)";
const K = (k: number): string => `k(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM k WHERE j < ${k - 1})`;

async function seedStore(n: number): Promise<void> {
  const store = storeOf(n);
  const db = env.DB;
  const id = (expr: string): string => `printf('I%06d', ${expr})`;
  await db.batch([
    db.prepare("INSERT INTO stores (id, title) VALUES (?1, ?1)").bind(store),
    db
      .prepare(`${SEQ} INSERT INTO products (id, title, price, store) SELECT ${id("i")}, 'Item ' || i, 1.5, ?1 FROM n`)
      .bind(store, VERSION, n),
    db
      .prepare(
        `${SEQ} INSERT INTO recs_item_stats (store, model_version, item_id, pop_all, pop_recent, trend, repeat_rate, price)
         SELECT ?1, ?2, ${id("i")}, i % 7, i % 3, ((i * 37) % 1000) / 10.0, 0.1, 1.5 FROM n`,
      )
      .bind(store, VERSION, n),
    db
      .prepare(
        `${SEQ}, ${K(15)} INSERT INTO recs_neighbours (store, model_version, kind, item_id, rank, neighbour_id, score)
         SELECT ?1, ?2, CASE WHEN j < 10 THEN 'copurchase' ELSE 'content' END, ${id("i")}, j % 10,
                ${id("(i * 13 + j * 101 + 1) % ?3")}, 1.0 / (j + 2) FROM n, k`,
      )
      .bind(store, VERSION, n),
    db
      .prepare(
        `${SEQ}, ${K(200)} INSERT INTO recs_mf_top (store, model_version, kind, key, items, scores)
         SELECT ?1, ?2, 'item', ${id("i")},
                (SELECT json_group_array(${id("(i + j * 7 + 1) % ?3")}) FROM k),
                (SELECT json_group_array(1.0 - j / 1000.0) FROM k) FROM n`,
      )
      .bind(store, VERSION, n),
    db
      .prepare(
        `WITH ${K(200)} INSERT INTO recs_mf_top (store, model_version, kind, key, items, scores)
         SELECT ?1, ?2, 'user', 'u1', json_group_array(${id("j * 3")}), json_group_array(2.0 - j / 1000.0) FROM k`,
      )
      .bind(store, VERSION),
    db
      .prepare("INSERT INTO recs_vectors (store, model_version, kind, key, vector) VALUES (?1, ?2, 'user', 'u1', ?3)")
      .bind(store, VERSION, JSON.stringify(Array.from({ length: 48 }, (_, j) => j / 100))),
    db
      .prepare(
        `WITH ${K(20)} INSERT INTO recs_history (store, user_id, item_id, n, last_day, qty)
         SELECT ?1, 'u1', ${id("j * 17")}, 1 + j % 3, 15000 + j, 2 FROM k`,
      )
      .bind(store),
    db.prepare("INSERT INTO recs_current (store, model_version) VALUES (?1, ?2)").bind(store, VERSION),
  ]);
}

async function rowsRead(query: string): Promise<number> {
  const res = await SELF.fetch(`http://vitrine.test/v1/recommend?${query}`);
  expect(res.status, await res.clone().text()).toBe(200);
  const body = (await res.json()) as { items: unknown[] };
  expect(body.items.length).toBeGreaterThan(0);
  expect(res.headers.get("x-vitrine-cache")).not.toBe("HIT"); // computed by this request
  return Number(res.headers.get(ROWS_READ_HEADER));
}

beforeAll(async () => {
  await seedStore(SIZES.small);
  await seedStore(SIZES.large);
  invalidateExperimentConfig();
});

describe("rows read per recommendation request", () => {
  it.each([
    ["known user", "user=u1"],
    ["item page", `item=${item(5)}`],
    ["cart", `cart=${item(1)},${item(2)},${item(3)}`],
    ["known user + cart", `user=u1&cart=${item(7)},${item(8)}`],
  ])("%s: the same bound at 1,000 and 10,000 items", async (_name, ask) => {
    const small = await rowsRead(`store=${storeOf(SIZES.small)}&k=10&${ask}`);
    const large = await rowsRead(`store=${storeOf(SIZES.large)}&k=10&${ask}`);
    console.log(`rows read (${_name}): ${SIZES.small} items → ${small}, ${SIZES.large} items → ${large}`);
    expect(small).toBeGreaterThan(0);
    // bounded by the request (seeds, candidates, trending top), not the catalogue: no growth with 10× the items
    expect(large).toBeLessThanOrEqual(small * 1.1 + 20);
    expect(large).toBeLessThan(SIZES.large / 4); // the whole-version load read ≥ 2 rows per item
  });

  it("search responses carry the counter too", async () => {
    const res = await SELF.fetch("http://vitrine.test/v1/search?q=lamp");
    await res.arrayBuffer();
    expect(res.headers.get(ROWS_READ_HEADER)).toMatch(/^\d+$/);
  });
});
