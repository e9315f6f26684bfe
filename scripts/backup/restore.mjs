// One restore: a backup's D1 dump into a named database, then the verification against its manifest (row counts
// and checksums of every table, the required ones present, each FTS5 index's integrity check), timed.
//   local:  the database is a persist dir of its own (.vitrine/restores/<name>, or --persist-to); the catalogue
//           shards' dumps (manifest.shards; none in an older backup) are loaded into their databases beside it and
//           verified the same way, their problems and indexes named "<binding>:<table>"
//   remote: `wrangler d1 execute <name> --remote --file` into an empty database (DB only: a shard that holds
//           products is reported as not restored)
import { rm } from "node:fs/promises";
import path from "node:path";
import { checksumLocal, checksumRemote, restoreLocal, restoreRemote } from "./d1.mjs";
import { compareTables, fileSha256, readManifest, verifyFiles } from "./manifest.mjs";
import { REPO, runCommand } from "./runner.mjs";
import { REGISTRY_DIR } from "./take.mjs";

export const DEFAULT_RESTORES = path.join(REPO, ".vitrine/restores");

/**
 * @typedef {object} RestoreOptions
 * @property {string} backup                 the backup directory
 * @property {{ persistTo: string, replace?: boolean } | { remote: string }} into
 * @property {boolean} [verifyRegistry]      also re-hash the backup's registry files against the manifest
 * @property {import("./runner.mjs").Runner} [run]
 */

/**
 * @typedef {object} RestoreResult
 * @property {boolean} ok
 * @property {string} backup
 * @property {string} createdAt               when the backup was taken
 * @property {string} target
 * @property {number} restoreMs               loading the dump
 * @property {number} verifyMs                reading the restored database back and comparing
 * @property {Record<string, number>} rows    the restored row counts (DB)
 * @property {Record<string, Record<string, number>>} shards  each catalogue shard's restored row counts, by binding
 * @property {{ table: string, problem: string }[]} problems
 * @property {{ table: string, ok: boolean, detail: string }[]} indexes
 * @property {{ files: number, problems: { file: string, problem: string }[] } | null} registry
 */

/** @param {RestoreOptions} o @returns {Promise<RestoreResult>} */
export async function restoreBackup(o) {
  const run = o.run ?? runCommand;
  const manifest = await readManifest(o.backup);
  const file = path.join(o.backup, manifest.d1.file);
  const shards = (manifest.shards ?? []).map((s) => ({ ...s, path: path.join(o.backup, s.file) }));
  // every dump is checked before anything is loaded
  for (const [f, want] of [[file, manifest.d1.sha256], ...shards.map((s) => [s.path, s.sha256])]) {
    const got = await fileSha256(f).catch(() => ({ sha256: "missing" }));
    if (got.sha256 !== want) throw new Error(`${f} does not match its manifest checksum: the backup is damaged`);
  }

  const t0 = Date.now();
  if ("remote" in o.into) await restoreRemote({ file, database: o.into.remote, run });
  else {
    const persistTo = o.into.persistTo;
    if (o.into.replace) await rm(persistTo, { recursive: true, force: true });
    await restoreLocal({ file, persistTo, run });
    // a shard database that held no table (never migrated) has nothing to load
    for (const s of shards.filter((x) => Object.keys(x.tables).length > 0))
      await restoreLocal({ file: s.path, persistTo, database: s.database, fresh: false, run });
  }
  const restoreMs = Date.now() - t0;

  return { ...(await verifyDatabase({ ...o, manifest })), restoreMs };
}

/**
 * Verifies a database already restored (or any database) against a backup's manifest, without loading anything.
 * @param {Omit<RestoreOptions, "into"> & { into: { persistTo: string } | { remote: string },
 *          manifest?: import("./manifest.mjs").Manifest }} o
 * @returns {Promise<RestoreResult>}
 */
export async function verifyDatabase(o) {
  const run = o.run ?? runCommand;
  const manifest = o.manifest ?? (await readManifest(o.backup));
  const t1 = Date.now();
  const got = "remote" in o.into ? await checksumRemote(o.into.remote, run) : await checksumLocal(o.into.persistTo);
  const problems = compareTables(manifest.d1.tables, got.tables);
  if (got.schemaSha256 !== manifest.d1.schemaSha256) problems.push({ table: "(schema)", problem: "schema differs" });
  const indexes = [...got.indexes];
  /** @type {Record<string, Record<string, number>>} */
  const shardRows = {};
  for (const s of manifest.shards ?? []) {
    const named = (/** @type {string} */ table) => `${s.binding}:${table}`;
    if ("remote" in o.into) {
      // a remote restore loads DB only; a shard without products (only its migrations) loses nothing
      if ((s.tables.products?.rows ?? 0) > 0)
        problems.push({ table: named("products"), problem: "not restored: a remote restore loads DB only" });
      continue;
    }
    const shard = await checksumLocal(o.into.persistTo, s.binding);
    for (const p of compareTables(s.tables, shard.tables, [])) problems.push({ ...p, table: named(p.table) });
    if (shard.schemaSha256 !== s.schemaSha256) problems.push({ table: named("(schema)"), problem: "schema differs" });
    for (const i of shard.indexes) indexes.push({ ...i, table: named(i.table) });
    shardRows[s.binding] = Object.fromEntries(Object.entries(shard.tables).map(([t, c]) => [t, c.rows]));
  }
  const registry =
    o.verifyRegistry && manifest.registry
      ? {
          files: Object.keys(manifest.registry.files).length,
          problems: await verifyFiles(path.join(o.backup, REGISTRY_DIR), manifest.registry.files),
        }
      : null;
  return {
    ok: problems.length === 0 && indexes.every((i) => i.ok) && (registry?.problems.length ?? 0) === 0,
    backup: o.backup,
    createdAt: manifest.createdAt,
    target: "remote" in o.into ? `remote:${o.into.remote}` : o.into.persistTo,
    restoreMs: 0,
    verifyMs: Date.now() - t1,
    rows: Object.fromEntries(Object.entries(got.tables).map(([t, c]) => [t, c.rows])),
    shards: shardRows,
    problems,
    indexes,
    registry,
  };
}
