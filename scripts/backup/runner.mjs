// How the backup scripts run wrangler and other CLIs: one injectable function, so the production paths
// (`--remote`, Time Travel, S3) can be tested with a recording runner instead of a real account.
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const WRANGLER = path.join(REPO, "node_modules/.bin/wrangler");

/** Quiet, offline-friendly wrangler (the workspace rules). */
export const WRANGLER_ENV = {
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_HIDE_BANNER: "true",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_ERROR_REPORTS: "false",
  NO_COLOR: "1",
};

/** @typedef {(cmd: string, args: string[]) => Promise<{ stdout: string, stderr: string }>} Runner */

const execFileP = promisify(execFile);

/** @type {Runner} */
export async function runCommand(cmd, args) {
  const { stdout, stderr } = await execFileP(cmd, args, {
    cwd: REPO,
    env: { ...process.env, ...WRANGLER_ENV },
    maxBuffer: 512 * 1024 * 1024,
  });
  return { stdout: String(stdout), stderr: String(stderr) };
}

/** `wrangler <args>` through the runner. */
export function wrangler(/** @type {Runner} */ run, /** @type {string[]} */ args) {
  return run(WRANGLER, args);
}

/** The JSON wrangler printed (`--json`): the first line-leading JSON value that parses (wrangler may log before it). */
export function parseJsonOutput(/** @type {string} */ stdout) {
  const lines = stdout.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*[[{]/.test(lines[i] ?? "")) continue;
    try {
      return JSON.parse(lines.slice(i).join("\n"));
    } catch {
      /* a log line that starts with a bracket: try the next one */
    }
  }
  throw new Error(`wrangler printed no JSON: ${stdout.trim().slice(0, 300)}`);
}
