// Backup and restore (README "Backup and restore"), with the real processes: `wrangler dev` serves a small store
// (catalogue through the admin API, purchases through /v1/events) while `npm run backup` snapshots its live D1 state
// and a small model registry; `npm run restore` loads the backup into a scratch database and verifies every table's
// row count and checksum; a row changed in the restored copy then fails verification; and the restore drill's report
// (npm run drill:restore) appears in /admin/drills as scenario d1_restore with its measured restore time.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { makeTempDir, prepareDb, REPO, startEdge, stopAll, WRANGLER, WRANGLER_ENV } from "./harness.mjs";

const execFileP = promisify(execFile);
const TOKEN = "backup-test-admin-token-0123456789";
const STORE = "bk-shop";
const PRODUCTS = 40;

/** Runs one of the npm scripts' node entry points; answers its exit code and parsed JSON output. */
async function script(file, args, env = {}) {
  try {
    const { stdout } = await execFileP(process.execPath, [path.join(REPO, "scripts", file), ...args], {
      cwd: REPO,
      env: { ...process.env, ...WRANGLER_ENV, ...env },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, out: JSON.parse(stdout) };
  } catch (e) {
    if (typeof e.code !== "number") throw e;
    return { code: e.code, out: e.stdout ? JSON.parse(e.stdout) : null, stderr: e.stderr };
  }
}

let edge;
let tmp;
const auth = { authorization: `Bearer ${TOKEN}` };

before(async () => {
  tmp = makeTempDir("vitrine-backup-it-");
  // a small database: migrations, the registry's seed experiment, one release row; the store's catalogue comes later
  const extra = path.join(tmp, "extra.sql");
  writeFileSync(
    extra,
    "INSERT INTO releases (id, kind, store, surface, version, status, steps, step_seconds, started_by, created_at, updated_at) " +
      "VALUES ('rel-bk-1', 'light', 'esci', 'search', 'light-x', 'done', '[0.1,1]', 60, 'test', 1765000000000, 1765000000000);\n",
  );
  const dir = await prepareDb({ dir: path.join(tmp, "live"), catalog: extra });
  edge = await startEdge({ persistTo: dir, vars: { ADMIN_TOKEN: TOKEN, RATE_LIMITS: "off" } });
  const put = await fetch(`${edge.url}/admin/stores/${STORE}`, {
    method: "PUT",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ name: "Backup shop", currency: "EUR" }),
  });
  assert.equal(put.status, 201, await put.text());
  const lines = Array.from({ length: PRODUCTS }, (_, i) =>
    JSON.stringify({ id: `sku-${i}`, title: `Linen apron ${i} “naïve” 'quoted'`, brand: "Atelier", price: 10 + i / 3 }),
  );
  const up = await fetch(`${edge.url}/admin/stores/${STORE}/products`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/x-ndjson" },
    body: lines.join("\n"),
  });
  assert.equal(up.status, 200, await up.text());
  const events = Array.from({ length: 30 }, (_, i) => ({
    type: "purchase",
    store: STORE,
    user: `u-${i % 7}`,
    productId: `sku-${(i * 3) % PRODUCTS}`,
    eventId: `o-${i}`,
  }));
  const ev = await fetch(`${edge.url}/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ events }),
  });
  assert.equal(ev.status, 202, await ev.text());
});

after(() => stopAll());

test("backup of the live state → restore into a scratch database → checksums match; a changed row fails", async () => {
  const registry = path.join(tmp, "registry");
  mkdirSync(path.join(registry, "light/light-1"), { recursive: true });
  writeFileSync(path.join(registry, "current.json"), '{"light": "light-1"}\n');
  writeFileSync(path.join(registry, "light/light-1/manifest.json"), '{"version": "light-1"}\n');
  const backups = path.join(tmp, "backups");
  const out = path.join(backups, "b1");

  // the edge keeps serving: the backup reads a snapshot taken with SQLite's backup API
  const backup = await script("backup.mjs", ["--out", out, "--persist-to", edge.persistTo, "--registry", registry]);
  assert.equal(backup.code, 0);
  const manifest = JSON.parse(readFileSync(path.join(out, "manifest.json"), "utf8"));
  assert.equal(manifest.d1.tables.products.rows, PRODUCTS);
  assert.ok(manifest.d1.tables.recs_history.rows > 0, "purchase history backed up");
  assert.equal(manifest.d1.tables.releases.rows, 1);
  assert.ok(manifest.d1.tables.stores.rows >= 2 && manifest.d1.tables.experiments.rows >= 1);
  for (const t of ["stores", "products", "recs_history", "experiments", "experiment_variants", "releases"])
    assert.match(manifest.d1.tables[t].sha256, /^[0-9a-f]{64}$/, t);
  assert.deepEqual(Object.keys(manifest.registry.files).sort(), ["current.json", "light/light-1/manifest.json"]);
  assert.ok(!("products_fts_bk_shop_data" in manifest.d1.tables), "FTS5 shadow tables are rebuilt, not dumped");

  const scratch = path.join(tmp, "restored");
  const restored = await script("restore.mjs", [out, "--database", "scratch", "--persist-to", scratch]);
  assert.equal(restored.code, 0, JSON.stringify(restored.out?.problems ?? restored.stderr));
  assert.equal(restored.out.ok, true);
  assert.deepEqual(restored.out.problems, []);
  assert.equal(restored.out.rows.products, PRODUCTS);
  assert.equal(restored.out.rows.recs_history, manifest.d1.tables.recs_history.rows);
  // the store's FTS5 index was rebuilt from products and passes its integrity check
  assert.ok(
    restored.out.indexes.some((i) => i.table === "products_fts_bk__shop" && i.ok),
    JSON.stringify(restored.out.indexes),
  );
  // and its quality-ordered (contentless) index, replayed from its insert trigger
  assert.ok(
    restored.out.indexes.some((i) => i.table === "products_fts_bk__shop_q" && i.ok),
    JSON.stringify(restored.out.indexes),
  );
  assert.ok(restored.out.indexes.every((i) => i.ok));
  assert.equal(typeof restored.out.restoreMs, "number");

  // one price changed in the restored copy: verification names the table
  await execFileP(
    WRANGLER,
    [
      "d1",
      "execute",
      "vitrine",
      "--local",
      "--persist-to",
      scratch,
      "--command",
      `UPDATE products SET price = price + 1 WHERE store = '${STORE}' AND id = 'sku-3'`,
    ],
    { cwd: REPO, env: { ...process.env, ...WRANGLER_ENV } },
  );
  const verified = await script("restore.mjs", [out, "--database", "scratch", "--persist-to", scratch, "--verify"]);
  assert.equal(verified.code, 1);
  assert.equal(verified.out.ok, false);
  assert.deepEqual(
    verified.out.problems.map((p) => p.table),
    ["products"],
  );
  assert.match(verified.out.problems[0].problem, /checksum/);
});

test("the restore drill's report shows in /admin/drills as d1_restore with its restore time", async () => {
  const backups = path.join(tmp, "backups");
  const drill = await script(
    "drill-restore.mjs",
    ["--backups", backups, "--scratch", path.join(tmp, "drill-scratch"), "--edge", edge.url, "--trigger", "test"],
    {
      ADMIN_TOKEN: TOKEN,
    },
  );
  assert.equal(drill.code, 0, JSON.stringify(drill.out?.checks ?? drill.stderr));
  assert.equal(drill.out.status, "pass");
  const list = await (await fetch(`${edge.url}/admin/drills?limit=10`, { headers: auth })).json();
  assert.ok(list.scenarios.includes("d1_restore"));
  const run = list.drills.find((d) => d.id === drill.out.id);
  assert.ok(run, "the posted report is listed");
  assert.equal(run.scenario, "d1_restore");
  assert.equal(run.status, "pass");
  assert.equal(run.timeToRecoverMs, drill.out.measurements.restoreMs);
  assert.ok(run.checks.some((c) => c.name === "table:recs_history" && c.ok));
  const detail = await (await fetch(`${edge.url}/admin/drills/${run.id}`, { headers: auth })).json();
  assert.equal(detail.measurements.rows.products, PRODUCTS);

  // a malformed report is a 400, never stored
  const bad = await fetch(`${edge.url}/admin/drills/reports`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ scenario: "primary_down", status: "pass" }),
  });
  assert.equal(bad.status, 400);
});
