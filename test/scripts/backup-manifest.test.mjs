// Unit tests of the backup's manifest / checksum module and of the production command paths (wrangler --remote,
// Time Travel, S3; the catalogue shards' remote backup and restore), the latter with a recording runner: no
// Cloudflare or AWS account is reachable here.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { restoreBookmark, restoreRemote, timeTravelBookmark } from "../../scripts/backup/d1.mjs";
import {
  compareTables,
  fileSha256,
  readManifest,
  REQUIRED_TABLES,
  tableDigest,
  verifyFiles,
  writeManifest,
} from "../../scripts/backup/manifest.mjs";
import { copyRegistry, syncS3Registry } from "../../scripts/backup/registry.mjs";
import { parseShardTargets, restoreBackup } from "../../scripts/backup/restore.mjs";
import { parseJsonOutput } from "../../scripts/backup/runner.mjs";
import { takeBackup } from "../../scripts/backup/take.mjs";

const tmp = mkdtempSync(path.join(os.tmpdir(), "vitrine-backup-unit-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const digestOf = (rows) => {
  const d = tableDigest();
  for (const r of rows) d.add(r);
  return d.result();
};

/** A runner that records each command and answers from `answers` (first matching prefix of the joined args). */
function recorder(answers = {}) {
  const calls = [];
  const run = async (cmd, args) => {
    calls.push([path.basename(cmd), ...args]);
    const key = Object.keys(answers).find((k) => args.join(" ").startsWith(k));
    return { stdout: key ? answers[key] : "[]", stderr: "" };
  };
  return { run, calls };
}

/**
 * A recording runner over fake remote D1 databases (name → table → its rows' ids, one `id` column each): a database
 * in `loaded` answers with its tables from the start, any other once a dump was loaded into it (`--file`) and as an
 * empty database before; `d1 time-travel info NAME` answers the bookmark `bm-NAME`.
 */
function remoteD1(databases, loaded = Object.keys(databases)) {
  const full = new Set(loaded);
  const calls = [];
  const run = async (cmd, args) => {
    calls.push([path.basename(cmd), ...args]);
    const [, verb, name] = args;
    if (verb === "time-travel") return { stdout: JSON.stringify({ bookmark: `bm-${args[3]}` }), stderr: "" };
    if (args.includes("--file")) full.add(name);
    const tables = full.has(name) ? Object.entries(databases[name] ?? {}) : [];
    const sql = args.at(-1);
    const rows = Object.fromEntries(tables)[sql.match(/FROM "([^"]+)"/)?.[1]] ?? [];
    const results = sql.startsWith("PRAGMA table_list")
      ? tables.map(([t]) => ({ name: t, type: "table", wr: 0 }))
      : sql.startsWith("SELECT type")
        ? tables.map(([t]) => ({ type: "table", name: t, tbl_name: t, sql: `CREATE TABLE ${t} (id TEXT)` }))
        : sql.startsWith("PRAGMA table_info")
          ? [{ name: "id" }]
          : sql.startsWith("SELECT rowid")
            ? rows.map((id, i) => ({ _k: i + 1, v: `('${id}')` }))
            : [];
    return { stdout: JSON.stringify([{ results, success: true, meta: {} }]), stderr: "" };
  };
  return { run, calls };
}
/** The database a recorded wrangler command names (`d1 execute NAME`, `d1 time-travel info NAME`). */
const databaseOf = (c) => (c[2] === "time-travel" ? c[4] : c[3]);

test("a table digest depends on every row, its order and its count", () => {
  const base = digestOf(["(1,'a',1.5)", "(2,'b',NULL)"]);
  assert.equal(base.rows, 2);
  assert.match(base.sha256, /^[0-9a-f]{64}$/);
  assert.deepEqual(digestOf(["(1,'a',1.5)", "(2,'b',NULL)"]), base);
  assert.notEqual(digestOf(["(2,'b',NULL)", "(1,'a',1.5)"]).sha256, base.sha256);
  assert.notEqual(digestOf(["(1,'a',1.5)", "(2,'b',0)"]).sha256, base.sha256);
  // row boundaries count: two rows are not one row holding both texts
  assert.notEqual(digestOf(["(1,'a',1.5)(2,'b',NULL)"]).sha256, base.sha256);
  assert.equal(digestOf([]).rows, 0);
});

test("compareTables names each missing, extra, short or changed table and the required ones", () => {
  const expected = Object.fromEntries(REQUIRED_TABLES.map((t) => [t, digestOf([`('${t}')`])]));
  assert.deepEqual(compareTables(expected, { ...expected }), []);
  const changed = { ...expected, products: digestOf(["('other')"]), releases: digestOf([]) };
  delete changed.stores;
  changed.extra = digestOf([]);
  const problems = compareTables(expected, changed);
  assert.deepEqual(
    problems.map((p) => p.table),
    ["stores", "products", "releases", "extra"],
  );
  assert.match(problems.find((p) => p.table === "products").problem, /checksum/);
  assert.match(problems.find((p) => p.table === "releases").problem, /rows 0 ≠ 1/);
  const { recs_history: _, ...withoutHistory } = expected;
  assert.deepEqual(compareTables(withoutHistory, withoutHistory), [
    { table: "recs_history", problem: "not in the backup" },
  ]);
});

test("manifest round trip; a file that is not a manifest is refused", async () => {
  const dir = path.join(tmp, "m");
  mkdirSync(dir);
  const manifest = {
    format: 1,
    createdAt: new Date().toISOString(),
    source: "local",
    database: "vitrine",
    d1: { file: "d1.sql", bytes: 1, sha256: "0".repeat(64), schemaSha256: "1".repeat(64), tables: {} },
    timeTravel: null,
    registry: null,
    timingsMs: {},
  };
  await writeManifest(dir, manifest);
  assert.deepEqual(await readManifest(dir), manifest);
  writeFileSync(path.join(dir, "manifest.json"), '{"format": 99}');
  await assert.rejects(readManifest(dir), /not a vitrine backup manifest/);
});

test("registry copy: digests, hard links to the previous backup, damaged files found", async () => {
  const src = path.join(tmp, "reg");
  mkdirSync(path.join(src, "light/v1"), { recursive: true });
  writeFileSync(path.join(src, "current.json"), '{"light":"v1"}');
  writeFileSync(path.join(src, "light/v1/model.onnx"), Buffer.alloc(4096, 7));
  const first = await copyRegistry(src, path.join(tmp, "b1"), undefined);
  assert.equal(
    first.files["light/v1/model.onnx"].sha256,
    (await fileSha256(path.join(src, "light/v1/model.onnx"))).sha256,
  );
  assert.equal(first.linkedBytes, 0);
  writeFileSync(path.join(src, "current.json"), '{"light":"v2"}');
  const second = await copyRegistry(src, path.join(tmp, "b2"), { dir: path.join(tmp, "b1"), files: first.files });
  assert.equal(second.linkedBytes, 4096, "the unchanged artefact is linked, not copied");
  assert.equal(readFileSync(path.join(tmp, "b2/current.json"), "utf8"), '{"light":"v2"}');
  writeFileSync(path.join(tmp, "b2/current.json"), "{}");
  assert.deepEqual(await verifyFiles(path.join(tmp, "b2"), second.files), [
    { file: "current.json", problem: "checksum" },
  ]);
});

test("production paths build the documented commands (recording runner; untested against a real account)", async () => {
  const { run, calls } = recorder({
    "d1 time-travel info": '{"bookmark":"00000085-0000024c-00004c6d-8e61117bf38d7adb71b934ebbf891683","timestamp":"x"}',
    "d1 time-travel restore": '{"bookmark":"b","message":"restored"}',
    "d1 execute prod-restore --remote --json": '[{"results":[],"success":true,"meta":{}}]',
  });
  const tt = await timeTravelBookmark("vitrine", run);
  assert.equal(tt.bookmark, "00000085-0000024c-00004c6d-8e61117bf38d7adb71b934ebbf891683");
  await restoreBookmark({ database: "vitrine", bookmark: tt.bookmark, run });
  await restoreRemote({ file: "/b/d1.sql", database: "prod-restore", run });
  const s3 = await syncS3Registry("s3://models/vitrine", path.join(tmp, "s3"), run);
  assert.deepEqual(s3.files, {});
  assert.deepEqual(calls[0], ["wrangler", "d1", "time-travel", "info", "vitrine", "--json"]);
  assert.deepEqual(calls[1], [
    "wrangler",
    "d1",
    "time-travel",
    "restore",
    "vitrine",
    "--bookmark",
    tt.bookmark,
    "--json",
  ]);
  assert.deepEqual(calls.at(-2), [
    "wrangler",
    "d1",
    "execute",
    "prod-restore",
    "--remote",
    "--file",
    "/b/d1.sql",
    "--yes",
  ]);
  assert.deepEqual(calls.at(-1), [
    "aws",
    "s3",
    "sync",
    "s3://models/vitrine",
    path.join(tmp, "s3"),
    "--only-show-errors",
  ]);
  // the empty-target check ran first, through the remote reader
  assert.ok(calls.slice(2, -2).every((c) => c.includes("--remote") && c.includes("--command")));
  await assert.rejects(syncS3Registry("https://x", path.join(tmp, "s3b"), run), /s3:\/\/bucket/);
});

test("a non-empty remote target is refused before anything is loaded", async () => {
  const { run, calls } = recorder({
    "d1 execute busy --remote --json --command PRAGMA":
      '[{"results":[{"name":"stores","type":"table","wr":0}],"success":true}]',
    "d1 execute busy --remote --json --command SELECT":
      '[{"results":[{"type":"table","name":"stores","tbl_name":"stores","sql":"CREATE TABLE stores (id text)"}],"success":true}]',
  });
  await assert.rejects(restoreRemote({ file: "/b/d1.sql", database: "busy", run }), /already has tables/);
  assert.ok(!calls.some((c) => c.includes("--file")));
});

test("wrangler's --json output is found after any log lines", () => {
  assert.deepEqual(parseJsonOutput('▲ [WARNING] something\n[{"results":[1]}]'), [{ results: [1] }]);
  assert.throws(() => parseJsonOutput("no json"), /no JSON/);
});

// the production databases of the catalogue shards (wrangler.toml: CATALOG_SHARD_n → vitrine-catalog-n)
const DB_TABLES = Object.fromEntries(REQUIRED_TABLES.map((t) => [t, [`${t}-1`]]));
const SHARD_1 = { products: ["a-1", "a-2", "a-3"] };
const SHARD_2 = { products: ["b-1", "b-2"] };
const remoteBackup = path.join(tmp, "remote-backup");
const ALL_SHARDS = { CATALOG_SHARD_1: "r-1", CATALOG_SHARD_2: "r-2" };

test("a remote backup exports each catalogue shard's database too, into the same files and manifest entries", async () => {
  const { run, calls } = remoteD1({ vitrine: DB_TABLES, "vitrine-catalog-1": SHARD_1, "vitrine-catalog-2": SHARD_2 });
  const { manifest } = await takeBackup({ out: remoteBackup, remoteDatabase: "vitrine", registry: null, run });
  assert.equal(manifest.source, "remote");
  assert.equal(manifest.timeTravel.bookmark, "bm-vitrine");
  // one export per database, one after the other: its bookmark, then its remote reads
  const order = calls.map(databaseOf).filter((d, i, all) => d !== all[i - 1]);
  assert.deepEqual(order, ["vitrine", "vitrine-catalog-1", "vitrine-catalog-2"]);
  assert.deepEqual(calls.filter((c) => c[2] === "time-travel").map(databaseOf), [
    "vitrine",
    "vitrine-catalog-1",
    "vitrine-catalog-2",
  ]);
  assert.ok(calls.every((c) => c[2] === "time-travel" || (c.includes("--remote") && c.includes("--command"))));
  // the local path's entries (backup-shards.test.mjs), field for field, with each database's bookmark
  for (const s of manifest.shards) {
    assert.deepEqual(Object.keys(s), [
      "binding",
      "database",
      "file",
      "bytes",
      "sha256",
      "schemaSha256",
      "tables",
      "timeTravel",
    ]);
    assert.deepEqual({ bytes: s.bytes, sha256: s.sha256 }, await fileSha256(path.join(remoteBackup, s.file)));
  }
  assert.deepEqual(
    manifest.shards.map((s) => [s.binding, s.database, s.file, s.tables.products.rows, s.timeTravel.bookmark]),
    [
      ["CATALOG_SHARD_1", "vitrine-catalog-1", "d1-CATALOG_SHARD_1.sql", 3, "bm-vitrine-catalog-1"],
      ["CATALOG_SHARD_2", "vitrine-catalog-2", "d1-CATALOG_SHARD_2.sql", 2, "bm-vitrine-catalog-2"],
    ],
  );
  assert.match(readFileSync(path.join(remoteBackup, "d1-CATALOG_SHARD_2.sql"), "utf8"), /\('b-1'\),\n\('b-2'\);/);
  assert.deepEqual(await readManifest(remoteBackup), manifest);
});

test("a remote restore loads each shard dump into its named empty database and verifies each", async () => {
  const { run, calls } = remoteD1({ "r-db": DB_TABLES, "r-1": SHARD_1, "r-2": SHARD_2 }, []);
  const r = await restoreBackup({ backup: remoteBackup, into: { remote: "r-db", shards: ALL_SHARDS }, run });
  assert.deepEqual(r.problems, []);
  assert.equal(r.ok, true);
  assert.deepEqual(r.shards, { CATALOG_SHARD_1: { products: 3 }, CATALOG_SHARD_2: { products: 2 } });
  const loads = calls.filter((c) => c.includes("--file"));
  assert.deepEqual(
    loads.map((c) => [databaseOf(c), path.basename(c[c.indexOf("--file") + 1])]),
    [
      ["r-db", "d1.sql"],
      ["r-1", "d1-CATALOG_SHARD_1.sql"],
      ["r-2", "d1-CATALOG_SHARD_2.sql"],
    ],
  );
  // every target was read (checked empty) before the first load, and read back after the last
  const first = calls.indexOf(loads[0]);
  assert.deepEqual(new Set(calls.slice(0, first).map(databaseOf)), new Set(["r-db", "r-1", "r-2"]));
  assert.deepEqual(new Set(calls.slice(calls.indexOf(loads[2]) + 1).map(databaseOf)), new Set(["r-db", "r-1", "r-2"]));

  // a shard that came back different is named by its binding and table
  const changed = remoteD1({ "r-db": DB_TABLES, "r-1": SHARD_1, "r-2": { products: ["b-1", "b-X"] } }, []);
  const v = await restoreBackup({
    backup: remoteBackup,
    into: { remote: "r-db", shards: ALL_SHARDS },
    run: changed.run,
  });
  assert.equal(v.ok, false);
  assert.deepEqual(
    v.problems.map((p) => p.table),
    ["CATALOG_SHARD_2:products"],
  );
});

test("a remote restore without a target for a shard holding products is refused before anything is loaded", async () => {
  const { run, calls } = remoteD1({}, []);
  const restore = (shards) => restoreBackup({ backup: remoteBackup, into: { remote: "r-db", shards }, run });
  await assert.rejects(
    restore({ CATALOG_SHARD_1: "r-1" }),
    /no remote target for CATALOG_SHARD_2\b.*nothing was loaded/,
  );
  await assert.rejects(restore(undefined), /no remote target for CATALOG_SHARD_1, CATALOG_SHARD_2\b/);
  await assert.rejects(restore({ ...ALL_SHARDS, CATALOG_SHARD_3: "r-3" }), /holds no shard CATALOG_SHARD_3/);
  await assert.rejects(restore({ ...ALL_SHARDS, CATALOG_SHARD_2: "r-db" }), /its own target/);
  assert.deepEqual(calls, [], "not one command ran");

  // a shard whose backup holds no products loses nothing: it needs no target
  const backup = path.join(tmp, "remote-backup-empty-shard");
  const source = remoteD1({ vitrine: DB_TABLES, "vitrine-catalog-1": SHARD_1, "vitrine-catalog-2": { products: [] } });
  await takeBackup({ out: backup, remoteDatabase: "vitrine", registry: null, run: source.run });
  const target = remoteD1({ "r-db": DB_TABLES, "r-1": SHARD_1 }, []);
  const r = await restoreBackup({
    backup,
    into: { remote: "r-db", shards: { CATALOG_SHARD_1: "r-1" } },
    run: target.run,
  });
  assert.deepEqual(r.problems, []);
  assert.deepEqual(Object.keys(r.shards), ["CATALOG_SHARD_1"]);
  assert.ok(!target.calls.some((c) => databaseOf(c) === "r-2"));
});

test("a non-empty remote shard target is refused before anything is loaded", async () => {
  const { run, calls } = remoteD1({ "r-db": DB_TABLES, "r-1": SHARD_1, "r-2": SHARD_2 }, ["r-2"]);
  await assert.rejects(
    restoreBackup({ backup: remoteBackup, into: { remote: "r-db", shards: ALL_SHARDS }, run }),
    /remote database r-2 already has tables/,
  );
  assert.ok(!calls.some((c) => c.includes("--file")), "neither DB nor another shard was loaded");
});

test("--remote-shard CATALOG_SHARD_n=NAME arguments", () => {
  assert.deepEqual(parseShardTargets(["CATALOG_SHARD_1=vitrine-restored-1", "CATALOG_SHARD_2=r_2"]), {
    CATALOG_SHARD_1: "vitrine-restored-1",
    CATALOG_SHARD_2: "r_2",
  });
  assert.throws(() => parseShardTargets(["CATALOG_SHARD_1"]), /expected CATALOG_SHARD_<n>=DATABASE/);
  assert.throws(() => parseShardTargets(["DB=x"]), /expected/);
  assert.throws(() => parseShardTargets(["CATALOG_SHARD_1=a", "CATALOG_SHARD_1=b"]), /twice/);
});
