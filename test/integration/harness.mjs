// Shared integration harness: real processes on free loopback ports.
//   startGpu({ port?, registry?, env?, args? })  → the gpu-tier server (python -m vitrine_gpu server), waits on /ping
//   prepareDb({ dir?, recs? })                   → a --persist-to dir with migrations + catalog + registry seed applied
//                                                  (with `recs`: the recs store's products and those tables too)
//   startEdge({ vars?, persistTo?, port? })       → `wrangler dev` on that state, waits on /healthz
//   oneGpuVars(gpu, deadlineMs, extra?)           → the edge vars for one gpu-tier in both endpoint slots
//   freePort(), stop(proc), stopAll()             → every started process is killed on exit / SIGINT / SIGTERM
// Every handle has { port, url, proc, stop() }; gpu handles also kill(signal) for chaos tests.
import { spawn, execFile } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { sinkInspector } from "../../scripts/inspector-sink.mjs";

const execFileP = promisify(execFile);

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const PYTHON = path.join(REPO, ".vitrine/venv/bin/python");
export const WRANGLER = path.join(REPO, "node_modules/.bin/wrangler");
export const CATALOG_SQL = path.join(REPO, ".vitrine/catalog/catalog.sql");
export const SEED_SQL = path.join(REPO, ".vitrine/registry/seed.sql");
/** The recommendation tables of the current recs-light version (the pipeline's train-recs-light step). */
export const RECS_SQL = path.join(REPO, ".vitrine/recs/recs.sql");
/** That store's products (the prepare-recs step): only a store's products are ever recommended. */
export const RECS_PRODUCTS_SQL = path.join(REPO, ".vitrine/recs/products.sql");

/** Quiet, offline wrangler (contract rules). */
export const WRANGLER_ENV = {
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_HIDE_BANNER: "true",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_ERROR_REPORTS: "false",
  CI: "true",
  NO_COLOR: "1",
};

const children = new Set();
const tempDirs = new Set();

function killTree(proc, signal = "SIGTERM") {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  try {
    process.kill(-proc.pid, signal); // the process group (detached spawn)
  } catch {
    try {
      proc.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

export function stopAll() {
  for (const p of children) killTree(p, "SIGKILL");
  children.clear();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

process.once("exit", stopAll);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => {
    stopAll();
    process.exit(130);
  });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function makeTempDir(prefix = "vitrine-it-") {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function spawnLogged(name, cmd, args, opts) {
  const proc = spawn(cmd, args, { ...opts, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  children.add(proc);
  const tail = [];
  const keep = (chunk) => {
    for (const line of chunk.toString().split("\n")) if (line.trim()) tail.push(line);
    while (tail.length > 200) tail.shift();
    if (process.env.VITRINE_IT_VERBOSE) process.stderr.write(`[${name}] ${chunk}`);
  };
  proc.stdout.on("data", keep);
  proc.stderr.on("data", keep);
  proc.on("exit", () => children.delete(proc));
  proc.logTail = () => tail.slice(-40).join("\n");
  return proc;
}

/** Polls `url` until it answers `ok(res)` or the process exits / the timeout passes. */
async function waitFor(url, proc, { timeoutMs, ok = (r) => r.ok, name }) {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(
        `${name} exited (${proc.exitCode ?? proc.signalCode}) before ${url} answered:\n${proc.logTail()}`,
      );
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (ok(res)) return res;
      last = `HTTP ${res.status}`;
      await res.arrayBuffer();
    } catch (e) {
      last = String(e?.cause?.code ?? e?.message ?? e);
    }
    await sleep(250);
  }
  throw new Error(`${name}: ${url} not ready after ${timeoutMs} ms (last: ${last}):\n${proc.logTail()}`);
}

function handle(proc, port, extra = {}) {
  const url = `http://127.0.0.1:${port}`;
  return {
    proc,
    port,
    url,
    ...extra,
    kill(signal = "SIGKILL") {
      killTree(proc, signal);
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once("exit", r));
      killTree(proc, "SIGTERM");
      const t = setTimeout(() => killTree(proc, "SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Starts the gpu-tier (CONTRACTS.md C4) and waits until /ping answers 200 (a model is loaded). */
export async function startGpu({ port, registry, env = {}, args = [], timeoutMs = 180_000 } = {}) {
  const p = port ?? (await freePort());
  const proc = spawnLogged(
    `gpu:${p}`,
    PYTHON,
    ["-m", "vitrine_gpu", "server", "--host", "127.0.0.1", "--port", String(p), ...args],
    {
      cwd: REPO,
      env: {
        ...process.env,
        PYTHONPATH: path.join(REPO, "gpu-tier"),
        ...(registry ? { VITRINE_REGISTRY: registry } : {}),
        ...env,
      },
    },
  );
  const h = handle(proc, p);
  await waitFor(`${h.url}/ping`, proc, { timeoutMs, name: "gpu-tier" });
  return h;
}

async function wrangler(args, timeoutMs = 300_000) {
  return execFileP(WRANGLER, args, {
    cwd: REPO,
    env: { ...process.env, ...WRANGLER_ENV },
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
}

/**
 * A local D1 state dir with the migrations, the catalog (.vitrine/catalog/catalog.sql) and the registry's seed
 * experiment (.vitrine/registry/seed.sql, when present) applied, and `recs` (e.g. RECS_SQL: the recommendation
 * tables) when given. Reuse one dir for several edges if you like.
 */
export async function prepareDb({ dir, catalog = CATALOG_SQL, seed = SEED_SQL, recs } = {}) {
  const persistTo = dir ?? makeTempDir("vitrine-d1-");
  await wrangler(["d1", "migrations", "apply", "vitrine", "--local", "--persist-to", persistTo]);
  if (!existsSync(catalog)) throw new Error(`${catalog} is missing: run the pipeline (prepare) first`);
  await wrangler(["d1", "execute", "vitrine", "--local", "--persist-to", persistTo, "--file", catalog, "--yes"]);
  if (seed && existsSync(seed))
    await wrangler(["d1", "execute", "vitrine", "--local", "--persist-to", persistTo, "--file", seed, "--yes"]);
  if (recs) {
    // the recs store's products first: an item that is not an available product of its store is never recommended
    for (const file of [RECS_PRODUCTS_SQL, recs]) {
      if (!existsSync(file)) throw new Error(`${file} is missing: run the pipeline (prepare-recs, train-recs-light)`);
      await wrangler(["d1", "execute", "vitrine", "--local", "--persist-to", persistTo, "--file", file, "--yes"]);
    }
  }
  return persistTo;
}

/**
 * `wrangler dev` on 127.0.0.1:<port> with `--var K:V` for each of `vars` (dummy AWS credentials included unless
 * given). Prepares a fresh D1 state dir unless `persistTo` is passed. Waits until /healthz answers.
 */
export async function startEdge({ vars = {}, persistTo, port, timeoutMs = 180_000 } = {}) {
  const dir = persistTo ?? (await prepareDb());
  const p = port ?? (await freePort());
  const inspectorPort = await freePort();
  const allVars = { AWS_ACCESS_KEY_ID: "local-dummy-key", AWS_SECRET_ACCESS_KEY: "local-dummy-secret", ...vars };
  const args = [
    "dev",
    "--port",
    String(p),
    "--ip",
    "127.0.0.1",
    "--persist-to",
    dir,
    "--show-interactive-dev-session=false",
    "--log-level",
    "warn",
    "--inspector-port",
    String(inspectorPort),
  ];
  for (const [k, v] of Object.entries(allVars)) args.push("--var", `${k}:${v}`);
  const proc = spawnLogged(`edge:${p}`, WRANGLER, args, { cwd: REPO, env: { ...process.env, ...WRANGLER_ENV } });
  // without a DevTools client wrangler's inspector proxy buffers every message: a long run grows without bound
  const inspector = sinkInspector(inspectorPort);
  proc.once("exit", inspector);
  // the worker isolate's V8 heap, bytes (the sink is the inspector's one client)
  const h = handle(proc, p, { persistTo: dir, heapUsage: inspector.heapUsage });
  await waitFor(`${h.url}/healthz`, proc, { timeoutMs, name: "wrangler dev" });
  return h;
}

/** The edge vars of a system with one gpu-tier in both endpoint slots (primary and secondary "regions"). */
export function oneGpuVars(gpu, deadlineMs, extra = {}) {
  return {
    GPU_ENDPOINT_URL: gpu.url,
    GPU_SECONDARY_ENDPOINT_URL: gpu.url,
    GPU_DEADLINE_MS: String(deadlineMs),
    ...extra,
  };
}

export async function stop(h) {
  await h?.stop();
}
