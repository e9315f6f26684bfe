#!/usr/bin/env node
// Bounded load generator for a running edge (npm start): a mix of queries and users against /v1/search with
// autocannon, plus feedback events (impressions, clicks, add_to_cart, purchases) posted for a share of responses.
//   npm run load -- [--url http://127.0.0.1:8787] [--duration 20] [--connections 4] [--events-every 5]
import autocannon from "autocannon";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const { values } = parseArgs({
  options: {
    url: { type: "string", default: process.env.VITRINE_URL ?? "http://127.0.0.1:8787" },
    duration: { type: "string", default: "20" },
    connections: { type: "string", default: "4" },
    "events-every": { type: "string", default: "5" },
  },
});
const base = values.url.replace(/\/$/, "");
const duration = Math.min(600, Math.max(1, Number(values.duration)));
const connections = Math.min(64, Math.max(1, Number(values.connections)));
const eventsEvery = Math.max(1, Number(values["events-every"]));

const FALLBACK_QUERIES = [
  "running shoes",
  "usb c cable",
  "coffee maker",
  "wireless headphones",
  "yoga mat",
  "phone case",
  "desk lamp",
  "water bottle",
  "laptop stand",
  "kids toys",
  "bluetooth speaker",
  "kitchen knife",
  "winter jacket",
  "led bulbs",
  "dog food",
  "gaming mouse",
  "notebook",
  "sunglasses",
  "backpack",
  "hdmi cable",
];

/** Two-word queries from product titles of the prepared catalog (so searches hit), else the fallback list. */
function catalogQueries(limit) {
  const db = path.join(REPO, ".vitrine/catalog/catalog.sqlite");
  const py = path.join(REPO, ".vitrine/venv/bin/python");
  if (!existsSync(db) || !existsSync(py)) return FALLBACK_QUERIES;
  const script = [
    "import sqlite3, re, sys",
    "db = sqlite3.connect(sys.argv[1])",
    "out = [' '.join(re.findall(r'[A-Za-z]{4,}', t)[:2]).lower() for (t,) in db.execute('SELECT title FROM products ORDER BY rowid LIMIT 2000')]",
    "print('\\n'.join(dict.fromkeys(q for q in out if ' ' in q)))",
  ].join("\n");
  try {
    const qs = execFileSync(py, ["-c", script, db], { encoding: "utf8" }).split("\n").filter(Boolean).slice(0, limit);
    return qs.length ? qs : FALLBACK_QUERIES;
  } catch {
    return FALLBACK_QUERIES;
  }
}
const QUERIES = catalogQueries(200);
let n = 0;
const pick = () => {
  n++;
  const q = QUERIES[(n * 7) % QUERIES.length];
  const user = `load-user-${(n * 13) % 200}`;
  return `/v1/search?q=${encodeURIComponent(q)}&user=${user}`;
};

let eventBatches = 0;
let eventFailures = 0;
const pendingEvents = new Set();
function sendEvents(body) {
  let parsed;
  try {
    parsed = JSON.parse(body);
  } catch {
    return;
  }
  if (!parsed?.requestId || !Array.isArray(parsed.items) || parsed.items.length === 0) return;
  const top = parsed.items.slice(0, 5);
  const events = top.map((r, i) => ({
    type: "impression",
    requestId: parsed.requestId,
    productId: String(r.id),
    position: i,
    variant: parsed.variant,
    model: parsed.models?.heavy,
  }));
  const clicked = n % 3 === 0 ? top[n % top.length] : undefined;
  if (clicked) {
    const base2 = {
      requestId: parsed.requestId,
      productId: String(clicked.id),
      position: top.indexOf(clicked),
      variant: parsed.variant,
      model: parsed.models?.heavy,
    };
    events.push({ type: "click", ...base2 });
    if (n % 2 === 0) events.push({ type: "add_to_cart", ...base2 });
    if (n % 4 === 0) events.push({ type: "purchase", ...base2 });
  }
  for (const e of events) for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  const p = fetch(`${base}/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ events }),
  })
    .then((r) => {
      eventBatches++;
      if (r.status !== 202) eventFailures++;
      return r.arrayBuffer();
    })
    .catch(() => {
      eventFailures++;
    })
    .finally(() => pendingEvents.delete(p));
  pendingEvents.add(p);
}

let responses = 0;
const instance = autocannon({
  url: base,
  connections,
  duration,
  requests: [
    {
      method: "GET",
      setupRequest: (req) => ({ ...req, path: pick() }),
      onResponse: (status, body) => {
        responses++;
        if (status === 200 && responses % eventsEvery === 0 && body) sendEvents(body.toString());
      },
    },
  ],
});
autocannon.track(instance, { renderProgressBar: false });
const result = await instance;
await Promise.allSettled([...pendingEvents]);
console.log(
  JSON.stringify(
    {
      url: base,
      duration,
      connections,
      requests: result.requests.total,
      non2xx: result.non2xx,
      errors: result.errors,
      latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99 },
      rps: result.requests.average,
      eventBatches,
      eventFailures,
    },
    null,
    2,
  ),
);
