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

/** Connects (and keeps reconnecting) to the inspector on 127.0.0.1:`port`; returns a function that stops it. */
export function sinkInspector(port, { retryMs = 1_000 } = {}) {
  let stopped = false;
  let socket = null;
  let timer = null;
  const connect = () => {
    if (stopped) return;
    // ws sends neither Origin nor User-Agent: the proxy admits such a client as a local tool (as it does VS Code)
    socket = new WebSocket(`ws://127.0.0.1:${port}/`);
    socket.on("open", () => socket.send(JSON.stringify({ id: 1, method: "Network.disable" })));
    socket.on("message", () => {}); // drained and dropped
    socket.on("error", () => {}); // followed by close
    socket.on("close", () => {
      socket = null;
      if (!stopped) timer = setTimeout(connect, retryMs).unref();
    });
  };
  connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    socket?.terminate();
  };
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
