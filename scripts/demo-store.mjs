#!/usr/bin/env node
// `npm run demo:store` — onboards a new store end to end against the running system (npm start), through the public
// and admin APIs only, printing what each step returned (README "Add your store"):
//   1. PUT  /admin/stores/{store}                    create the store
//   2. POST /admin/stores/{store}/products           upload a synthetic catalogue as NDJSON (one bad line on purpose)
//   3. GET  /v1/search?store=…                       its products are searchable at once
//   4. POST /v1/events                               purchases of synthetic shoppers (bundles bought together)
//   5. the every-minute cron                         live recommendation tables from those events
//   6. GET  /v1/recommend?store=…                    item page, a shopper, a newcomer: non-degraded, heavy-scored
//   7. npm run pipeline -- recs --store …            the store's own models (--train; off with --no-train)
//   8. npm run release -- --store … --kind recs-light  gated, canaried, promoted
// The catalogue is generated on the fly (seeded: --seed, default a fresh one each run), in no way the shipped stores'.
//   npm run demo:store -- [--url http://127.0.0.1:8787] [--store demo-…] [--products 2000] [--shoppers 400]
//                         [--seed N] [--no-train] [--token T]
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    url: { type: "string", default: process.env.VITRINE_URL ?? "http://127.0.0.1:8787" },
    store: { type: "string" },
    products: { type: "string", default: "2000" },
    shoppers: { type: "string", default: "400" },
    seed: { type: "string" },
    token: { type: "string", default: process.env.VITRINE_ADMIN_TOKEN },
    "no-train": { type: "boolean", default: false },
  },
});
const BASE = values.url.replace(/\/$/, "");
const SEED = Number(values.seed ?? Date.now() % 1_000_000);
const STORE = values.store ?? `demo-${SEED}`;
const N_PRODUCTS = Math.max(50, Number(values.products));
const N_SHOPPERS = Math.max(50, Number(values.shoppers));
const TOKEN = values.token ?? devVar("ADMIN_TOKEN");
if (!TOKEN) fail("no admin token: pass --token or run `npm start` once (it writes .dev.vars)");

function devVar(name) {
  try {
    const m = new RegExp(`^${name} *= *"?([^"\\n]*)"?$`, "m").exec(readFileSync(path.join(REPO, ".dev.vars"), "utf8"));
    return m?.[1];
  } catch {
    return undefined;
  }
}

function fail(msg) {
  console.error(`\n[demo:store] FAILED: ${msg}`);
  process.exit(1);
}

let stepNo = 0;
const step = (title) => console.log(`\n── ${++stepNo}. ${title}`);
const show = (label, value) => console.log(`   ${label}: ${typeof value === "string" ? value : JSON.stringify(value)}`);

/** One API call; a connection the edge drops while it reloads (a release re-exports its model bundle) is retried. */
async function call(method, p, body, type = "application/json") {
  const headers = { authorization: `Bearer ${TOKEN}` };
  if (body !== undefined) headers["content-type"] = type;
  const init = {
    method,
    headers,
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  };
  let res;
  for (let attempt = 0; !res; attempt++) {
    try {
      res = await fetch(`${BASE}${p}`, init);
    } catch (err) {
      if (attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, body: json, headers: res.headers };
}

// ---- a synthetic shop (seeded) ------------------------------------------------------------------------------------

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(SEED);
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const DEPARTMENTS = {
  Kitchen: ["mug", "teapot", "kettle", "cutting board", "chef knife", "espresso cup", "apron", "oven glove"],
  Garden: ["watering can", "trowel", "plant pot", "seed tray", "hose reel", "pruning shears"],
  Travel: ["backpack", "packing cube", "passport wallet", "travel pillow", "luggage tag", "toiletry bag"],
  Stationery: ["notebook", "fountain pen", "pencil case", "desk organiser", "sketchbook", "ink bottle"],
};
const COLOURS = ["sage", "terracotta", "navy", "ochre", "charcoal", "ivory", "plum", "teal"];
const MATERIALS = ["stoneware", "linen", "oak", "recycled steel", "cork", "canvas", "leather", "bamboo"];
const BRANDS = ["Hearth & Hare", "Northwind", "Kestrel Works", "Molly Mae", "Atelier Verde", "Quayside"];

function catalogue() {
  const depts = Object.keys(DEPARTMENTS);
  return Array.from({ length: N_PRODUCTS }, (_, i) => {
    const dept = depts[i % depts.length];
    const kind = pick(DEPARTMENTS[dept]);
    const colour = pick(COLOURS);
    const material = pick(MATERIALS);
    return {
      id: `D${String(i).padStart(5, "0")}`,
      title: `${colour} ${material} ${kind}`,
      brand: pick(BRANDS),
      color: colour,
      description: `A ${material} ${kind} in ${colour}, made to last. Part of our ${dept.toLowerCase()} range.`,
      category: ["Home", dept, kind],
      price: Math.round((4 + rand() * 80) * 100) / 100,
      rating: Math.round((3 + rand() * 2) * 10) / 10,
      ratingCount: Math.floor(rand() * 500),
    };
  });
}

/**
 * Shoppers come back: each has a taste (one of 40 bundles of items that go together) and buys 2–6 baskets over the
 * last 120 days — a few items of the bundle, a favourite again, now and then a popular item — so there are
 * co-purchases to find, repeat purchases and returning customers in the last 30 days (what a store's own models are
 * trained and gated on: `npm run pipeline -- recs --store`).
 */
function purchases(products) {
  const bundles = Array.from({ length: 40 }, (_, b) =>
    Array.from({ length: 4 }, (_, j) => products[(b * 7 + j * 131) % products.length].id),
  );
  const popular = products.slice(0, 20).map((p) => p.id);
  const now = Date.now();
  const events = [];
  for (let u = 0; u < N_SHOPPERS; u++) {
    const bundle = bundles[Math.floor(Math.pow(rand(), 1.6) * bundles.length)];
    const favourite = pick(bundle);
    const baskets = 2 + Math.floor(rand() * 5);
    for (let b = 0; b < baskets; b++) {
      const ts = now - Math.floor(rand() * 120 * 86_400_000) - 3_600_000;
      const items = new Set([favourite, ...bundle.filter(() => rand() < 0.45)]);
      if (rand() < 0.3) items.add(pick(popular));
      for (const productId of items)
        events.push({
          type: "purchase",
          store: STORE,
          user: `shopper-${u}`,
          productId,
          eventId: `${STORE}-${u}-${b}-${productId}`,
          ts,
        });
    }
  }
  return { events, bundles };
}

// ---- the steps ------------------------------------------------------------------------------------------------

const health = await fetch(`${BASE}/healthz`).catch(() => undefined);
if (!health?.ok) fail(`no edge at ${BASE} (start it with npm start)`);
console.log(`[demo:store] store ${STORE}, ${N_PRODUCTS} products, ${N_SHOPPERS} shoppers, seed ${SEED}, edge ${BASE}`);

step(`create the store: PUT /admin/stores/${STORE}`);
const created = await call("PUT", `/admin/stores/${STORE}`, { name: `Demo shop ${SEED}`, currency: "EUR" });
show(`${created.status}`, created.body);
if (created.status !== 201 && created.status !== 200) fail("the store was not created");

step(`upload the catalogue: POST /admin/stores/${STORE}/products (NDJSON, batches of 1,000)`);
const products = catalogue();
let version = 0;
for (let i = 0; i < products.length; i += 1000) {
  const lines = products.slice(i, i + 1000).map((p) => JSON.stringify(p));
  if (i === 0) lines.push(JSON.stringify({ id: "no-title", price: 1 })); // a bad line: reported, never applied
  const t0 = performance.now();
  const r = await call("POST", `/admin/stores/${STORE}/products`, lines.join("\n"), "application/x-ndjson");
  const ms = performance.now() - t0;
  if (r.status !== 200) fail(`upload answered ${r.status}: ${JSON.stringify(r.body)}`);
  show(`batch ${i / 1000 + 1}`, { ...r.body, ms: Math.round(ms) });
  version = r.body.catalogVersion;
}

step("search it at once: GET /v1/search");
const query = products[3].title.split(" ").slice(0, 2).join(" ");
const found = await call("GET", `/v1/search?store=${STORE}&q=${encodeURIComponent(query)}&k=5`);
show(`q=${JSON.stringify(query)} → ${found.status}`, found.body.items?.map((i) => `${i.id} ${i.title}`) ?? found.body);
if (!found.body.items?.length) fail("search found none of the store's products");
show("catalogue version", version);

step("shoppers buy: POST /v1/events");
const { events, bundles } = purchases(products);
for (let i = 0; i < events.length; i += 500) {
  const r = await call("POST", "/v1/events", { events: events.slice(i, i + 500) });
  if (r.status !== 202) fail(`events answered ${r.status}: ${JSON.stringify(r.body)}`);
}
show("events accepted", events.length);

step("the every-minute cron builds the store's live recommendation tables");
const cron = await fetch(`${BASE}/cdn-cgi/handler/scheduled?cron=${encodeURIComponent("* * * * *")}`);
show("cron", `${cron.status}`);
const listed = await call("GET", "/admin/stores");
show(
  "store",
  listed.body.stores?.find((s) => s.id === STORE),
);

step("recommend: GET /v1/recommend");
const check = (label, r) => {
  const items = r.body.items ?? [];
  show(
    `${label} → ${r.status}, data ${r.body.models?.data}, degraded ${r.body.degraded}`,
    items.slice(0, 5).map((i) => `${i.id} ${i.title} [${i.sources.join("+")}] heavy=${i.scores.heavy?.toFixed(3)}`),
  );
  if (r.status !== 200 || items.length === 0) fail(`${label}: no recommendations`);
  if (r.body.degraded) fail(`${label}: degraded (${r.body.degradedReason})`);
  if (!items.some((i) => i.scores.heavy !== null)) fail(`${label}: no heavy scores`);
  return items;
};
const page = bundles[0][0];
const onPage = check(`item page ${page}`, await call("GET", `/v1/recommend?store=${STORE}&item=${page}&k=10`));
const together = bundles[0].slice(1).filter((id) => onPage.some((i) => i.id === id));
show("bought together with it, recommended", together);
const shopper = check("shopper-1", await call("GET", `/v1/recommend?store=${STORE}&user=shopper-1&k=10`));
if (!shopper.length) fail("no answer for a shopper");
check("a newcomer", await call("GET", `/v1/recommend?store=${STORE}&user=newcomer-${SEED}&k=10`));

if (!values["no-train"]) {
  const npm = (args) => {
    console.log(`   $ npm run ${args.join(" ")}`);
    execFileSync("npm", ["run", "-s", ...args], { cwd: REPO, stdio: "inherit", env: process.env });
  };
  step(`train the store's own models: npm run pipeline -- recs --store ${STORE}`);
  npm(["pipeline", "--", "recs", "--store", STORE]);
  step(`release them: npm run release -- --store ${STORE} --kind recs-light (gate, canary, promotion)`);
  // a short canary (two steps of 30 s) with traffic of its own (--with-load): the demo's store has no shoppers online
  npm([
    "release",
    "--",
    "--store",
    STORE,
    "--kind",
    "recs-light",
    "--yes",
    "--edge",
    BASE,
    "--with-load",
    "--steps",
    "50,100",
    "--step-seconds",
    "30",
  ]);
  const trained = check("shopper-1, trained", await call("GET", `/v1/recommend?store=${STORE}&user=shopper-1&k=10`));
  show(
    "models",
    trained.length ? (await call("GET", `/v1/recommend?store=${STORE}&user=shopper-1&k=1`)).body.models : {},
  );
}

console.log(`\n[demo:store] ok: store ${STORE} onboarded through the API (see README "Add your store")`);
