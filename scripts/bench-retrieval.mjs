#!/usr/bin/env node
// `npm run bench:retrieval` — search retrieval (the FTS5 stage alone) at catalogue sizes 10^4 .. 10^6, in workerd:
// the synthetic Zipf store of `bench:scale` (`python -m vitrine_gpu recs synthetic-scale --events 0`,
// gpu-tier/vitrine_gpu/search/synthetic_store.py: its products and its head / torso / tail query mix) is loaded into
// a local D1 database (Miniflare, the D1 wrangler dev runs; persisted under --dir and reused by later runs), then each
// retrieval design is timed from inside a worker, the way the edge calls D1, on those queries. Prints p50 / p95 per
// design and size, and whether each design returns the same ids in the same order as today's retrieve.sql.
//   npm run bench:retrieval -- [--products 10000,100000,1000000] [--reps 10] [--k 200] [--dir DIR] [--designs a,b]
//                               [--json FILE] [--shards 2]   (--shards: sharded-vs-single agreement instead)
// Importable: buildCatalogueDb(n, { dir, log }) → { mf, db, store, queries } (a Miniflare whose D1 `DB` holds the
// migrations and store "bench" with synthetic products 0..n-1, its FTS5 index and its quality-ordered index, as the
// edge makes them, and the store's query mix); shardAgreement(n, { shards, k, dir, log });
// syntheticStore(n, dir) → { queries, products, done }.
import { execFile } from "node:child_process";
import { createReadStream, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { parseArgs, promisify } from "node:util";
import { Miniflare } from "miniflare";
import { PYTHON, REPO } from "../test/integration/harness.mjs";

const execFileP = promisify(execFile);
const STORE = "bench";
const FTS = "products_fts_bench";
/** Bumped whenever the generator or the load changes, so a persisted database of an older build is rebuilt. */
const BUILD = "v3";
const LOAD_BATCH = 2_000;
const BREAKPOINT = "--> statement-breakpoint";
const WEIGHTS = "4.0, 2.0, 1.0, 1.0, 0.5";

const statements = (sql) =>
  sql
    .split(BREAKPOINT)
    .map((s) => s.replace(/^--.*$/gm, "").trim())
    .filter((s) => s !== "");

/** Times a statement `reps` times from inside the worker (D1 through its binding, as the edge calls it). */
const WORKER = `export default {
  async fetch(request, env) {
    const { sql, binds, reps } = await request.json();
    const stmt = env.DB.prepare(sql).bind(...binds);
    const ms = [];
    let rows = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      rows = (await stmt.all()).results;
      ms.push(performance.now() - t0);
    }
    return Response.json({ ms, ids: rows.map((r) => r.id), bm25: rows.map((r) => r.bm25) });
  },
};`;

const PRODUCT_SQL = `INSERT INTO products (id, title, brand, color, bullets, description, category, price, rating,
  rating_count, is_book, available, store, updated_at)
SELECT json_extract(j.value, '$.id'), json_extract(j.value, '$.title'), json_extract(j.value, '$.brand'),
  json_extract(j.value, '$.color'), coalesce(json_extract(j.value, '$.bullets'), ''),
  json_extract(j.value, '$.description'),
  json_extract(j.value, '$.category'), json_extract(j.value, '$.price'), json_extract(j.value, '$.rating'),
  json_extract(j.value, '$.ratingCount'), 0, 1, ?2, 0
FROM json_each(?1) AS j`;

const ftsColumns = "title, brand, color, bullets, description";

/** Every migration's statements, in order. */
const migrationStatements = () =>
  readdirSync(path.join(REPO, "migrations"))
    .filter((f) => /^\d{4}_.*\.sql$/.test(f))
    .sort()
    .flatMap((f) => statements(readFileSync(path.join(REPO, "migrations", f), "utf8")));

/** The bench store's index as the catalogue API creates it (edge/catalog/store-index.sql). */
const storeIndexStatements = () =>
  statements(readFileSync(path.join(REPO, "edge/catalog/store-index.sql"), "utf8")).map((s) =>
    s.replaceAll("{{fts}}", FTS).replaceAll("{{store}}", STORE),
  );

/**
 * The synthetic store of n products from the one generator (gpu-tier search/synthetic_store.py, the catalogue of
 * `bench:scale`; seeded, so the same n gives the same store): `python -m vitrine_gpu recs synthetic-scale --events 0`
 * writes products.ndjson and queries.json under `dir`. Returns { queries: { head, torso, tail }, products, done }:
 * products() streams the file as batches of LOAD_BATCH API products (each with `index`, its position in the file;
 * category joined by " > " as D1 stores it), regenerating it if gone; done() deletes it once loaded (queries.json
 * stays for later runs).
 */
export async function syntheticStore(n, dir) {
  const file = path.join(dir, "products.ndjson");
  const queriesFile = path.join(dir, "queries.json");
  const generate = async () => {
    mkdirSync(dir, { recursive: true });
    await execFileP(
      PYTHON,
      ["-m", "vitrine_gpu", "recs", "synthetic-scale", dir, "--products", `${n}`, "--events", "0"],
      {
        cwd: REPO,
        env: { ...process.env, PYTHONPATH: path.join(REPO, "gpu-tier") },
        maxBuffer: 16 * 2 ** 20,
      },
    );
    rmSync(path.join(dir, "events.ndjson"), { force: true });
  };
  if (!existsSync(queriesFile)) await generate();
  async function* products() {
    if (!existsSync(file)) await generate();
    let batch = [];
    let i = 0;
    for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
      if (line === "") continue;
      const p = JSON.parse(line);
      batch.push({ ...p, index: i++, category: p.category.join(" > ") });
      if (batch.length === LOAD_BATCH) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }
  return {
    queries: JSON.parse(readFileSync(queriesFile, "utf8")),
    products,
    done: () => rmSync(file, { force: true }),
  };
}

/**
 * A Miniflare whose D1 `DB` holds the migrations and store "bench" with products 0..n-1 and its FTS5 index
 * (edge/catalog/store-index.sql) and its quality-ordered index (edge/catalog/quality-index.sql). Built once per size
 * under `dir` and reused; the detail=column variant is built on first use by its design.
 */
export async function buildCatalogueDb(
  n,
  { dir = path.join(os.tmpdir(), "vitrine-bench-retrieval"), log = console.log } = {},
) {
  const persist = path.join(dir, `${BUILD}-${n}`);
  const done = path.join(persist, "built");
  mkdirSync(persist, { recursive: true });
  const mf = new Miniflare({ modules: true, script: WORKER, d1Databases: { DB: `bench-${n}` }, d1Persist: persist });
  const db = await mf.getD1Database("DB");
  const t0 = performance.now();
  const synthetic = await syntheticStore(n, path.join(persist, "store"));
  if (existsSync(done)) {
    await ensureQualityIndex(db);
    return { mf, db, store: STORE, queries: synthetic.queries };
  }
  log(`  generated in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

  for (const s of migrationStatements()) await db.prepare(s).run();
  await db.prepare("INSERT OR IGNORE INTO stores (id, title) VALUES (?1, 'scale benchmark')").bind(STORE).run();
  for await (const batch of synthetic.products()) {
    await db.prepare(PRODUCT_SQL).bind(JSON.stringify(batch), STORE).run();
    if (batch[0].index % 100_000 === 0) log(`  loaded ${batch[0].index.toLocaleString()} / ${n.toLocaleString()}`);
  }
  synthetic.done();
  // the store's index as the catalogue API creates it, filled in one statement (faster than row triggers)
  for (const s of storeIndexStatements()) await db.prepare(s).run();
  const fill = (table) =>
    db
      .prepare(`INSERT INTO ${table}(rowid, ${ftsColumns}) SELECT rowid, ${ftsColumns} FROM products WHERE store = ?1`)
      .bind(STORE)
      .run();
  await fill(FTS);
  log(`  indexed (${FTS})`);
  log(`  built in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  await ensureQualityIndex(db);
  log(`  quality-ordered index in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  writeFileSync(done, new Date().toISOString());
  return { mf, db, store: STORE, queries: synthetic.queries };
}

/** The sections of an edge SQL file with a statement-breakpoint between statements, comments dropped. */
const edgeStatements = (file, fill) => statements(readFileSync(path.join(REPO, file), "utf8")).map(fill);

/** The store's quality-ordered index (edge/catalog/quality-index.sql, as the edge creates it; fills itself once). */
async function ensureQualityIndex(db) {
  const key = readFileSync(path.join(REPO, "edge/catalog/quality-key.sql"), "utf8")
    .replace(/^--.*$/gm, "")
    .trim();
  const fill = (s) =>
    s
      .replaceAll("{{fts}}", FTS)
      .replaceAll("{{store}}", STORE)
      .replaceAll(/\{\{key:(\w+)\}\}/g, (_, row) => key.replaceAll("{{row}}", row));
  for (const s of edgeStatements("edge/catalog/quality-index.sql", fill)) await db.prepare(s).run();
}

/** An index variant only the benchmark compares: detail=column (no token positions), built on first use. */
async function ensureDetailColumnIndex(db) {
  await db
    .prepare(
      `CREATE VIRTUAL TABLE IF NOT EXISTS ${FTS}_dc USING fts5(${ftsColumns}, content='products', content_rowid='rowid',
       tokenize='unicode61 remove_diacritics 2', detail=column)`,
    )
    .run();
  await db
    .prepare(
      `INSERT INTO ${FTS}_dc(rowid, ${ftsColumns}) SELECT rowid, ${ftsColumns} FROM products
       WHERE store = ?1 AND NOT EXISTS (SELECT 1 FROM ${FTS}_dc_docsize)`,
    )
    .bind(STORE)
    .run();
}

/**
 * Sharded against single-database retrieval on the synthetic catalogue of n split over `shards` databases (product i
 * in shard i mod shards: for bm25's statistics any split by a hash of the id is alike): how often the top k is the
 * single database's exactly — merged by each shard's own bm25 (what the edge did before edge/search/shard-bm25.ts), and
 * by the edge's retrieveFromShards (the store's statistics) — and the edge's retrieval time, single and sharded
 * (called from Node through Miniflare's D1 proxy: both pay its round trips). Builds the single database first
 * (buildCatalogueDb) if an earlier run has not.
 */
export async function shardAgreement(
  n,
  { shards = 2, k = 200, dir = path.join(os.tmpdir(), "vitrine-bench-retrieval"), log = console.log } = {},
) {
  await (await buildCatalogueDb(n, { dir, log })).mf.dispose();
  const edge = await edgeRetrieval(dir);
  const persist = path.join(dir, `${BUILD}-${n}-shards${shards}`);
  mkdirSync(persist, { recursive: true });
  const names = Array.from({ length: shards }, (_, s) => `S${s}`);
  const mf = new Miniflare({
    modules: true,
    script: WORKER,
    d1Databases: { DB: `bench-${n}`, ...Object.fromEntries(names.map((s) => [s, `bench-${n}-${s}`])) },
    d1Persist: path.join(dir, `${BUILD}-${n}`),
  });
  const single = await mf.getD1Database("DB");
  const dbs = await Promise.all(names.map((s) => mf.getD1Database(s)));
  const synthetic = await syntheticStore(n, path.join(dir, `${BUILD}-${n}`, "store")); // the single database's
  if (!existsSync(path.join(persist, "built"))) {
    for (const db of dbs) for (const st of migrationStatements()) await db.prepare(st).run();
    for await (const batch of synthetic.products())
      for (const [s, db] of dbs.entries())
        await db
          .prepare(PRODUCT_SQL)
          .bind(JSON.stringify(batch.filter((p) => p.index % shards === s)), STORE)
          .run();
    synthetic.done();
    for (const db of dbs) {
      for (const st of storeIndexStatements()) await db.prepare(st).run();
      await db
        .prepare(`INSERT INTO ${FTS}(rowid, ${ftsColumns}) SELECT rowid, ${ftsColumns} FROM products WHERE store = ?1`)
        .bind(STORE)
        .run();
    }
    writeFileSync(path.join(persist, "built"), new Date().toISOString());
  }
  const ids = (rows) => JSON.stringify(rows.map((r) => r.id));
  const out = { queries: 0, own: 0, store: 0, overlapOwn: [], ms: { single: [], sharded: [], own: [], cached: [] } };
  for (const q of Object.values(synthetic.queries).flat()) {
    const m = match(q);
    await edge.retrieveFromShards(dbs, STORE, m, k); // warm
    let t0 = performance.now();
    const want = await edge.retrieveCandidates(single, STORE, m, k);
    out.ms.single.push(performance.now() - t0);
    t0 = performance.now();
    const merged = await edge.retrieveFromShards(dbs, STORE, m, k);
    out.ms.sharded.push(performance.now() - t0);
    await edge.retrieveFromShards(dbs, STORE, m, k, 0, 1); // the statistics kept at catalogue version 1
    t0 = performance.now();
    const cached = await edge.retrieveFromShards(dbs, STORE, m, k, 0, 1);
    out.ms.cached.push(performance.now() - t0);
    if (ids(cached) !== ids(merged)) throw new Error(`kept statistics changed the list of ${q}`);
    t0 = performance.now();
    const own = (await Promise.all(dbs.map((db) => edge.retrieveCandidates(db, STORE, m, k))))
      .flat()
      .sort((a, b) => b.bm25 - a.bm25 || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .slice(0, k);
    out.ms.own.push(performance.now() - t0);
    out.queries += 1;
    if (ids(own) === ids(want)) out.own += 1;
    if (ids(merged) === ids(want)) out.store += 1;
    const have = new Set(own.map((r) => r.id));
    out.overlapOwn.push(want.filter((r) => have.has(r.id)).length / Math.max(1, want.length));
  }
  await mf.dispose();
  return out;
}

/** The edge's edge/search/retrieval.ts bundled for Node (esbuild, its .sql files as text), imported. */
async function edgeRetrieval(dir) {
  const { build } = await import("esbuild");
  const file = path.join(dir, "edge-retrieval.mjs");
  await build({
    entryPoints: [path.join(REPO, "edge/search/retrieval.ts")],
    bundle: true,
    format: "esm",
    platform: "node",
    loader: { ".sql": "text" },
    outfile: file,
    logLevel: "warning",
  });
  return import(pathToFileURL(file).href);
}

/** FTS5 match expression of a query, as edge/search/features.ts matchExpression builds it (ASCII words here). */
const match = (q) =>
  q
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean)
    .map((t) => `"${t}"`)
    .join(" OR ");

const SELECT_ROW = `p.rowid AS rowid, p.id AS id, p.title AS title, p.brand AS brand, p.color AS color,
       p.bullets AS bullets, p.description AS description, p.category AS category,
       p.price AS price, p.rating AS rating, p.rating_count AS rating_count, p.is_book AS is_book,
       p.title_terms AS title_terms, p.brand_terms AS brand_terms, p.color_terms AS color_terms,
       p.category_terms AS category_terms, p.text_terms AS text_terms, p.title_unique_tokens AS title_unique_tokens,
       p.bullets_tokens AS bullets_tokens, p.description_tokens AS description_tokens`;
const BM25S = (t) => `-bm25(${t}, ${WEIGHTS}) AS bm25,
       -bm25(${t}, 1.0, 0.0, 0.0, 0.0, 0.0) AS bm25_title, -bm25(${t}, 0.0, 1.0, 0.0, 0.0, 0.0) AS bm25_brand,
       -bm25(${t}, 0.0, 0.0, 1.0, 0.0, 0.0) AS bm25_color, -bm25(${t}, 0.0, 0.0, 0.0, 1.0, 0.0) AS bm25_bullets,
       -bm25(${t}, 0.0, 0.0, 0.0, 0.0, 1.0) AS bm25_description`;

/** Two-pass retrieval over FTS table `t`: rowids by configured rank (early stop), then full rows for those. */
const twoPass = (t) => `WITH top AS (
  SELECT f.rowid AS rowid FROM ${t} f JOIN products p ON p.rowid = f.rowid
  WHERE ${t} MATCH ?1 AND f.rank MATCH 'bm25(${WEIGHTS})' AND p.store = ?3 AND p.available = 1
  ORDER BY f.rank LIMIT ?2 + ?4)
SELECT ${SELECT_ROW}, ${BM25S(t)}
FROM ${t} JOIN products p ON p.rowid = ${t}.rowid
WHERE ${t} MATCH ?1 AND ${t}.rowid IN (SELECT rowid FROM top)
ORDER BY bm25(${t}, ${WEIGHTS}), p.id LIMIT ?2`;

/** The designs compared: SQL and binds (match, k, store[, extra]). */
function designs(k) {
  const retrieveSql = readFileSync(path.join(REPO, "edge/search/retrieve.sql"), "utf8");
  const bounded = readFileSync(path.join(REPO, "edge/search/retrieve-bounded.sql"), "utf8").replaceAll("{{fts}}", FTS);
  return {
    "today (bm25 sort of every match)": { sql: retrieveSql.replaceAll("{{fts}}", FTS), binds: [k, STORE] },
    "detail=column, today's SQL": {
      sql: retrieveSql.replaceAll("{{fts}}", `${FTS}_dc`),
      binds: [k, STORE],
      prepare: ensureDetailColumnIndex,
    },
    "rank configured, ORDER BY rank LIMIT k (one pass)": {
      sql: `SELECT ${SELECT_ROW}, ${BM25S(FTS)} FROM ${FTS} JOIN products p ON p.rowid = ${FTS}.rowid
WHERE ${FTS} MATCH ?1 AND ${FTS}.rank MATCH 'bm25(${WEIGHTS})' AND p.store = ?3 AND p.available = 1
ORDER BY ${FTS}.rank LIMIT ?2`,
      binds: [k, STORE],
    },
    "two-pass: rank top k+64 rowids, then rows": { sql: twoPass(FTS), binds: [k, STORE, 64] },
    "bounded first pass, best 2k by quality": { sql: bounded, binds: [k, STORE, 2_000] },
    "bounded first pass, best 5k by quality": { sql: bounded, binds: [k, STORE, 5_000] },
    "bounded first pass, best 10k by quality (default)": { sql: bounded, binds: [k, STORE, 10_000] },
    "bounded first pass, best 20k by quality": { sql: bounded, binds: [k, STORE, 20_000] },
  };
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const fmt = (x) => (x >= 100 ? Math.round(x).toString() : x.toFixed(1));

async function main() {
  const { values } = parseArgs({
    options: {
      products: { type: "string", default: "10000,100000,1000000" },
      reps: { type: "string", default: "10" },
      k: { type: "string", default: "200" },
      dir: { type: "string", default: path.join(os.tmpdir(), "vitrine-bench-retrieval") },
      designs: { type: "string" },
      json: { type: "string" },
      shards: { type: "string" },
    },
  });
  const sizes = values.products.split(",").map(Number);
  if (values.shards) {
    for (const n of sizes) {
      const a = await shardAgreement(n, { shards: Number(values.shards), k: Number(values.k), dir: values.dir });
      const mean = a.overlapOwn.reduce((x, y) => x + y, 0) / a.overlapOwn.length;
      const p50 = (xs) => fmt(quantile(xs, 0.5));
      console.log(
        `${n.toLocaleString()} products over ${values.shards} shards, top ${values.k}, ${a.queries} queries: the single ` +
          `database's list exactly — merged by each shard's own bm25 ${a.own}/${a.queries} (mean overlap ` +
          `${(100 * mean).toFixed(1)}%), by the store's statistics ${a.store}/${a.queries}; retrieval p50 single ` +
          `${p50(a.ms.single)} ms, sharded by the shards' own bm25 ${p50(a.ms.own)} ms, by the store's statistics ` +
          `${p50(a.ms.sharded)} ms (statistics kept per catalogue version: ${p50(a.ms.cached)} ms) ` +
          `(load ${os.loadavg()[0].toFixed(2)})`,
      );
    }
    return;
  }
  const reps = Number(values.reps);
  const k = Number(values.k);
  const all = designs(k);
  const picked = values.designs
    ? Object.entries(all).filter(([name]) => values.designs.split(",").some((d) => name.includes(d)))
    : Object.entries(all);
  console.log(
    `bench:retrieval on ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"} (load ${os.loadavg()[0].toFixed(2)}), ` +
      `workerd local D1 (Miniflare), k = ${k}, ${reps} runs per query after one warm-up; ms`,
  );
  const report = [];
  for (const n of sizes) {
    console.log(`\n${n.toLocaleString()} products`);
    const { mf, db, queries } = await buildCatalogueDb(n, { dir: values.dir });
    const matches = {};
    for (const [tier, qs] of Object.entries(queries)) {
      let total = 0;
      for (const q of qs) {
        const r = await db.prepare(`SELECT count(*) AS c FROM ${FTS} WHERE ${FTS} MATCH ?1`).bind(match(q)).first();
        total += r.c;
      }
      matches[tier] = Math.round(total / qs.length);
    }
    console.log(
      `  matches per query (mean): head ${matches.head.toLocaleString()}, torso ${matches.torso.toLocaleString()}, ` +
        `tail ${matches.tail.toLocaleString()}`,
    );
    console.log(
      `  ${"design".padEnd(52)} ${["head p50", "head p95", "torso p95", "tail p95"].map((h) => h.padStart(9)).join(" ")}  same as today`,
    );
    const truth = {};
    for (const [name, d] of picked) {
      if (d.prepare) await d.prepare(db);
      const ms = { head: [], torso: [], tail: [] };
      let same = 0;
      let checked = 0;
      for (const [tier, qs] of Object.entries(queries)) {
        for (const q of qs) {
          const body = { sql: d.sql, binds: [match(q), ...d.binds], reps: 1 };
          const warm = await (
            await mf.dispatchFetch("http://bench/", { method: "POST", body: JSON.stringify(body) })
          ).json();
          if (warm.error) throw new Error(warm.error);
          const res = await (
            await mf.dispatchFetch("http://bench/", { method: "POST", body: JSON.stringify({ ...body, reps }) })
          ).json();
          ms[tier].push(...res.ms);
          const key = `${tier}:${q}`;
          if (name.startsWith("today")) truth[key] = res.ids;
          if (truth[key]) {
            checked += 1;
            if (JSON.stringify(truth[key]) === JSON.stringify(res.ids)) same += 1;
          }
        }
      }
      const row = {
        n,
        design: name,
        headP50: quantile(ms.head, 0.5),
        headP95: quantile(ms.head, 0.95),
        torsoP95: quantile(ms.torso, 0.95),
        tailP95: quantile(ms.tail, 0.95),
        sameAsToday: `${same}/${checked}`,
      };
      report.push(row);
      console.log(
        `  ${name.padEnd(52)} ${[row.headP50, row.headP95, row.torsoP95, row.tailP95].map((x) => fmt(x).padStart(9)).join(" ")}  ${row.sameAsToday} queries`,
      );
    }
    await mf.dispose();
  }
  if (values.json) writeFileSync(values.json, JSON.stringify({ machine: os.cpus()[0]?.model, report }, null, 2));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
