// A local backup holds the catalogue shards' databases too (README "Backup and restore", "Scale"): a small wrangler
// state is written through wrangler's platform proxy (DB with the tables a restore requires, CATALOG_SHARD_1 with an
// FTS5 index over its products, CATALOG_SHARD_2), backed up, restored into a fresh state and verified per database;
// a changed shard row, a damaged shard dump and a manifest written before shards were backed up are each checked.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { checksumLocal, d1Databases, shardDatabases } from "../../scripts/backup/d1.mjs";
import { fileSha256, MANIFEST_FILE } from "../../scripts/backup/manifest.mjs";
import { restoreBackup, verifyDatabase } from "../../scripts/backup/restore.mjs";
import { localDatabases } from "../../scripts/backup/sql-source.mjs";
import { takeBackup } from "../../scripts/backup/take.mjs";

const tmp = mkdtempSync(path.join(os.tmpdir(), "vitrine-backup-shards-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const live = path.join(tmp, "live");
const backup = path.join(tmp, "backups", "b1");

/** Runs statements against the local databases of `persistTo`, by binding. */
async function execIn(persistTo, statements) {
  const dbs = await localDatabases(persistTo);
  try {
    for (const [binding, sqls] of Object.entries(statements))
      for (const sql of sqls) await dbs.source(binding).all(sql);
  } finally {
    await dbs.close();
  }
}

const products = (rows) => [
  "CREATE TABLE products (store TEXT NOT NULL, id TEXT NOT NULL, title TEXT NOT NULL, price REAL, PRIMARY KEY (store, id))",
  `INSERT INTO products (store, id, title, price) VALUES ${rows.map(([id, title]) => `('big', '${id}', '${title}', 9.5)`).join(", ")}`,
];

before(async () => {
  await execIn(live, {
    DB: [
      "CREATE TABLE stores (id TEXT PRIMARY KEY, name TEXT NOT NULL)",
      "INSERT INTO stores VALUES ('big', 'Big shop'), ('small', 'Small shop')",
      ...products([["s-1", "kept in DB"]]),
      ...["recs_history", "experiments", "experiment_variants", "releases"].map((t) => `CREATE TABLE ${t} (id TEXT)`),
      "INSERT INTO releases VALUES ('rel-1')",
    ],
    CATALOG_SHARD_1: [
      ...products([
        ["a-1", "linen apron"],
        ["a-2", "walnut desk lamp"],
        ["a-3", "it''s quoted"],
      ]),
      "CREATE VIRTUAL TABLE products_fts_big USING fts5(title, content='products', content_rowid='rowid')",
      "INSERT INTO products_fts_big(products_fts_big) VALUES('rebuild')",
    ],
    CATALOG_SHARD_2: products([
      ["b-1", "oak stool"],
      ["b-2", "brass hook"],
    ]),
  });
});

test("wrangler.toml's D1 databases: DB and the catalogue shards, by binding", async () => {
  const toml = [
    '[[d1_databases]]\nbinding = "DB"\ndatabase_name = "vitrine"\n',
    '# [[d1_databases]]\n# binding = "CATALOG_SHARD_9"\n',
    '[vars]\nbinding = "not a database"\n',
    '[[d1_databases]]\nbinding = "CATALOG_SHARD_1"\ndatabase_name = "cat-1"\nmigrations_dir = "migrations"\n',
  ].join("\n");
  assert.deepEqual(d1Databases(toml), [
    { binding: "DB", database: "vitrine" },
    { binding: "CATALOG_SHARD_1", database: "cat-1" },
  ]);
  assert.deepEqual(await shardDatabases(), [
    { binding: "CATALOG_SHARD_1", database: "vitrine-catalog-1" },
    { binding: "CATALOG_SHARD_2", database: "vitrine-catalog-2" },
  ]);
});

test("a local backup dumps each shard with its checksums; a restore loads and verifies every database", async () => {
  const { manifest } = await takeBackup({ out: backup, persistTo: live, registry: null });
  assert.equal(manifest.d1.tables.products.rows, 1);
  assert.deepEqual(
    manifest.shards.map((s) => [s.binding, s.database, s.file, s.tables.products.rows]),
    [
      ["CATALOG_SHARD_1", "vitrine-catalog-1", "d1-CATALOG_SHARD_1.sql", 3],
      ["CATALOG_SHARD_2", "vitrine-catalog-2", "d1-CATALOG_SHARD_2.sql", 2],
    ],
  );
  for (const s of manifest.shards) {
    const file = await fileSha256(path.join(backup, s.file));
    assert.deepEqual({ bytes: s.bytes, sha256: s.sha256 }, file, s.binding);
    assert.match(s.tables.products.sha256, /^[0-9a-f]{64}$/);
  }
  assert.notEqual(manifest.shards[0].tables.products.sha256, manifest.shards[1].tables.products.sha256);
  assert.ok(!("products_fts_big_data" in manifest.shards[0].tables), "FTS5 shadow tables are rebuilt, not dumped");

  const restored = path.join(tmp, "restored");
  const r = await restoreBackup({ backup, into: { persistTo: restored } });
  assert.deepEqual(r.problems, []);
  assert.equal(r.ok, true);
  assert.equal(r.rows.products, 1);
  assert.equal(r.shards.CATALOG_SHARD_1.products, 3);
  assert.equal(r.shards.CATALOG_SHARD_2.products, 2);
  assert.ok(
    r.indexes.some((i) => i.table === "CATALOG_SHARD_1:products_fts_big" && i.ok),
    JSON.stringify(r.indexes),
  );

  // one title changed in the restored shard 2: verification names that shard's table, and only it
  await execIn(restored, { CATALOG_SHARD_2: ["UPDATE products SET title = 'oak chair' WHERE id = 'b-1'"] });
  const v = await verifyDatabase({ backup, into: { persistTo: restored } });
  assert.equal(v.ok, false);
  assert.deepEqual(
    v.problems.map((p) => p.table),
    ["CATALOG_SHARD_2:products"],
  );
  assert.match(v.problems[0].problem, /checksum/);
});

test("a damaged shard dump is refused before anything is loaded", async () => {
  const damaged = path.join(tmp, "backups", "damaged");
  cpSync(backup, damaged, { recursive: true });
  appendFileSync(path.join(damaged, "d1-CATALOG_SHARD_2.sql"), "DELETE FROM products;\n");
  const into = path.join(tmp, "restored-damaged");
  await assert.rejects(restoreBackup({ backup: damaged, into: { persistTo: into } }), /CATALOG_SHARD_2.*damaged/);
  assert.deepEqual((await checksumLocal(into)).tables, {}, "DB was not loaded either");
});

test("a backup taken before shards were backed up (no shards in its manifest) still restores", async () => {
  const old = path.join(tmp, "backups", "old");
  cpSync(backup, old, { recursive: true });
  const manifest = JSON.parse(readFileSync(path.join(old, MANIFEST_FILE), "utf8"));
  for (const s of manifest.shards) rmSync(path.join(old, s.file));
  delete manifest.shards;
  writeFileSync(path.join(old, MANIFEST_FILE), JSON.stringify(manifest));
  const into = path.join(tmp, "restored-old");
  const r = await restoreBackup({ backup: old, into: { persistTo: into } });
  assert.deepEqual(r.problems, []);
  assert.equal(r.ok, true);
  assert.equal(r.rows.products, 1);
  assert.deepEqual(r.shards, {});
  assert.deepEqual((await checksumLocal(into, "CATALOG_SHARD_1")).tables, {}, "no shard was loaded");
});

test("a remote verify without shard targets reports a backed-up shard holding products as not restored", async () => {
  const manifest = JSON.parse(readFileSync(path.join(backup, MANIFEST_FILE), "utf8"));
  manifest.shards[1].tables.products.rows = 0; // shard 2 as if it held only its migrations
  const calls = [];
  const run = async (cmd, args) => {
    calls.push(args.join(" "));
    return { stdout: "[]", stderr: "" }; // an empty remote database: no account is reachable here
  };
  const v = await verifyDatabase({ backup, manifest, into: { remote: "vitrine-restored" }, run });
  assert.equal(v.ok, false);
  const shardProblems = v.problems.filter((p) => p.table.startsWith("CATALOG_SHARD_"));
  assert.deepEqual(shardProblems, [
    { table: "CATALOG_SHARD_1:products", problem: "not restored: no --remote-shard CATALOG_SHARD_1=NAME" },
  ]);
  assert.ok(
    calls.every((c) => c.includes("vitrine-restored")),
    "only the named remote database is read",
  );
});
