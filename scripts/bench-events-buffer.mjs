#!/usr/bin/env node
// POST /v1/events: accepted-to-visible delay in D1, on the two paths (`node scripts/bench-events-buffer.mjs [N]`).
// Starts its own `wrangler dev` on a fresh local D1 (test/integration/harness.mjs, free ports) and posts N purchases
// (default 20) each way, one at a time:
//   write-through  D1 up: the 202 leaves after the write, so the purchase is visible at once (first read after it);
//   buffered       the D1 file held under an exclusive lock while the purchase is posted (202 once the durable
//                  buffer holds it), released right after the 202: the delay until the durable buffer's drain (alarm)
//                  made it visible in D1.
// Prints p50 / p95 / max of each (ms), read from the SQLite file every 10 ms. The machine's load shows in them.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { openD1File } from "../test/integration/d1-file.mjs";
import { makeTempDir, prepareDb, startEdge, stopAll } from "../test/integration/harness.mjs";
import { pct } from "../test/integration/load.mjs";

const N = Number(process.argv[2] ?? 20);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const none = path.join(makeTempDir("vitrine-sql-"), "none.sql");
  writeFileSync(none, "SELECT 1;\n");
  const persistTo = await prepareDb({ catalog: none, seed: null });
  const edge = await startEdge({ persistTo, vars: { RATE_LIMITS: "off" } });
  const d1 = openD1File(persistTo);
  const tag = String(Date.now());
  const post = async (eventId) => {
    const res = await fetch(`${edge.url}/v1/events`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        events: [{ type: "purchase", store: "online-retail", user: `bench-${tag}`, productId: "85123A", eventId }],
      }),
    });
    if (res.status !== 202) throw new Error(`POST /v1/events: HTTP ${res.status} ${await res.text()}`);
    return res.json();
  };
  const visible = async (eventId, since) => {
    for (;;) {
      const rows = await d1.query("SELECT 1 FROM event_ids WHERE store = 'online-retail' AND event_id = ?", [eventId]);
      if (rows.length > 0) return performance.now() - since;
      await sleep(10);
    }
  };
  await post(`${tag}-warm`); // the isolate knows the stores
  const through = [];
  const buffered = [];
  for (let i = 0; i < N; i++) {
    const id = `${tag}-w${i}`;
    const body = await post(id);
    if (body.buffered !== 0) throw new Error("D1 is up: the write should go through");
    through.push(await visible(id, performance.now()));
  }
  for (let i = 0; i < N; i++) {
    const id = `${tag}-b${i}`;
    await d1.lock();
    const body = await post(id);
    const acceptedAt = performance.now();
    await d1.unlock();
    if (body.buffered !== 1) throw new Error(`expected the durable buffer to take it: ${JSON.stringify(body)}`);
    buffered.push(await visible(id, acceptedAt));
    await sleep(300); // the buffer is empty again before the next one
  }
  const row = (name, xs) =>
    `  ${name.padEnd(14)} n=${xs.length}  p50 ${pct(xs, 50).toFixed(0)} ms  p95 ${pct(xs, 95).toFixed(0)} ms  max ${Math.max(...xs).toFixed(0)} ms`;
  console.log("POST /v1/events → 202 → visible in D1 (wrangler dev, local D1):");
  console.log(row("write-through", through));
  console.log(row("buffered", buffered));
  d1.close();
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
