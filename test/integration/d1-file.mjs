// The local D1 SQLite file of a `wrangler dev --persist-to` dir, held or read from outside the worker
// (test/integration/d1_file.py, one long-lived python3 process): lock() holds it under BEGIN EXCLUSIVE, so D1 fails as
// it would in an outage (SQLITE_BUSY), unlock() releases it, query() reads it.
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const HELPER = path.join(path.dirname(fileURLToPath(import.meta.url)), "d1_file.py");

/** The D1 database file of a persist dir (the largest .sqlite of the D1 object: the catalogue's). */
export function d1FileOf(persistTo) {
  const dir = path.join(persistTo, "v3/d1/miniflare-D1DatabaseObject");
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite")
    .map((f) => path.join(dir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size);
  if (!files[0]) throw new Error(`no D1 database file under ${dir}`);
  return files[0];
}

export function openD1File(persistTo) {
  const proc = spawn("python3", [HELPER, d1FileOf(persistTo)], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: proc.stdout });
  const waiting = [];
  lines.on("line", (line) => waiting.shift()?.(JSON.parse(line)));
  const call = (cmd) =>
    new Promise((resolve, reject) => {
      waiting.push((out) => (out.ok ? resolve(out.rows) : reject(new Error(`d1 file ${cmd.op}: ${out.error}`))));
      proc.stdin.write(`${JSON.stringify(cmd)}\n`);
    });
  return {
    lock: () => call({ op: "lock" }),
    unlock: () => call({ op: "unlock" }),
    query: (sql, params = []) => call({ op: "query", sql, params }),
    close: () => {
      proc.stdin.end();
      proc.kill();
    },
  };
}
