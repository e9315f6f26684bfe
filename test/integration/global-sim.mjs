// The global-traffic simulation shared by `npm run bench:global` (scripts/bench-global.mjs) and
// test/integration/global.test.mjs: one local gpu-tier per simulated AWS region, each behind an HTTP delay proxy
// on loopback that holds every request and every answer for half the round trip between the caller's edge location
// and the region. The caller's colo is read from the SageMaker CustomAttributes header the edge sends
// (`colo=<IATA>`); the round trip is the edge's own configured table (edge/gpu/rtt-table.ts: published
// inter-region pings + a fibre estimate to the colo's home region), bundled here with esbuild so there is one table.
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { freePort, REPO, startGpu } from "./harness.mjs";

export const REGIONS = ["us-east-1", "eu-central-1", "ap-southeast-2"];
export const COLOS = ["IAD", "FRA", "SYD", "GRU", "NRT"];

/** The edge's rtt-table module (COLO_COORDS, configuredRtt, …), compiled from TypeScript. */
export async function rttTable() {
  const out = await build({
    entryPoints: [path.join(REPO, "edge/gpu/rtt-table.ts")],
    bundle: true,
    format: "esm",
    platform: "neutral",
    write: false,
  });
  const code = out.outputFiles[0].text;
  return import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`);
}

/** The simulated round trip (ms) from a colo to a region (0 for a caller with no colo, e.g. /ping). */
export function rttOf(table, colo, region) {
  const at = table.COLO_COORDS[colo];
  return at ? table.configuredRtt(at, region) : 0;
}

function colo(req) {
  const attrs = String(req.headers["x-amzn-sagemaker-custom-attributes"] ?? "");
  return /(?:^|[,;]\s*)colo=([A-Za-z]{3})/.exec(attrs)?.[1]?.toUpperCase() ?? "";
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * An HTTP proxy on a free loopback port to `target` (a gpu-tier URL) that adds rtt(colo)/2 before forwarding and
 * rtt(colo)/2 before answering (each × `scale`: a time-dilated simulation, see scripts/bench-global.mjs). An unreachable target answers 502 (after the delays: the region's load balancer
 * is up, its model servers are not). Counts forwarded calls per colo.
 */
export async function startDelayProxy({ target, region, table, scale = 1 }) {
  const port = await freePort();
  const calls = new Map();
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const server = http.createServer(async (req, res) => {
    const c = colo(req);
    const half = (rttOf(table, c, region) * scale) / 2;
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    await sleep(half);
    calls.set(c, (calls.get(c) ?? 0) + 1);
    const headers = { ...req.headers, host: upstream.host };
    const out = http.request(
      { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, agent },
      (up) => {
        const body = [];
        up.on("data", (d) => body.push(d));
        up.on("end", async () => {
          await sleep(half);
          if (res.destroyed) return;
          res.writeHead(up.statusCode ?? 502, up.headers);
          res.end(Buffer.concat(body));
        });
      },
    );
    out.on("error", async (err) => {
      await sleep(half);
      if (res.destroyed) return;
      res.writeHead(502, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "bad_gateway", message: `${region}: ${err.message}` }));
    });
    req.on("close", () => {
      if (!res.writableEnded) out.destroy();
    });
    out.end(Buffer.concat(chunks));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    region,
    port,
    url: `http://127.0.0.1:${port}`,
    calls,
    stop: () =>
      new Promise((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Waits until the tier's background precompute of the catalogue's product term representations for `model` has
 * ended (vitrine_gpu_term_cache_precompute_finished on its /metrics, README "GPU-tier performance"): until then the
 * precompute competes for the cores and a request's products miss the cache. Returns {done, total, seconds}.
 */
export async function precomputed(url, model, timeoutMs = 900_000) {
  const t0 = performance.now();
  const gauge = (text, suffix) =>
    Number(
      new RegExp(`^vitrine_gpu_term_cache_precompute_${suffix}\\{model="${model}"\\} (\\S+)$`, "m").exec(text)?.[1],
    );
  for (;;) {
    const text = await (await fetch(`${url}/metrics`)).text();
    if (gauge(text, "finished") === 1 || performance.now() - t0 > timeoutMs)
      return { done: gauge(text, "done"), total: gauge(text, "total"), seconds: (performance.now() - t0) / 1000 };
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/**
 * Three regions: a gpu-tier and its delay proxy each (one torch thread per tier, so three tiers on a small machine do
 * not fight over its cores). `shared`: one gpu-tier behind the three proxies, for a machine too small for three.
 */
export async function startRegions({ table, regions = REGIONS, gpuEnv = {}, shared = false, scale = 1 } = {}) {
  const out = [];
  const env = { OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1", ...gpuEnv };
  const one = shared ? await startGpu({ env }) : undefined;
  for (const region of regions) {
    const gpu = one ?? (await startGpu({ env }));
    const proxy = await startDelayProxy({ target: gpu.url, region, table, scale });
    out.push({ region, gpu, proxy });
  }
  return out;
}

/** The GPU_REGIONS var for the edge: each region's SageMaker runtime URL is its delay proxy. */
export function regionsVar(regions) {
  return JSON.stringify(regions.map((r) => ({ region: r.region, endpoint: "vitrine-ranker", url: r.proxy.url })));
}

/** Users with the longest histories in the served recs-light version (recommend traffic that the heavy model ranks). */
export function recsUsers(n) {
  const reg = path.join(REPO, ".vitrine/registry");
  const version = JSON.parse(readFileSync(path.join(reg, "current.json"), "utf8"))["recs-light"];
  const tables = JSON.parse(readFileSync(path.join(reg, "recs-light", version, "tables.json"), "utf8"));
  return Object.entries(tables.history)
    .sort((a, b) => b[1].length - a[1].length)
    .slice(0, n)
    .map(([u]) => u);
}

/**
 * One request from a simulated colo (the edge must run with GPU_TRUST_COLO_HEADER=on): status, end-to-end ms, the
 * GPU stage's ms (Server-Timing), whether it was heavy-ranked, the degraded reason and the region that answered.
 */
export async function askFrom(edge, colo, pathAndQuery) {
  const t0 = performance.now();
  const res = await fetch(`${edge.url}${pathAndQuery}`, { headers: { "x-vitrine-colo": colo } });
  const text = await res.text();
  const ms = performance.now() - t0;
  let body = {};
  try {
    body = JSON.parse(text);
  } catch {
    /* a non-JSON answer is counted by its status */
  }
  const gpu = /(?:^|,\s*)gpu;dur=([\d.]+)/.exec(res.headers.get("server-timing") ?? "");
  return {
    colo,
    status: res.status,
    ms,
    gpuMs: gpu ? Number(gpu[1]) : NaN,
    heavy: res.status === 200 && body.degraded === false,
    reason: body.degradedReason ?? "",
    region: res.headers.get("x-vitrine-gpu-region") ?? "",
    items: Array.isArray(body.items) ? body.items.length : 0,
  };
}

/** Runs `tasks` (functions returning promises) with at most `concurrency` in flight; results in task order. */
export async function pool(tasks, concurrency) {
  const out = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tasks.length) }, worker));
  return out;
}
