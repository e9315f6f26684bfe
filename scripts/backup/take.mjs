// One backup: D1 (dump + checksums, a Time Travel bookmark per database in production; DB and each catalogue shard's
// database, d1-CATALOG_SHARD_n.sql) and the model registry, into one directory with a manifest.json. latestBackup() finds the newest complete one (the restore drill's input).
import { mkdir, readdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import { exportLocal, exportRemote, LOCAL_DATABASE, shardDatabases } from "./d1.mjs";
import { MANIFEST_FORMAT, readManifest, writeManifest } from "./manifest.mjs";
import { copyRegistry, syncS3Registry } from "./registry.mjs";
import { REPO, runCommand } from "./runner.mjs";

export const DEFAULT_BACKUPS = path.join(REPO, ".vitrine/backups");
export const DUMP_FILE = "d1.sql";
export const REGISTRY_DIR = "registry";
/** A catalogue shard's dump file (its binding, e.g. CATALOG_SHARD_1). */
export const shardDumpFile = (/** @type {string} */ binding) => `d1-${binding}.sql`;

/** A sortable directory name for a backup taken at `d` (UTC). */
export const backupName = (d = new Date()) => d.toISOString().replace(/[:.]/g, "-");

/**
 * The newest directory under `root` that has a readable manifest (a backup being written has none yet).
 * @returns {Promise<string | undefined>}
 */
export async function latestBackup(/** @type {string} */ root) {
  const names = (await readdir(root, { withFileTypes: true }).catch(() => []))
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()
    .reverse();
  for (const name of names) {
    const dir = path.join(root, name);
    if (
      await readManifest(dir).then(
        () => true,
        () => false,
      )
    )
      return dir;
  }
  return undefined;
}

/**
 * Deletes all but the newest `keep` complete backups under `root` (unfinished ones are left alone); answers the
 * deleted directories. Registry files shared by hard links stay with the backups that still link them.
 */
export async function pruneBackups(/** @type {string} */ root, /** @type {number} */ keep) {
  const complete = [];
  const names = (await readdir(root, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory());
  for (const e of names
    .map((n) => n.name)
    .sort()
    .reverse()) {
    if (
      await readManifest(path.join(root, e)).then(
        () => true,
        () => false,
      )
    )
      complete.push(path.join(root, e));
  }
  const doomed = complete.slice(Math.max(1, keep));
  for (const dir of doomed) await rm(dir, { recursive: true, force: true });
  return doomed;
}

/**
 * @typedef {object} BackupOptions
 * @property {string} out                       the backup directory (created; must not hold a backup yet)
 * @property {string} [persistTo]               local: the wrangler state to back up (default .wrangler/state)
 * @property {string} [remoteDatabase]          production: the remote D1 database name (instead of persistTo)
 * @property {string | null} [registry]         local registry dir (default .vitrine/registry); null: none
 * @property {string} [registryS3]              production: s3://bucket/prefix of the model artefacts
 * @property {import("./runner.mjs").Runner} [run]
 */

/** Takes one backup; answers its manifest. @param {BackupOptions} o */
export async function takeBackup(o) {
  const run = o.run ?? runCommand;
  await mkdir(o.out, { recursive: true });
  if (
    await stat(path.join(o.out, "manifest.json")).then(
      () => true,
      () => false,
    )
  )
    throw new Error(`${o.out} already holds a backup`);
  const t0 = Date.now();
  const createdAt = new Date().toISOString();
  const file = path.join(o.out, DUMP_FILE);
  // the catalogue shards of wrangler.toml; in production the remote databases of their database_name
  const shards = (await shardDatabases()).map((s) => ({ ...s, file: path.join(o.out, shardDumpFile(s.binding)) }));
  const d1 = o.remoteDatabase
    ? await exportRemote({ database: o.remoteDatabase, file, shards, run })
    : await exportLocal({ persistTo: o.persistTo ?? path.join(REPO, ".wrangler/state"), file, shards, run });

  const t1 = Date.now();
  const dest = path.join(o.out, REGISTRY_DIR);
  let registry = null;
  if (o.registryS3) registry = { source: o.registryS3, ...(await syncS3Registry(o.registryS3, dest, run)) };
  else if (o.registry !== null) {
    const src = o.registry ?? path.join(REPO, ".vitrine/registry");
    const prevDir = await latestBackup(path.dirname(o.out));
    const prev = prevDir && prevDir !== o.out ? await readManifest(prevDir) : undefined;
    const previous = prev?.registry
      ? { dir: path.join(prevDir ?? "", REGISTRY_DIR), files: prev.registry.files }
      : undefined;
    registry = { source: src, ...(await copyRegistry(src, dest, previous)) };
  }

  /** @type {import("./manifest.mjs").Manifest} */
  const manifest = {
    format: MANIFEST_FORMAT,
    createdAt,
    source: o.remoteDatabase ? "remote" : "local",
    database: o.remoteDatabase ?? LOCAL_DATABASE,
    d1: { file: DUMP_FILE, bytes: d1.bytes, sha256: d1.sha256, schemaSha256: d1.schemaSha256, tables: d1.tables },
    shards: d1.shards.map((s) => ({
      binding: s.binding,
      database: s.database,
      file: shardDumpFile(s.binding),
      bytes: s.bytes,
      sha256: s.sha256,
      schemaSha256: s.schemaSha256,
      tables: s.tables,
      timeTravel: "timeTravel" in s ? s.timeTravel : null,
    })),
    timeTravel: "timeTravel" in d1 ? d1.timeTravel : null,
    registry: registry && { source: registry.source, files: registry.files },
    timingsMs: { ...d1.timingsMs, registry: Date.now() - t1, total: Date.now() - t0 },
  };
  // the manifest is written last: a directory without one is an unfinished backup (latestBackup skips it)
  await writeManifest(o.out, manifest);
  return { manifest, registryBytes: registry ? { copied: registry.copiedBytes, linked: registry.linkedBytes } : null };
}
