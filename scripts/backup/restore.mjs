// One restore: a backup's D1 dump into a named database, then the verification against its manifest (row counts
// and checksums of every table, the required ones present, each FTS5 index's integrity check), timed.
//   local:  the database is a persist dir of its own (.vitrine/restores/<name>, or --persist-to); the catalogue
//           shards' dumps (manifest.shards; none in an older backup) are loaded into their databases beside it and
//           verified the same way, their problems and indexes named "<binding>:<table>"
//   remote: `wrangler d1 execute <name> --remote --file` into an empty database, and each shard's dump into the
//           empty remote database named for its binding (into.shards); every target is checked empty, and a shard
//           holding products without a target refused, before anything is loaded
import { rm } from "node:fs/promises";
import path from "node:path";
import { assertEmptyRemote, checksumLocal, checksumRemote, loadRemote, restoreLocal } from "./d1.mjs";
import { compareTables, fileSha256, readManifest, verifyFiles } from "./manifest.mjs";
import { REPO, runCommand } from "./runner.mjs";
import { REGISTRY_DIR } from "./take.mjs";

export const DEFAULT_RESTORES = path.join(REPO, ".vitrine/restores");

/**
 * @typedef {object} RestoreOptions
 * @property {string} backup                 the backup directory
 * @property {{ persistTo: string, replace?: boolean } | RemoteTarget} into
 * @property {boolean} [verifyRegistry]      also re-hash the backup's registry files against the manifest
 * @property {import("./runner.mjs").Runner} [run]
 */

/**
 * @typedef {{ remote: string, shards?: Record<string, string> }} RemoteTarget
 *   remote: DB's database; shards: each catalogue shard's database, by binding (CATALOG_SHARD_1 → NAME)
 */

/** Whether a shard's dump holds products (one without them loses nothing when it is not restored). */
const holdsProducts = (/** @type {import("./manifest.mjs").ShardDump} */ s) => (s.tables.products?.rows ?? 0) > 0;

/**
 * The shard targets of `--remote-shard BINDING=NAME` arguments, by binding.
 * @param {string[]} specs @returns {Record<string, string>}
 */
export function parseShardTargets(specs) {
  /** @type {Record<string, string>} */
  const out = {};
  for (const spec of specs) {
    const m = spec.match(/^(CATALOG_SHARD_\d+)=([A-Za-z0-9][\w-]*)$/);
    if (!m) throw new Error(`--remote-shard ${spec}: expected CATALOG_SHARD_<n>=DATABASE`);
    if (m[1] in out) throw new Error(`--remote-shard names ${m[1]} twice`);
    out[m[1]] = m[2];
  }
  return out;
}

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
  if ("remote" in o.into) {
    const targets = o.into.shards ?? {};
    const unknown = Object.keys(targets).filter((b) => !shards.some((s) => s.binding === b));
    if (unknown.length) throw new Error(`the backup holds no shard ${unknown.join(", ")}: drop its --remote-shard`);
    // a shard without products (only its migrations, or no table) loses nothing when it has no target
    const missing = shards.filter((s) => !targets[s.binding] && holdsProducts(s));
    if (missing.length)
      throw new Error(
        `no remote target for ${missing.map((s) => s.binding).join(", ")}, whose backup holds products: name an ` +
          `empty remote database for each (--remote-shard ${missing[0]?.binding}=NAME); nothing was loaded`,
      );
    const loads = [
      { file, database: o.into.remote },
      ...shards.flatMap((s) => {
        const database = targets[s.binding];
        return database && Object.keys(s.tables).length > 0 ? [{ file: s.path, database }] : [];
      }),
    ];
    const names = [o.into.remote, ...Object.values(targets)];
    if (new Set(names).size < names.length) throw new Error(`each database needs its own target: ${names.join(", ")}`);
    // every target is checked empty before anything is loaded
    for (const d of names) await assertEmptyRemote(d, run);
    for (const l of loads) await loadRemote({ ...l, run });
  } else {
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
 * @param {Omit<RestoreOptions, "into"> & { into: { persistTo: string } | RemoteTarget,
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
    let shard;
    if ("remote" in o.into) {
      const target = o.into.shards?.[s.binding];
      if (!target) {
        // a shard without products (only its migrations) loses nothing
        if (holdsProducts(s))
          problems.push({ table: named("products"), problem: `not restored: no --remote-shard ${s.binding}=NAME` });
        continue;
      }
      shard = await checksumRemote(target, run);
    } else shard = await checksumLocal(o.into.persistTo, s.binding);
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
