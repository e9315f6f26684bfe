// D1's part of a backup and restore, locally (a wrangler --persist-to state) and in production (remote D1).
//   shardDatabases                 → the catalogue shards' D1 databases of wrangler.toml (CATALOG_SHARD_n)
//   exportLocal / exportRemote     → the dump file + per-table checksums (+ a Time Travel bookmark remotely), and
//                                    one dump per catalogue shard (locally from the same snapshot)
//   restoreLocal / restoreRemote   → `wrangler d1 execute --file` of a dump into an empty database
//   assertEmptyRemote / loadRemote → restoreRemote's two halves, for a restore of several databases
//   restoreBookmark                → `wrangler d1 time-travel restore` (production only: in place, any minute of 30 days)
//   checksumLocal / checksumRemote → the restored database's checksums (same dump code, nothing written) and the
//                                    FTS5 indexes' integrity checks
import { createWriteStream } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { dumpDatabase, readSchema } from "./dump.mjs";
import { fileSha256 } from "./manifest.mjs";
import { REPO, parseJsonOutput, runCommand, wrangler } from "./runner.mjs";
import { localDatabases, localSource, remoteSource } from "./sql-source.mjs";

/** The local database's name: the binding's database_name in wrangler.toml (a persist dir holds one of it). */
export const LOCAL_DATABASE = "vitrine";
/** Remote pages stay small: each is one `wrangler d1 execute` answer. */
const REMOTE_PAGE_ROWS = 1000;

/** @typedef {{ binding: string, database: string }} D1Binding a D1 binding of wrangler.toml and its database_name */

/** The `[[d1_databases]]` entries of a wrangler.toml's text (binding and database_name), in file order. */
export function d1Databases(/** @type {string} */ toml) {
  /** @type {D1Binding[]} */
  const out = [];
  /** @type {D1Binding | null} */
  let current = null;
  for (const line of toml.split("\n")) {
    const header = line.match(/^\s*\[\[?\s*([\w.-]+)\s*\]\]?/);
    if (header) {
      current = header[1] === "d1_databases" && line.includes("[[") ? { binding: "", database: "" } : null;
      if (current) out.push(current);
      continue;
    }
    const kv = line.match(/^\s*(binding|database_name)\s*=\s*"([^"]*)"/);
    if (current && kv) current[kv[1] === "binding" ? "binding" : "database"] = kv[2] ?? "";
  }
  return out.filter((d) => d.binding && d.database);
}

/**
 * The catalogue shards' databases (CATALOG_SHARD_1, _2, …: edge/catalog/shards.ts) that wrangler.toml declares,
 * in binding order. A backup dumps each of them beside DB (remotely: the database of that name).
 */
export async function shardDatabases(config = path.join(REPO, "wrangler.toml")) {
  const shard = (/** @type {string} */ b) => Number(b.match(/^CATALOG_SHARD_(\d+)$/)?.[1] ?? 0);
  return d1Databases(await readFile(config, "utf8"))
    .filter((d) => shard(d.binding) > 0)
    .sort((a, b) => shard(a.binding) - shard(b.binding));
}

/** Miniflare's D1 files inside a `--persist-to` directory. */
export const d1Files = (/** @type {string} */ persistTo) => path.join(persistTo, "v3/d1/miniflare-D1DatabaseObject");

const python = () => {
  const venv = path.join(REPO, ".vitrine/venv/bin/python");
  return process.env.VITRINE_PYTHON ?? venv;
};

/** Streams a dump into `file`; answers the checksums, the file's digest and the time it took. */
async function dumpTo(/** @type {import("./dump.mjs").SqlSource} */ db, /** @type {string} */ file, pageRows = 5000) {
  const out = createWriteStream(file);
  const write = (/** @type {string} */ s) =>
    out.write(s) ? undefined : new Promise((resolve) => out.once("drain", () => resolve(undefined)));
  try {
    const dump = await dumpDatabase(db, { write, pageRows });
    await new Promise((resolve, reject) =>
      out.end((/** @type {Error | undefined} */ e) => (e ? reject(e) : resolve(undefined))),
    );
    return { ...dump, ...(await fileSha256(file)) };
  } finally {
    out.destroy();
  }
}

/**
 * The local state of `persistTo` (e.g. wrangler dev's .wrangler/state, live): a point-in-time snapshot with SQLite's
 * backup API (scripts/backup/snapshot.py: every D1 file of the state, DB and the catalogue shards alike) into a
 * scratch dir, then the dump of the snapshot's DB into `file` and of each shard into its own `shards[i].file`.
 * @param {{ persistTo: string, file: string, shards?: (D1Binding & { file: string })[],
 *           run?: import("./runner.mjs").Runner }} o
 */
export async function exportLocal({ persistTo, file, shards = [], run = runCommand }) {
  const scratch = await mkdtemp(path.join(os.tmpdir(), "vitrine-snapshot-"));
  try {
    const t0 = Date.now();
    await run(python(), [path.join(REPO, "scripts/backup/snapshot.py"), d1Files(persistTo), d1Files(scratch)]);
    const snapshotMs = Date.now() - t0;
    const dbs = await localDatabases(scratch);
    try {
      const dump = await dumpTo(dbs.source("DB"), file);
      const shardDumps = [];
      for (const s of shards)
        shardDumps.push({ binding: s.binding, database: s.database, ...(await dumpTo(dbs.source(s.binding), s.file)) });
      return {
        ...dump,
        shards: shardDumps,
        timingsMs: { snapshot: snapshotMs, dump: Date.now() - t0 - snapshotMs },
      };
    } finally {
      await dbs.close();
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The current Time Travel bookmark of a remote database (`wrangler d1 time-travel info --json`). */
export async function timeTravelBookmark(
  /** @type {string} */ database,
  /** @type {import("./runner.mjs").Runner} */ run,
) {
  const { stdout } = await wrangler(run, ["d1", "time-travel", "info", database, "--json"]);
  const info = parseJsonOutput(stdout);
  const bookmark = info?.bookmark ?? info?.result?.bookmark;
  if (typeof bookmark !== "string" || !bookmark) throw new Error(`no bookmark in: ${stdout.slice(0, 300)}`);
  return { bookmark, at: new Date().toISOString() };
}

/**
 * Production: the bookmark first (the exact point Time Travel can return to), then the tables read page by page
 * through `wrangler d1 execute --remote` (`wrangler d1 export --remote` refuses FTS5 databases); then each catalogue
 * shard's remote database (`shards[i].database`, wrangler.toml's database_name) the same way, with its own bookmark,
 * into `shards[i].file`. A read is not one transaction: rows written while it runs may or may not be in it; each
 * bookmark is its database's exact point in time.
 * @param {{ database: string, file: string, shards?: (D1Binding & { file: string })[],
 *           run?: import("./runner.mjs").Runner }} o
 */
export async function exportRemote({ database, file, shards = [], run = runCommand }) {
  const t0 = Date.now();
  const exportOne = async (/** @type {string} */ name, /** @type {string} */ to) => ({
    timeTravel: await timeTravelBookmark(name, run),
    ...(await dumpTo(remoteSource(name, run), to, REMOTE_PAGE_ROWS)),
  });
  const dump = await exportOne(database, file);
  const shardDumps = [];
  for (const s of shards)
    shardDumps.push({ binding: s.binding, database: s.database, ...(await exportOne(s.database, s.file)) });
  return { ...dump, shards: shardDumps, timingsMs: { dump: Date.now() - t0 } };
}

/** Whether a local persist dir holds no database yet. */
async function emptyDir(/** @type {string} */ dir) {
  return (await readdir(dir).catch(() => [])).length === 0;
}

/**
 * Loads a dump into the local database `database` (wrangler.toml's database_name; DB's by default) of `persistTo`,
 * which must be empty (a fresh dir) unless `fresh` is false (a catalogue shard, loaded after DB).
 * @param {{ file: string, persistTo: string, database?: string, fresh?: boolean,
 *           run?: import("./runner.mjs").Runner }} o
 */
export async function restoreLocal({ file, persistTo, database = LOCAL_DATABASE, fresh = true, run = runCommand }) {
  if (fresh && !(await emptyDir(persistTo))) throw new Error(`${persistTo} is not empty: restore into a new directory`);
  await wrangler(run, ["d1", "execute", database, "--local", "--persist-to", persistTo, "--file", file, "--yes"]);
}

/**
 * Loads a dump into the remote database `database` (create it first: `wrangler d1 create NAME`), which must hold
 * no table yet. Untested against a real account.
 * @param {{ file: string, database: string, run?: import("./runner.mjs").Runner }} o
 */
export async function restoreRemote({ file, database, run = runCommand }) {
  await assertEmptyRemote(database, run);
  await loadRemote({ file, database, run });
}

/**
 * `wrangler d1 execute --remote --file` of a dump, unchecked: for a caller that checked its targets empty first.
 * @param {{ file: string, database: string, run?: import("./runner.mjs").Runner }} o
 */
export async function loadRemote({ file, database, run = runCommand }) {
  await wrangler(run, ["d1", "execute", database, "--remote", "--file", file, "--yes"]);
}

/** Refuses a remote database that holds a table: a restore goes into a new, empty one. */
export async function assertEmptyRemote(
  /** @type {string} */ database,
  /** @type {import("./runner.mjs").Runner} */ run = runCommand,
) {
  const schema = await readSchema(remoteSource(database, run));
  if (schema.tables.length) throw new Error(`remote database ${database} already has tables: restore into a new one`);
}

/** Time Travel: the remote database `database` back to `bookmark`, in place. Untested against a real account. */
export async function restoreBookmark(
  /** @type {{ database: string, bookmark: string, run?: import("./runner.mjs").Runner }} */ {
    database,
    bookmark,
    run = runCommand,
  },
) {
  const { stdout } = await wrangler(run, ["d1", "time-travel", "restore", database, "--bookmark", bookmark, "--json"]);
  return parseJsonOutput(stdout);
}

/** Checksums of a database plus each FTS5 index's integrity check (the index rebuilt from products must agree). */
async function checksum(/** @type {import("./dump.mjs").SqlSource} */ db, pageRows = 5000) {
  const dump = await dumpDatabase(db, { pageRows });
  const schema = await readSchema(db);
  /** @type {{ table: string, ok: boolean, detail: string }[]} */
  const indexes = [];
  for (const v of schema.virtual) {
    const q = `"${v.name.replaceAll('"', '""')}"`;
    try {
      await db.all(`INSERT INTO ${q}(${q}, rank) VALUES('integrity-check', 1)`);
      indexes.push({ table: v.name, ok: true, detail: "integrity-check ok" });
    } catch (e) {
      indexes.push({ table: v.name, ok: false, detail: String(/** @type {Error} */ (e).message ?? e) });
    }
  }
  return { ...dump, indexes };
}

/** The checksums of the local database of `binding` (DB, or a catalogue shard CATALOG_SHARD_n) in `persistTo`. */
export async function checksumLocal(/** @type {string} */ persistTo, binding = "DB") {
  const db = await localSource(persistTo, binding);
  try {
    return await checksum(db);
  } finally {
    await db.close();
  }
}

export function checksumRemote(
  /** @type {string} */ database,
  /** @type {import("./runner.mjs").Runner} */ run = runCommand,
) {
  return checksum(remoteSource(database, run), REMOTE_PAGE_ROWS);
}
