// Unit tests of the backup's manifest / checksum module and of the production command paths (wrangler --remote,
// Time Travel, S3), the latter with a recording runner: no Cloudflare or AWS account is reachable here.
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
import { parseJsonOutput } from "../../scripts/backup/runner.mjs";

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
