// Stores and eval:recommend against a real `wrangler dev` whose local D1 holds both stores as load_d1 loads them
// (catalog.sql for esci, then .vitrine/recs/products.sql and recs.sql for online-retail):
//  - /v1/search?store=online-retail returns only that store's products (StockCodes), the default store none of them;
//  - a purchase posted to /v1/events is in recs_history (read back through wrangler) right after the 202;
//  - `npm run eval:recommend` against the running edge (with a real gpu-tier) prints the table with the edge row.
//    Until GET /v1/recommend exists on this edge (the recs-route branch) that test skips itself, saying so.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import {
  freePort,
  makeTempDir,
  prepareDb,
  RECS_SQL,
  PYTHON,
  REPO,
  startEdge,
  startGpu,
  stopAll,
  WRANGLER,
  WRANGLER_ENV,
} from "./harness.mjs";

const RECS = path.join(REPO, ".vitrine/recs");
// child processes that run while the edge serves are awaited, never synchronous: a blocked event loop stops
// draining wrangler's output pipes, and a wrangler blocked on a full pipe stops answering
const execFileP = promisify(execFile);
const STOCK_CODE = /^\d{5}[A-Z]{0,3}$/;

async function d1(dir, args) {
  const { stdout } = await execFileP(WRANGLER, ["d1", "execute", "vitrine", "--local", "--persist-to", dir, ...args], {
    cwd: REPO,
    env: { ...process.env, ...WRANGLER_ENV },
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

/** Two title words of the online-retail store's first products (whatever the source: shared data or synthetic). */
function retailQuery() {
  const sql = readFileSync(path.join(RECS, "products.sql"), "utf8");
  const m = sql.match(/\(100000000, '[^']*', '([^']*)'/);
  assert.ok(m, "products.sql holds the online-retail products");
  return m[1].split(/\s+/).slice(-2).join(" ").toLowerCase();
}

describe("stores and eval:recommend end to end", { timeout: 900_000 }, () => {
  let edge;
  let gpuPort;
  let dir;

  before(async () => {
    for (const f of ["products.sql", "recs.sql"])
      assert.ok(existsSync(path.join(RECS, f)), `.vitrine/recs/${f} missing: run the pipeline first`);
    dir = await prepareDb({ dir: makeTempDir("vitrine-d1-stores-"), recs: RECS_SQL });
    gpuPort = await freePort(); // the gpu-tier is started only when the recommend route is there
    const gpuUrl = `http://127.0.0.1:${gpuPort}`;
    edge = await startEdge({
      persistTo: dir,
      vars: { GPU_ENDPOINT_URL: gpuUrl, GPU_SECONDARY_ENDPOINT_URL: gpuUrl, GPU_DEADLINE_MS: "30000" },
    });
  });

  after(() => stopAll());

  it("searches one store at a time", async () => {
    const q = encodeURIComponent(retailQuery());
    const retail = await (await fetch(`${edge.url}/v1/search?store=online-retail&q=${q}&k=50`)).json();
    assert.ok(retail.items.length > 0, "the online-retail store answers its own words");
    for (const i of retail.items) assert.match(i.id, STOCK_CODE);
    const esci = await (await fetch(`${edge.url}/v1/search?q=${q}&k=50`)).json();
    for (const i of esci.items) assert.doesNotMatch(i.id, STOCK_CODE, "the default store holds no StockCode");
    const unknown = await fetch(`${edge.url}/v1/search?store=no-such-store&q=${q}`);
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).error, "unknown_store");
  });

  it("writes a purchase to recs_history before answering", async () => {
    const user = `it-${Date.now()}`;
    const res = await fetch(`${edge.url}/v1/events`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ events: [{ type: "purchase", store: "online-retail", user, productId: "85123A" }] }),
    });
    assert.equal(res.status, 202);
    assert.equal((await res.json()).pending, 0);
    const out = JSON.parse(
      await d1(dir, [
        "--json",
        "--command",
        `SELECT item_id, n FROM recs_history WHERE store = 'online-retail' AND user_id = '${user}'`,
      ]),
    );
    assert.deepEqual(out[0].results, [{ item_id: "85123A", n: 1 }]);
  });

  it("eval:recommend scores the running edge next to the baselines", async (t) => {
    const source = JSON.parse(readFileSync(path.join(RECS, "source.json"), "utf8"));
    if (!source.files.some((f) => f.includes("synthetic"))) {
      t.skip("the loaded history is the shared Online Retail file: run eval:recommend on a later file by hand");
      return;
    }
    // later purchases of the same synthetic store: a longer run of the generator, dated past the loaded history
    const later = path.join(makeTempDir("vitrine-evalrec-"), "later.csv.gz");
    const script = `
import sys
from vitrine_gpu.recs import synthetic
synthetic.write(sys.argv[1], n_customers=400, n_products=500, seed=7, days=364)`;
    const env = { ...process.env, PYTHONPATH: path.join(REPO, "gpu-tier") };
    await execFileP(PYTHON, ["-c", script, later], { env });
    const evalArgs = [
      "-m",
      "vitrine_gpu",
      "eval-recommend",
      "--transactions",
      later,
      "--edge",
      edge.url,
      "--concurrency",
      "4",
    ];

    const probe = await fetch(`${edge.url}/v1/recommend?store=online-retail&user=12346&k=20`);
    if (probe.status === 404 && (await probe.json()).error === "not_found") {
      // the CLI says so (exit 3) instead of printing a table of empty answers
      const run = await execFileP(PYTHON, evalArgs, { env, encoding: "utf8", timeout: 600_000 }).then(
        () => ({ code: 0, stderr: "" }),
        (err) => ({ code: err.code, stderr: String(err.stderr) }),
      );
      assert.equal(run.code, 3, run.stderr);
      assert.match(run.stderr, /answers 404 for \/v1\/recommend: the route is not there/);
      t.skip("GET /v1/recommend is not on this edge yet (issue 14 route, branch recs-route): runs once it is merged");
      return;
    }
    await startGpu({ port: gpuPort });
    const { stdout: out } = await execFileP(PYTHON, evalArgs, { env, encoding: "utf8", timeout: 600_000 });
    assert.match(out, /baselines fitted on the history the edge has loaded/);
    assert.match(out, /\| edge \/v1\/recommend \| \d\.\d{4} \[/);
    assert.match(out, /\| repeat-frequency \| \d\.\d{4} \[/);
    assert.match(out, /latency end to end median \d+\.\d ms, p95 \d+\.\d ms/);
  });
});
