#!/usr/bin/env node
// npm run restore -- <BACKUP_DIR | latest> --database NAME [--persist-to DIR] [--replace] [--registry-to DIR]
// npm run restore -- <BACKUP_DIR | latest> --remote NAME                        (production: an empty D1 database)
//                     [--remote-shard CATALOG_SHARD_1=NAME …]                  (each catalogue shard: an empty one too)
// npm run restore -- --bookmark BOOKMARK --remote NAME                          (production: Time Travel, in place)
// npm run restore -- <BACKUP_DIR> --live --yes-replace-live-database            (the local .wrangler/state itself)
// npm run restore -- <BACKUP_DIR> --database NAME --verify                      (only compare NAME with the backup)
// Locally a database is a persist dir of its own: .vitrine/restores/NAME (serve it with
// `wrangler dev --persist-to .vitrine/restores/NAME`). Verifies row counts and checksums against the manifest,
// prints the restore and verification times; exit 1 when verification fails.
import { rename } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { restoreBookmark } from "./backup/d1.mjs";
import { readManifest } from "./backup/manifest.mjs";
import { restoreRegistry } from "./backup/registry.mjs";
import { DEFAULT_RESTORES, parseShardTargets, restoreBackup, verifyDatabase } from "./backup/restore.mjs";
import { REPO } from "./backup/runner.mjs";
import { DEFAULT_BACKUPS, latestBackup, REGISTRY_DIR } from "./backup/take.mjs";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    database: { type: "string" },
    "persist-to": { type: "string" },
    replace: { type: "boolean", default: false },
    remote: { type: "string" },
    "remote-shard": { type: "string", multiple: true, default: [] },
    bookmark: { type: "string" },
    live: { type: "boolean", default: false },
    "yes-replace-live-database": { type: "boolean", default: false },
    "registry-to": { type: "string" },
    backups: { type: "string" },
    verify: { type: "boolean", default: false },
  },
});
const fail = (/** @type {string} */ msg) => {
  console.error(`restore: ${msg}`);
  process.exit(2);
};

const shardSpecs = values["remote-shard"] ?? [];
if (shardSpecs.length && (!values.remote || values.bookmark))
  fail("--remote-shard goes with --remote NAME and a backup (Time Travel: run --bookmark once per database)");
/** @type {Record<string, string>} */
let shardTargets = {};
try {
  shardTargets = parseShardTargets(shardSpecs);
} catch (e) {
  fail(String(/** @type {Error} */ (e).message));
}

if (values.bookmark) {
  if (!values.remote) fail("--bookmark restores a remote database in place: name it with --remote NAME");
  const t0 = Date.now();
  const answer = await restoreBookmark({ database: values.remote ?? "", bookmark: values.bookmark });
  console.log(
    JSON.stringify({ restored: values.remote, bookmark: values.bookmark, restoreMs: Date.now() - t0, answer }, null, 2),
  );
  process.exit(0);
}

const arg = positionals[0] ?? fail("name a backup directory (or 'latest')");
const backup =
  arg === "latest" ? await latestBackup(path.resolve(values.backups ?? DEFAULT_BACKUPS)) : path.resolve(String(arg));
if (!backup) fail("no backup found");
const dir = String(backup);

/** @type {import("./backup/restore.mjs").RestoreOptions["into"]} */
let into;
if (values.remote) into = { remote: values.remote, shards: shardTargets };
else if (values.live && values.verify) into = { persistTo: path.join(REPO, ".wrangler/state") };
else if (values.live) {
  if (!values["yes-replace-live-database"])
    fail(
      "--live replaces the local database wrangler dev serves: stop npm start first and add --yes-replace-live-database",
    );
  const live = path.join(REPO, ".wrangler/state");
  const aside = `${live}.before-restore-${Date.now()}`;
  await rename(live, aside).catch(() => undefined);
  console.error(`restore: the previous local state was moved to ${aside}`);
  into = { persistTo: live };
} else {
  const name =
    values.database ?? fail("--database NAME (a local persist dir under .vitrine/restores), --remote or --live");
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(String(name))) fail("--database: 1–63 characters of a-z, 0-9, _ and -");
  into = {
    persistTo: path.resolve(values["persist-to"] ?? path.join(DEFAULT_RESTORES, String(name))),
    replace: values.replace,
  };
}

const result = values.verify ? await verifyDatabase({ backup: dir, into }) : await restoreBackup({ backup: dir, into });
let registry = null;
if (values["registry-to"]) {
  const manifest = await readManifest(dir);
  if (!manifest.registry) fail("this backup holds no registry");
  const files = manifest.registry?.files ?? {};
  const problems = await restoreRegistry(path.join(dir, REGISTRY_DIR), files, path.resolve(values["registry-to"]));
  registry = { to: path.resolve(values["registry-to"]), files: Object.keys(files).length, problems };
}
console.log(JSON.stringify({ ...result, restoredRegistry: registry }, null, 2));
process.exit(result.ok && (registry?.problems.length ?? 0) === 0 ? 0 : 1);
