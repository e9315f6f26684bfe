#!/usr/bin/env node
// `npm run catalog:import -- --store X FILE.ndjson [--events EVENTS.ndjson]` — a store's bulk import through the
// public catalogue and events APIs (README "Add your store"), for files of any size: the files are streamed, never
// read whole.
//   products  NDJSON, one product a line → POST /admin/stores/{store}/products in batches (--batch, default 5,000
//             lines, and never over 8 MiB), --concurrency requests in flight (default 2)
//   events    NDJSON, one event a line (POST /v1/events' event; `store` defaults to --store) → batches of 500 (the
//             route's maximum)
// A batch answered 429 / 5xx / not at all is retried (--retries, default 5, exponential back-off from 500 ms; a 503's
// Retry-After is honoured): re-sending is safe (an upsert that changes nothing changes nothing; events carry their
// eventId). Per-document results are summarised: accepted, rejected with the file's line number and the error (the
// first --show-rejected printed, all counted), failed batches. Exit status 1 when a batch failed for good.
//   npm run catalog:import -- --store my-shop products.ndjson [--events events.ndjson] [--create "My shop"]
//                             [--url http://127.0.0.1:8787] [--token T] [--batch 5000] [--concurrency 2] [--retries 5]
import { createReadStream, readFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MAX_BATCH_BYTES = 8 * 2 ** 20; // under CATALOG_MAX_BODY_BYTES (10 MiB)
const EVENTS_PER_REQUEST = 500; // edge/api/events.ts: events.max(500)

/** The admin token of the local `.dev.vars` (npm start writes it), if any. */
export function devToken(repo = REPO) {
  try {
    return /^ADMIN_TOKEN *= *"?([^"\n]*)"?$/m.exec(readFileSync(path.join(repo, ".dev.vars"), "utf8"))?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Groups a file's non-empty lines into batches of ≤ maxLines lines and ≤ maxBytes bytes: {first, lines}[]; with
 * `upTo`, only the file's first `upTo` lines are read.
 */
async function* batchesOf(file, maxLines, maxBytes = MAX_BATCH_BYTES, upTo = Infinity) {
  const rl = createInterface({ input: createReadStream(file, "utf8"), crlfDelay: Infinity });
  let lines = [];
  let lineNos = [];
  let bytes = 0;
  let n = 0;
  for await (const line of rl) {
    if (++n > upTo) break;
    if (!line.trim()) continue;
    if (lines.length >= maxLines || (lines.length > 0 && bytes + line.length + 1 > maxBytes)) {
      yield { lines, lineNos };
      lines = [];
      lineNos = [];
      bytes = 0;
    }
    lines.push(line);
    lineNos.push(n);
    bytes += Buffer.byteLength(line) + 1;
  }
  if (lines.length) yield { lines, lineNos };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One request with retries on 429 / 5xx / network errors; returns {status, body} of the last answer. */
async function send(url, init, retries) {
  for (let attempt = 0; ; attempt++) {
    let res;
    try {
      res = await fetch(url, init);
    } catch (err) {
      if (attempt >= retries)
        return { status: 0, body: { error: String(err?.cause?.code ?? err) }, attempts: attempt + 1 };
      await sleep(500 * 2 ** attempt);
      continue;
    }
    const body = await res.json().catch(() => undefined);
    if ((res.status === 429 || res.status >= 500) && attempt < retries) {
      const after = Number(res.headers.get("retry-after"));
      await sleep(Number.isFinite(after) && after > 0 ? after * 1000 : 500 * 2 ** attempt);
      continue;
    }
    return { status: res.status, body, attempts: attempt + 1 };
  }
}

/** Runs `work(item)` over an async iterable with at most `concurrency` in flight, in order of arrival. */
async function pool(items, concurrency, work) {
  const running = new Set();
  for await (const item of items) {
    const p = work(item).finally(() => running.delete(p));
    running.add(p);
    if (running.size >= concurrency) await Promise.race(running);
  }
  await Promise.all(running);
}

/**
 * Imports a products NDJSON file into `store`: {documents, accepted, rejected, rejectedSample, failedBatches,
 * requests, retries, seconds, perSecond, catalogVersion}. Rejected lines carry the file's line numbers.
 */
export async function importProducts({ url, token, store, file, batch = 5000, concurrency = 2, retries = 5, onBatch }) {
  const t0 = performance.now();
  const out = {
    documents: 0,
    accepted: 0,
    rejected: 0,
    rejectedSample: [],
    failedBatches: [],
    requests: 0,
    retries: 0,
    catalogVersion: 0,
  };
  const endpoint = `${url}/admin/stores/${encodeURIComponent(store)}/products`;
  await pool(batchesOf(file, Math.min(10_000, batch)), concurrency, async ({ lines, lineNos }) => {
    const r = await send(
      endpoint,
      {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/x-ndjson" },
        body: lines.join("\n"),
      },
      retries,
    );
    out.requests++;
    out.retries += r.attempts - 1;
    out.documents += lines.length;
    if (r.status !== 200) {
      out.failedBatches.push({ firstLine: lineNos[0], lines: lines.length, status: r.status, error: r.body });
      return;
    }
    out.accepted += r.body.accepted;
    out.rejected += r.body.rejected.length;
    for (const rej of r.body.rejected)
      if (out.rejectedSample.length < 20) out.rejectedSample.push({ ...rej, line: lineNos[rej.line - 1] ?? rej.line });
    out.catalogVersion = Math.max(out.catalogVersion, r.body.catalogVersion);
    onBatch?.(out);
  });
  out.seconds = (performance.now() - t0) / 1000;
  out.perSecond = out.accepted / out.seconds;
  return out;
}

/**
 * Imports an events NDJSON file (`store` filled in where a line has none), its first `upTo` lines only when given:
 * {documents, accepted, buffered, …}.
 */
export async function importEvents({ url, store, file, concurrency = 2, retries = 5, onBatch, upTo = Infinity }) {
  const t0 = performance.now();
  const out = {
    documents: 0,
    accepted: 0,
    buffered: 0,
    rejected: 0,
    rejectedSample: [],
    failedBatches: [],
    requests: 0,
    retries: 0,
  };
  await pool(batchesOf(file, EVENTS_PER_REQUEST, MAX_BATCH_BYTES, upTo), concurrency, async ({ lines, lineNos }) => {
    const events = lines.map((l) => ({ store, ...JSON.parse(l) }));
    const r = await send(
      `${url}/v1/events`,
      { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ events }) },
      retries,
    );
    out.requests++;
    out.retries += r.attempts - 1;
    out.documents += lines.length;
    if (r.status === 202) {
      out.accepted += r.body.accepted;
      out.buffered += r.body.buffered ?? 0;
    } else if (r.status >= 400 && r.status < 500 && r.status !== 429) {
      // the route refuses a payload whole: the batch's lines are reported with the route's error
      out.rejected += lines.length;
      if (out.rejectedSample.length < 20) out.rejectedSample.push({ firstLine: lineNos[0], error: r.body });
    } else {
      out.failedBatches.push({ firstLine: lineNos[0], lines: lines.length, status: r.status, error: r.body });
    }
    onBatch?.(out);
  });
  out.seconds = (performance.now() - t0) / 1000;
  out.perSecond = out.accepted / out.seconds;
  return out;
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      store: { type: "string" },
      events: { type: "string" },
      create: { type: "string" },
      url: { type: "string", default: process.env.VITRINE_URL ?? "http://127.0.0.1:8787" },
      token: { type: "string", default: process.env.VITRINE_ADMIN_TOKEN },
      batch: { type: "string", default: "5000" },
      concurrency: { type: "string", default: "2" },
      retries: { type: "string", default: "5" },
      "show-rejected": { type: "string", default: "5" },
    },
  });
  const usage = "usage: npm run catalog:import -- --store X FILE.ndjson [--events EVENTS.ndjson] [--create NAME]";
  if (!values.store || (positionals.length === 0 && !values.events)) {
    console.error(usage);
    process.exit(2);
  }
  const url = values.url.replace(/\/$/, "");
  const token = values.token ?? devToken();
  if (!token) {
    console.error("no admin token: pass --token or set ADMIN_TOKEN in .dev.vars (npm start writes it)");
    process.exit(2);
  }
  const opts = {
    url,
    token,
    store: values.store,
    batch: Number(values.batch),
    concurrency: Number(values.concurrency),
    retries: Number(values.retries),
  };
  if (values.create) {
    const r = await send(
      `${url}/admin/stores/${encodeURIComponent(values.store)}`,
      {
        method: "PUT",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ name: values.create }),
      },
      opts.retries,
    );
    console.log(`store ${values.store}: ${r.status} ${JSON.stringify(r.body)}`);
    if (r.status !== 200 && r.status !== 201) process.exit(1);
  }
  let failed = 0;
  const progress = (what) => (o) =>
    process.stderr.write(`\r${what}: ${o.documents} lines sent, ${o.accepted} accepted`);
  const report = (what, o) => {
    process.stderr.write("\n");
    const { rejectedSample, failedBatches, ...counts } = o;
    console.log(
      `${what}: ${JSON.stringify({ ...counts, seconds: +o.seconds.toFixed(1), perSecond: Math.round(o.perSecond) })}`,
    );
    for (const r of rejectedSample.slice(0, Number(values["show-rejected"])))
      console.log(`  rejected ${JSON.stringify(r)}`);
    for (const f of failedBatches) console.log(`  FAILED batch ${JSON.stringify(f)}`);
    failed += failedBatches.length;
  };
  for (const file of positionals)
    report(`products ${file}`, await importProducts({ ...opts, file, onBatch: progress("products") }));
  if (values.events)
    report(
      `events ${values.events}`,
      await importEvents({ ...opts, file: values.events, onBatch: progress("events") }),
    );
  process.exit(failed ? 1 : 0);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
