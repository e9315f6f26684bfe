#!/usr/bin/env node
// `npm run bench:catalog` — the catalogue API's figures against a running edge (npm start), on a scratch store:
//   ingest       products/s through POST /admin/stores/{store}/products, NDJSON batches of 1,000 and of 10,000
//                (fresh products; then the same batch again: an idempotent re-send)
//   visible      write-to-visible: a price change (PATCH) then searches until one answers with the new price —
//                the median over --writes writes, and how many searches that took (1 = the very next one)
//   live recs    first purchase events → one cron run → the item page recommends the items bought with it
// Figures are printed (median, p95, counts) with the machine; they are benchmarks, not gates.
//   npm run bench:catalog -- [--url http://127.0.0.1:8787] [--products 20000] [--writes 100] [--token T]
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    url: { type: "string", default: process.env.VITRINE_URL ?? "http://127.0.0.1:8787" },
    products: { type: "string", default: "20000" },
    writes: { type: "string", default: "100" },
    token: { type: "string", default: process.env.VITRINE_ADMIN_TOKEN },
  },
});
const BASE = values.url.replace(/\/$/, "");
const TOKEN =
  values.token ?? /^ADMIN_TOKEN *= *"?([^"\n]*)"?$/m.exec(readFileSync(path.join(REPO, ".dev.vars"), "utf8"))?.[1];
const STORE = `bench-${Date.now().toString(36)}`;

async function call(method, p, body, type = "application/json") {
  const res = await fetch(`${BASE}${p}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { "content-type": type }) },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const json = await res.json().catch(() => undefined);
  if (res.status >= 300) throw new Error(`${method} ${p} → ${res.status} ${JSON.stringify(json)}`);
  return json;
}
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const fmt = (x) => (x >= 100 ? Math.round(x).toString() : x.toFixed(1));

const WORDS = "oak linen brass velvet cedar slate wool copper maple ivory".split(" ");
const KINDS = "lamp chair mug rug vase shelf tray clock mirror stool".split(" ");
const product = (i, price = 10 + (i % 90)) => ({
  id: `P${i}`,
  title: `${WORDS[i % 10]} ${KINDS[Math.floor(i / 10) % 10]} model ${i}`,
  brand: `Brand ${i % 37}`,
  description: `A ${WORDS[(i * 7) % 10]} ${KINDS[(i * 3) % 10]} for every room. Item number ${i}.`,
  category: ["Home", KINDS[Math.floor(i / 10) % 10]],
  price,
});
const ndjson = (from, n) => Array.from({ length: n }, (_, k) => JSON.stringify(product(from + k))).join("\n");

await call("PUT", `/admin/stores/${STORE}`, { name: "catalogue bench" });
console.log(`bench:catalog on ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, edge ${BASE}, store ${STORE}`);

// ---- ingest ----------------------------------------------------------------------------------------------------
const total = Math.max(20_000, Number(values.products));
let next = 0;
console.log("\ningest (NDJSON through the API, wrangler dev + local D1)");
console.log("  batch   requests   products/s (median)   products/s (min)   re-send products/s");
for (const size of [1_000, 10_000]) {
  const rates = [];
  const bodies = [];
  for (let done = 0; done < total / 2; done += size) {
    const body = ndjson(next, size);
    next += size;
    const t0 = performance.now();
    const r = await call("POST", `/admin/stores/${STORE}/products`, body, "application/x-ndjson");
    rates.push(size / ((performance.now() - t0) / 1000));
    if (r.accepted !== size) throw new Error(`accepted ${r.accepted} of ${size}`);
    bodies.push(body);
  }
  const t1 = performance.now();
  await call("POST", `/admin/stores/${STORE}/products`, bodies[0], "application/x-ndjson");
  const resend = size / ((performance.now() - t1) / 1000);
  console.log(
    `  ${String(size).padStart(6)}   ${String(rates.length).padStart(8)}   ${fmt(quantile(rates, 0.5)).padStart(19)}   ${fmt(Math.min(...rates)).padStart(16)}   ${fmt(resend).padStart(18)}`,
  );
}

// ---- write → visible -------------------------------------------------------------------------------------------
const writes = Math.max(10, Number(values.writes));
const latencies = [];
const searches = [];
for (let w = 0; w < writes; w++) {
  const i = w * 37;
  const target = product(i);
  const q = encodeURIComponent(`${target.title}`);
  await fetch(`${BASE}/v1/search?store=${STORE}&q=${q}&k=5`); // cached before the write
  const price = 1000 + w;
  const t0 = performance.now();
  await call("PATCH", `/admin/stores/${STORE}/products/${target.id}`, { price });
  for (let n = 1; n <= 50; n++) {
    const body = await (await fetch(`${BASE}/v1/search?store=${STORE}&q=${q}&k=5`)).json();
    if (body.items?.some((it) => it.id === target.id && it.price === price)) {
      latencies.push(performance.now() - t0);
      searches.push(n);
      break;
    }
  }
}
console.log(`\nwrite → visible (PATCH price, then search until the new price shows), ${writes} writes`);
console.log(
  `  median ${fmt(quantile(latencies, 0.5))} ms, p95 ${fmt(quantile(latencies, 0.95))} ms; seen by the next search: ${searches.filter((n) => n === 1).length}/${writes}; never seen: ${writes - latencies.length}`,
);

// ---- events → live recommendations -----------------------------------------------------------------------------
const bundle = ["P1", "P2", "P3"];
const events = Array.from({ length: 30 }, (_, u) =>
  bundle.map((productId) => ({ type: "purchase", store: STORE, user: `b${u}`, productId })),
).flat();
const t0 = performance.now();
await call("POST", "/v1/events", { events });
const tEvents = performance.now() - t0;
const before = await call("GET", `/v1/recommend?store=${STORE}&item=P1&k=5`);
const t1 = performance.now();
await fetch(`${BASE}/cdn-cgi/handler/scheduled?cron=${encodeURIComponent("* * * * *")}`);
const tCron = performance.now() - t1;
const after = await call("GET", `/v1/recommend?store=${STORE}&item=P1&k=5`);
const got = after.items.map((i) => i.id);
console.log(`\nevents → live recommendations (${events.length} purchase events, then one cron run)`);
console.log(
  `  events POST ${fmt(tEvents)} ms; item page before the cron: ${before.items.length} items; cron run ${fmt(tCron)} ms; after: [${got.join(", ")}] (P2, P3 ${bundle.slice(1).every((id) => got.includes(id)) ? "recommended" : "MISSING"}); tables ${after.models.data}`,
);
console.log(
  "  in production the cron runs every minute: a store's first events reach its recommendations within ≤ 1 min + the run",
);
