// Scheduled retraining of the shipped store end to end (issue #25): `python -m vitrine_gpu retrain --store
// online-retail` against a real `wrangler dev`. The shipped store is a small synthetic one: its transactions file
// (the scratch state's prepare-recs source) and, in the local D1, its products and the file's history rows, as the
// pipeline loads them. Purchases arrive through POST /v1/events; the retrain trains recs-light (reduced) on the file
// plus those purchases (recs.shipped_store: one clock, the last 30 days held out), gates it against the store's live
// tables, exports it into the worker bundle (wrangler dev reloads), canaries it with loopback load and promotes it;
// the gate's decision is in GET /admin/releases and the outcome in <registry>/retrains/ (a retrain on the same rows
// saying "unchanged": gpu-tier/tests/test_shipped_store.py, not here, to keep this test short). The registry and
// state are scratch copies and edge/generated/models.js is restored afterwards.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { makeTempDir, prepareDb, PYTHON, REPO, startEdge, stopAll, WRANGLER, WRANGLER_ENV } from "./harness.mjs";

const execFileP = promisify(execFile);
const ADMIN = "retrain-it-admin-token";
const STORE = "online-retail";
const MODELS_JS = path.join(REPO, "edge/generated/models.js");
const PY_ENV = { ...process.env, PYTHONPATH: path.join(REPO, "gpu-tier") };

function scratchRegistry() {
  const real = path.join(REPO, ".vitrine/registry");
  const reg = makeTempDir("vitrine-retrain-reg-");
  for (const kind of readdirSync(real, { withFileTypes: true }).filter(
    (d) => d.isDirectory() && !["releases", "retrains"].includes(d.name),
  )) {
    mkdirSync(path.join(reg, kind.name));
    for (const v of readdirSync(path.join(real, kind.name)))
      symlinkSync(path.join(real, kind.name, v), path.join(reg, kind.name, v));
  }
  // the shipped recs models of the real registry were trained on another file: the store starts on its live tables
  const { light, heavy } = JSON.parse(readFileSync(path.join(real, "current.json"), "utf8"));
  writeFileSync(path.join(reg, "current.json"), JSON.stringify({ light, heavy }));
  return reg;
}

function run(args, env, timeoutMs = 900_000) {
  return new Promise((resolve, reject) => {
    const proc = spawn(PYTHON, ["-m", "vitrine_gpu", ...args], { cwd: REPO, env: { ...PY_ENV, ...env } });
    let out = "";
    proc.stdout.on("data", (c) => (out += c));
    proc.stderr.on("data", (c) => (out += c));
    const t = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`retrain timed out:\n${out.slice(-4000)}`));
    }, timeoutMs);
    proc.on("exit", (code) => {
      clearTimeout(t);
      if (process.env.VITRINE_IT_VERBOSE) process.stderr.write(out);
      resolve({ code, out });
    });
  });
}

describe("npm run retrain against a running edge", { timeout: 1_200_000 }, () => {
  let edge;
  let reg;
  let dbFile;
  let state; // the scratch VITRINE_STATE: recs/source.json names the shipped store's transactions file
  let buyers; // file customers who buy again through POST /v1/events
  let modelsJs; // the bundle's models.js as it was: the retrain's export rewrites it for the scratch registry

  before(async () => {
    reg = scratchRegistry();
    const work = makeTempDir("vitrine-retrain-work-");
    modelsJs = existsSync(MODELS_JS) ? readFileSync(MODELS_JS, "utf8") : undefined;
    const dir = await prepareDb({ dir: makeTempDir("vitrine-d1-retrain-") });
    const sql = path.join(work, "store.sql");
    state = makeTempDir("vitrine-retrain-state-");
    const transactions = path.join(state, "transactions.csv.gz");
    mkdirSync(path.join(state, "recs"));
    const reports = path.join(REPO, ".vitrine/reports"); // the export reads the heavy blend weight from there
    if (existsSync(reports)) symlinkSync(reports, path.join(state, "reports"));
    writeFileSync(path.join(state, "recs", "source.json"), JSON.stringify({ files: [transactions] }));
    await execFileP(
      PYTHON,
      [
        "-m",
        "vitrine_gpu",
        "recs",
        "synthetic-store",
        sql,
        "--transactions",
        transactions,
        "--store",
        STORE,
        "--customers",
        "80",
        "--products",
        "200",
        "--days",
        "100",
      ],
      { cwd: REPO, env: PY_ENV },
    );
    await execFileP(WRANGLER, ["d1", "execute", "vitrine", "--local", "--persist-to", dir, "--file", sql, "--yes"], {
      cwd: REPO,
      env: { ...process.env, ...WRANGLER_ENV },
    });
    const d1 = path.join(dir, "v3/d1/miniflare-D1DatabaseObject");
    dbFile = path.join(
      d1,
      readdirSync(d1).find((f) => f.endsWith(".sqlite")),
    );
    const { stdout } = await execFileP(
      PYTHON,
      [
        "-c",
        "import sqlite3, sys, json; c = sqlite3.connect(sys.argv[1]); print(json.dumps(c.execute(" +
          "'SELECT user_id, item_id FROM recs_history WHERE store = ? AND n > 0 GROUP BY user_id ORDER BY user_id " +
          "LIMIT 12', (sys.argv[2],)).fetchall()))",
        dbFile,
        STORE,
      ],
      { cwd: REPO, env: PY_ENV },
    );
    buyers = JSON.parse(stdout);
    edge = await startEdge({
      persistTo: dir,
      vars: {
        ADMIN_TOKEN: ADMIN,
        RATE_LIMITS: "off",
        RELEASE_MIN_REQUESTS: "10",
        GPU_ENDPOINT_URL: "http://127.0.0.1:9", // no GPU tier: both arms answer the light order alike
        GPU_SECONDARY_ENDPOINT_URL: "http://127.0.0.1:9",
      },
    });
  });

  after(async () => {
    if (modelsJs !== undefined) writeFileSync(MODELS_JS, modelsJs);
    await edge?.stop();
    stopAll();
    if (reg) rmSync(reg, { recursive: true, force: true });
    if (state) rmSync(state, { recursive: true, force: true });
  });

  it("trains the shipped store on its file plus the purchases since, gates, canaries and promotes it", async () => {
    const auth = { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" };
    const events = buyers.map(([user, productId], k) => ({
      type: "purchase",
      store: STORE,
      user,
      productId,
      eventId: `retrain-it-${k}`,
    }));
    const posted = await fetch(`${edge.url}/v1/events`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ events }),
    });
    assert.equal(posted.status, 202, await posted.text());

    const env = { VITRINE_REGISTRY: reg, VITRINE_STATE: state, VITRINE_ADMIN_TOKEN: ADMIN };
    const args = ["retrain", "--store", STORE, "--kind", "recs-light", "--reduced", "--db", dbFile, "--edge", edge.url];
    const { code, out } = await run(
      [...args, "--gpu", "", "--steps", "50,100", "--step-seconds", "10", "--with-load"],
      env,
    );
    assert.equal(code, 0, out.slice(-6000));
    const res = await fetch(`${edge.url}/admin/releases`, { headers: auth });
    const [rec] = (await res.json()).releases;
    assert.equal(rec.store, STORE);
    assert.equal(rec.kind, "recs-light");
    assert.equal(rec.status, "promoted");
    assert.equal(rec.gateReport.decision, "pass");
    assert.match(rec.startedBy, /^retrain /);
    // trained on the file plus every purchase posted, before the held-out window it was judged on
    const manifest = JSON.parse(readFileSync(path.join(reg, "recs-light", rec.version, "manifest.json"), "utf8"));
    assert.equal(manifest.source, "d1");
    assert.equal(manifest.shipped.purchases_since, buyers.length);
    assert.ok(manifest.train_until < rec.gateReport.window.from, JSON.stringify(rec.gateReport.window));
    const stores = JSON.parse(readFileSync(path.join(reg, "stores.json"), "utf8"));
    assert.equal(stores[STORE]["recs-light"], rec.version);
    const [summary] = readdirSync(path.join(reg, "retrains"));
    const record = JSON.parse(readFileSync(path.join(reg, "retrains", summary), "utf8"));
    assert.equal(record.outcome, "promoted");
    assert.equal(record.results[0].release.id, rec.id);
    assert.equal(record.results[0].release.gate, "pass");
  });
});
