#!/usr/bin/env node
// The DevTools client that keeps a long-running `wrangler dev` from growing without bound.
//
// wrangler 4.86's inspector proxy turns on the runtime's Network domain and keeps every inspector message it
// receives (a few per request and subrequest) in a buffer that only a connected DevTools client drains. Under
// sustained load workerd's memory grows ~200 kB per request (the soak measured 253 → 922 MiB in 3 minutes) until
// the edge dies. This sink connects to the inspector port as the one DevTools client, turns the Network domain
// off and discards what it is sent; it reconnects when the worker reloads. `npm start` and the integration
// harness run it; to attach a real DevTools instead, start with VITRINE_DEVTOOLS=1 (npm start skips the sink).
//
//   node scripts/inspector-sink.mjs PORT        runs until killed
//   import { sinkInspector } from "./inspector-sink.mjs"; const stop = sinkInspector(port);
import path from "node:path";
import { pathToFileURL } from "node:url";
import WebSocket from "ws";

/**
 * Connects (and keeps reconnecting) to the inspector on 127.0.0.1:`port`; returns a function that stops it, with
 * `heapUsage()`: the worker isolate's V8 heap (`Runtime.getHeapUsage`: usedSize / totalSize bytes; not collected
 * first: workerd's inspector leaves `HeapProfiler.collectGarbage` unanswered) — what Workers' 128 MB per-isolate
 * limit counts, where the process's RSS also holds workerd itself and local D1's SQLite.
 */
export function sinkInspector(port, { retryMs = 1_000 } = {}) {
  let stopped = false;
  let socket = null;
  let timer = null;
  let nextId = 1_000;
  const pending = new Map();
  const connect = () => {
    if (stopped) return;
    // ws sends neither Origin nor User-Agent: the proxy admits such a client as a local tool (as it does VS Code)
    socket = new WebSocket(`ws://127.0.0.1:${port}/`);
    socket.on("open", () => socket.send(JSON.stringify({ id: 1, method: "Network.disable" })));
    socket.on("message", (data) => {
      if (!pending.size) return; // drained and dropped
      const msg = JSON.parse(String(data));
      const waiting = pending.get(msg.id);
      if (!waiting) return;
      pending.delete(msg.id);
      if (msg.error) waiting.reject(new Error(`${waiting.method}: ${msg.error.message}`));
      else waiting.resolve(msg.result);
    });
    socket.on("error", () => {}); // followed by close
    socket.on("close", () => {
      socket = null;
      if (!stopped) timer = setTimeout(connect, retryMs).unref();
    });
  };
  const call = (method, params = {}) =>
    new Promise((resolve, reject) => {
      if (socket?.readyState !== WebSocket.OPEN) return reject(new Error(`${method}: the inspector is not connected`));
      const id = nextId++;
      pending.set(id, { method, resolve, reject });
      socket.send(JSON.stringify({ id, method, params }));
      setTimeout(() => pending.delete(id) && reject(new Error(`${method}: no answer in 30 s`)), 30_000).unref();
    });
  connect();
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    socket?.terminate();
  };
  stop.heapUsage = () => /** @type {Promise<{ usedSize: number, totalSize: number }>} */ (call("Runtime.getHeapUsage"));
  return stop;
}

const isMain = process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url;
if (isMain) {
  const port = Number(process.argv[2]);
  if (!(port > 0 && port < 65536)) {
    console.error("usage: node scripts/inspector-sink.mjs PORT");
    process.exit(2);
  }
  const stop = sinkInspector(port);
  for (const sig of ["SIGINT", "SIGTERM"])
    process.once(sig, () => {
      stop();
      process.exit(0);
    });
}
