// The backup manifest: what a backup holds and the checksums a restore is verified against.
//   tableDigest()                  → { add(rowLiteral), result() → {rows, sha256} }: one table's content checksum
//   fileSha256(path)               → sha256 (hex) of a file, streamed
//   compareTables(expected, actual, required?) → [{table, problem}]: empty when the restore matches
//   writeManifest(dir, manifest) / readManifest(dir)
// A table's checksum is the SHA-256 of its rows in rowid order, one SQL literal tuple a line exactly as SQLite's
// quote() writes it (the engine's own text: exact for reals, blobs and text, identical in local and remote D1), so
// the same database read through any path (wrangler dev's state, a restored copy, remote D1) gives the same digest.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";

export const MANIFEST_FILE = "manifest.json";
export const MANIFEST_FORMAT = 1;

/**
 * The tables a restore must bring back (the list: stores, products, purchase history, experiments and
 * their variants, releases); a backup or restore without one of them fails verification.
 */
export const REQUIRED_TABLES = ["stores", "products", "recs_history", "experiments", "experiment_variants", "releases"];

/** @typedef {{ rows: number, sha256: string }} TableChecksum */
/**
 * @typedef {{ binding: string, database: string, file: string, bytes: number, sha256: string, schemaSha256: string,
 *             tables: Record<string, TableChecksum>, timeTravel?: { bookmark: string, at: string } | null }} ShardDump
 *   one catalogue shard's dump, as `d1` is DB's; timeTravel: its database's bookmark (production), null locally
 */
/**
 * @typedef {object} Manifest
 * @property {number} format
 * @property {string} createdAt         ISO time the snapshot was taken
 * @property {"local" | "remote"} source
 * @property {string} database          the D1 database name
 * @property {{ file: string, bytes: number, sha256: string, schemaSha256: string,
 *              tables: Record<string, TableChecksum> }} d1
 * @property {ShardDump[]} [shards]   each catalogue shard's database (CATALOG_SHARD_n; locally dumped from the same
 *                                    snapshot); absent in a manifest written before shards were backed up
 * @property {{ bookmark: string, at: string } | null} timeTravel  production: the D1 Time Travel bookmark taken first
 * @property {{ source: string, files: Record<string, { bytes: number, sha256: string }> } | null} registry
 * @property {Record<string, number>} timingsMs
 */

/** One table's running digest: feed it each row's literal tuple in rowid order. */
export function tableDigest() {
  const hash = createHash("sha256");
  let rows = 0;
  return {
    /** @param {string} row */
    add(row) {
      hash.update(row);
      hash.update("\n");
      rows += 1;
    },
    /** @returns {TableChecksum} */
    result() {
      return { rows, sha256: hash.digest("hex") };
    },
  };
}

/** SHA-256 of a string (the schema text). */
export function sha256Text(/** @type {string} */ text) {
  return createHash("sha256").update(text).digest("hex");
}

/** SHA-256 (hex) and size of a file, streamed. */
export async function fileSha256(/** @type {string} */ file) {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { bytes, sha256: hash.digest("hex") };
}

/**
 * Differences between the manifest's tables and a database's (both name → {rows, sha256}). Every table of the
 * manifest must be there with the same count and digest; a table the database has beyond them is reported too
 * (a restore must not invent data); `required` tables must be in the manifest at all.
 * @param {Record<string, TableChecksum>} expected
 * @param {Record<string, TableChecksum>} actual
 * @param {string[]} [required]
 * @returns {{ table: string, problem: string }[]}
 */
export function compareTables(expected, actual, required = REQUIRED_TABLES) {
  const problems = [];
  for (const t of required) if (!(t in expected)) problems.push({ table: t, problem: "not in the backup" });
  for (const [t, want] of Object.entries(expected)) {
    const got = actual[t];
    if (!got) problems.push({ table: t, problem: "missing from the restored database" });
    else if (got.rows !== want.rows) problems.push({ table: t, problem: `rows ${got.rows} ≠ ${want.rows} backed up` });
    else if (got.sha256 !== want.sha256)
      problems.push({ table: t, problem: `checksum ${got.sha256.slice(0, 12)}… ≠ ${want.sha256.slice(0, 12)}…` });
  }
  for (const t of Object.keys(actual)) if (!(t in expected)) problems.push({ table: t, problem: "not in the backup" });
  return problems;
}

/** Files of a directory tree whose bytes or digest differ from the manifest's (or are missing). */
export async function verifyFiles(
  /** @type {string} */ root,
  /** @type {Record<string, { bytes: number, sha256: string }>} */ files,
) {
  const problems = [];
  for (const [rel, want] of Object.entries(files)) {
    try {
      const got = await fileSha256(path.join(root, rel));
      if (got.sha256 !== want.sha256 || got.bytes !== want.bytes) problems.push({ file: rel, problem: "checksum" });
    } catch {
      problems.push({ file: rel, problem: "missing" });
    }
  }
  return problems;
}

/** @param {string} dir @param {Manifest} manifest */
export async function writeManifest(dir, manifest) {
  await writeFile(path.join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** @returns {Promise<Manifest>} */
export async function readManifest(/** @type {string} */ dir) {
  const m = JSON.parse(await readFile(path.join(dir, MANIFEST_FILE), "utf8"));
  if (m?.format !== MANIFEST_FORMAT || typeof m?.d1?.tables !== "object")
    throw new Error(`${dir}/${MANIFEST_FILE} is not a vitrine backup manifest (format ${MANIFEST_FORMAT})`);
  return m;
}
