// Where a dump reads a D1 database from (dump.mjs's SqlSource):
//   localSource(persistTo, binding) a local D1 of a `--persist-to` dir (DB, or a catalogue shard CATALOG_SHARD_n),
//                                   through wrangler's getPlatformProxy (the same workerd D1 that wrangler dev runs;
//                                   one process, pages in milliseconds); localDatabases: all of them, one proxy
//   remoteSource(database, run)     a remote D1 database, one `wrangler d1 execute --remote --json` per query
import path from "node:path";
import { getPlatformProxy } from "wrangler";
import { REPO, parseJsonOutput, wrangler } from "./runner.mjs";

/** @typedef {import("./dump.mjs").SqlSource} SqlSource */

/**
 * The local D1 databases of a wrangler `--persist-to` directory, by binding (wrangler.toml's d1_databases: DB and
 * the catalogue shards CATALOG_SHARD_n), through one platform proxy.
 */
export async function localDatabases(/** @type {string} */ persistTo) {
  // the proxy reads .dev.vars (npm start writes one) and says so on stdout, which carries the backup's and the
  // restore's JSON answer: its info lines are silenced while it starts (only D1 is used, no var)
  const level = process.env.WRANGLER_LOG;
  process.env.WRANGLER_LOG = "warn";
  let proxy;
  try {
    proxy = await getPlatformProxy({
      configPath: path.join(REPO, "wrangler.toml"),
      persist: { path: path.join(persistTo, "v3") },
    });
  } finally {
    if (level === undefined) delete process.env.WRANGLER_LOG;
    else process.env.WRANGLER_LOG = level;
  }
  const env = /** @type {Record<string, D1Database | undefined>} */ (proxy.env);
  return {
    /** @returns {SqlSource} one database; closing it leaves the proxy to `close()` */
    source(binding = "DB") {
      const db = env[binding];
      if (!db) throw new Error(`wrangler.toml declares no D1 binding ${binding}`);
      return {
        async all(sql) {
          return (await db.prepare(sql).all()).results;
        },
        close: async () => undefined,
      };
    },
    close: () => proxy.dispose(),
  };
}

/** One local D1 database of a wrangler `--persist-to` directory (DB: `vitrine`). @returns {Promise<SqlSource>} */
export async function localSource(/** @type {string} */ persistTo, binding = "DB") {
  const dbs = await localDatabases(persistTo);
  try {
    return { ...dbs.source(binding), close: () => dbs.close() };
  } catch (e) {
    await dbs.close();
    throw e;
  }
}

/**
 * A remote D1 database by name (needs CLOUDFLARE_API_TOKEN / CLOUDFLARE_ACCOUNT_ID; untested here: no account).
 * @param {string} database @param {import("./runner.mjs").Runner} run @returns {SqlSource}
 */
export function remoteSource(database, run) {
  return {
    async all(sql) {
      const { stdout } = await wrangler(run, ["d1", "execute", database, "--remote", "--json", "--command", sql]);
      const out = parseJsonOutput(stdout);
      const first = Array.isArray(out) ? out[0] : out;
      if (!first?.success && first?.error) throw new Error(`D1 ${database}: ${JSON.stringify(first.error)}`);
      return first?.results ?? [];
    },
    close: async () => undefined,
  };
}
