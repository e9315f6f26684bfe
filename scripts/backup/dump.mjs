// A logical dump of a D1 database through any SqlSource (local state through wrangler's platform proxy, remote D1
// through `wrangler d1 execute --remote --json`), with each table's row count and content checksum.
//
// Why not `wrangler d1 export`: it refuses any database holding a virtual table ("D1 Export error: cannot export
// databases with Virtual Tables (fts5)", miniflare's dumpSql and the remote export alike), and every store's
// full-text index is an FTS5 table. The FTS5 tables here are indexes over `products`, so the dump leaves their shadow
// tables out and rebuilds each index from `products` at the end of the restore: an external-content index with
// 'rebuild', a contentless one (a store's quality-ordered index) by replaying its insert trigger over the rows.
//
// The SQL it writes, in this order: real tables (CREATE as stored), their rows (multi-row INSERTs ≤ 90 KB, under
// D1's 100 KB statement limit), sqlite_sequence, virtual tables + rebuild, then indexes, triggers and views (created
// after the rows: no trigger fires during a restore and each index is built once).
import { tableDigest, sha256Text } from "./manifest.mjs";

/** @typedef {{ all(sql: string): Promise<Record<string, unknown>[]>, close(): Promise<void> }} SqlSource */
/** @typedef {{ type: string, name: string, tbl_name: string, sql: string, populate?: string | null }} SchemaObject */

const STATEMENT_MAX_BYTES = 90_000;
const quoteId = (/** @type {string} */ s) => `"${s.replaceAll('"', '""')}"`;

/** Whether a schema object is D1's or SQLite's own (never dumped). */
const internal = (/** @type {string} */ name) => /^_cf_/i.test(name) || /^sqlite_/i.test(name);

/**
 * The database's schema split by what the dump does with each object.
 * @param {SqlSource} db
 */
export async function readSchema(db) {
  const kinds = new Map(
    (await db.all("PRAGMA table_list")).map((r) => [String(r.name), { type: String(r.type), wr: Number(r.wr) }]),
  );
  const objects = /** @type {SchemaObject[]} */ (
    await db.all("SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid")
  );
  const shadow = (/** @type {string} */ t) => kinds.get(t)?.type === "shadow";
  const tables = [];
  const virtual = [];
  const later = [];
  for (const o of objects) {
    if (internal(o.name) || shadow(o.tbl_name)) continue;
    if (o.type === "table" && /^CREATE\s+VIRTUAL\s+TABLE/i.test(o.sql)) virtual.push(o);
    else if (o.type === "table") {
      if (kinds.get(o.name)?.wr) throw new Error(`table ${o.name} is WITHOUT ROWID: the dump pages tables by rowid`);
      tables.push(o);
    } else if (!internal(o.tbl_name)) later.push(o);
  }
  for (const v of virtual) {
    if (!/\bfts5\b/i.test(v.sql)) throw new Error(`virtual table ${v.name} is not an FTS5 index`);
    if (/content\s*=\s*'[^']+'/i.test(v.sql)) continue; // external content: 'rebuild' reads it back
    // contentless (a store's quality-ordered index, edge/catalog/quality-index.sql): no 'rebuild'; its rows are
    // replayed from its AFTER INSERT trigger on products, as one INSERT … SELECT over the restored products
    v.populate = contentlessPopulate(v.name, later);
    if (!v.populate)
      throw new Error(
        `virtual table ${v.name} is a contentless FTS5 index without an insert trigger to rebuild it from`,
      );
  }
  const hasSequence = objects.some((o) => o.name === "sqlite_sequence");
  // sorted: a restore creates the objects in its own order (tables, rows, indexes and triggers last)
  const schemaSha256 = sha256Text(
    objects
      .filter((o) => !internal(o.name))
      .map((o) => o.sql)
      .sort()
      .join(";\n"),
  );
  return { tables, virtual, later, hasSequence, schemaSha256 };
}

/**
 * The INSERT … SELECT that rebuilds a contentless FTS5 index from `products`: the body of its `AFTER INSERT ON
 * products WHEN <cond> BEGIN INSERT INTO <index>(…) VALUES (…); END` trigger, run over every row (aliased `new`).
 * @param {string} name @param {SchemaObject[]} objects @returns {string | null}
 */
function contentlessPopulate(name, objects) {
  for (const o of objects) {
    if (o.type !== "trigger" || o.tbl_name !== "products" || !/AFTER\s+INSERT\s+ON/i.test(o.sql)) continue;
    const m =
      /\bWHEN\s+([\s\S]+?)\s+BEGIN\s+INSERT\s+INTO\s+(\S+?)\s*\(([^)]*)\)\s*VALUES\s*\(([\s\S]*)\)\s*;\s*END\s*$/i.exec(
        o.sql,
      );
    if (!m || m[2].replace(/[`"[\]]/g, "") !== name) continue;
    return `INSERT INTO ${quoteId(name)}(${m[3]}) SELECT ${m[4]} FROM products AS new WHERE ${m[1]}`;
  }
  return null;
}

/** Column names of a table, in order. */
async function columns(/** @type {SqlSource} */ db, /** @type {string} */ table) {
  return (await db.all(`PRAGMA table_info(${quoteId(table)})`)).map((r) => String(r.name));
}

/**
 * Reads one table's rows in rowid order, `pageRows` at a time, as SQL literal tuples (SQLite's quote()).
 * @param {SqlSource} db @param {string} table @param {string[]} cols @param {number} pageRows
 * @returns {AsyncGenerator<string>}
 */
async function* tableRows(db, table, cols, pageRows) {
  const tuple = cols.map((c) => `quote(${quoteId(c)})`).join(" || ',' || ");
  let after = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const page = await db.all(
      `SELECT rowid AS _k, '(' || ${tuple} || ')' AS v FROM ${quoteId(table)} WHERE rowid > ${after} ORDER BY rowid LIMIT ${pageRows}`,
    );
    for (const r of page) yield String(r.v);
    if (page.length < pageRows) return;
    after = Number(page[page.length - 1]._k);
  }
}

/**
 * Dumps (or, without `write`, only checksums) every table. `write` receives the SQL text in order.
 * @param {SqlSource} db
 * @param {{ write?: (sql: string) => void | Promise<void>, pageRows?: number }} [opts]
 * @returns {Promise<{ schemaSha256: string, tables: Record<string, import("./manifest.mjs").TableChecksum> }>}
 */
export async function dumpDatabase(db, { write, pageRows = 5000 } = {}) {
  const schema = await readSchema(db);
  /** @type {Record<string, import("./manifest.mjs").TableChecksum>} */
  const tables = {};
  const emit = async (/** @type {string} */ sql) => {
    if (write) await write(sql);
  };
  await emit("PRAGMA defer_foreign_keys=TRUE;\n");
  const data = schema.tables.map((t) => t.name);
  if (schema.hasSequence) data.push("sqlite_sequence");
  for (const t of schema.tables) await emit(`${t.sql};\n`);
  for (const table of data) {
    const cols = await columns(db, table);
    const head = `INSERT INTO ${quoteId(table)} (${cols.map(quoteId).join(",")}) VALUES\n`;
    const digest = tableDigest();
    let batch = [];
    let bytes = 0;
    const flush = async () => {
      if (batch.length) await emit(`${head}${batch.join(",\n")};\n`);
      batch = [];
      bytes = 0;
    };
    if (table === "sqlite_sequence") await emit("DELETE FROM sqlite_sequence;\n");
    for await (const row of tableRows(db, table, cols, pageRows)) {
      digest.add(row);
      if (!write) continue;
      if (bytes + row.length > STATEMENT_MAX_BYTES) await flush();
      batch.push(row);
      bytes += row.length + 2;
    }
    await flush();
    tables[table] = digest.result();
  }
  for (const v of schema.virtual) {
    await emit(`${v.sql};\n`);
    await emit(
      v.populate ? `${v.populate};\n` : `INSERT INTO ${quoteId(v.name)}(${quoteId(v.name)}) VALUES('rebuild');\n`,
    );
  }
  for (const o of schema.later) await emit(`${o.sql};\n`);
  return { schemaSha256: schema.schemaSha256, tables };
}
