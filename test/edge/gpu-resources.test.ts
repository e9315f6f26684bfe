/**
 * The gpu-tier's resources on the edge, in workerd on the real D1: the every-minute job reads a tier's Prometheus
 * /metrics (an HTTP stand-in answering what the gpu-tier's /metrics exposes: process collector + host memory), keeps
 * the minute's figures per endpoint slot, and the gpu_memory alert goes pending then fires above 90 % host memory in
 * use and resolves below; GET /admin/gpu-resources serves the rows to the dashboard.
 */
import { createExecutionContext, env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { app } from "../../edge/app";
import { config } from "../../edge/config";
import type { Bindings } from "../../edge/env";
import { evaluateAlerts, listAlerts } from "../../edge/metrics/alerts";
import { gpuMemoryConditions, parseResources, scrapeGpuResources } from "../../edge/metrics/gpu-resources";

const TIER = "http://gpu-tier.resources.test";
const tierEnv: Bindings = { ...env, GPU_ENDPOINT_URL: TIER, GPU_SECONDARY_ENDPOINT_URL: "" };
const GIB = 2 ** 30;

/** What the gpu-tier's /metrics says (vitrine_gpu/server/prom.py + resources.py), with `available` of 16 GiB free. */
const exposition = (available: number) =>
  [
    "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.",
    "# TYPE process_cpu_seconds_total counter",
    "process_cpu_seconds_total 812.5",
    "process_resident_memory_bytes 3.221225472e+09",
    "process_open_fds 57.0",
    'vitrine_gpu_requests_total{route="/invocations",status="200"} 12.0',
    `vitrine_gpu_host_memory_available_bytes ${available}`,
    `vitrine_gpu_host_memory_total_bytes ${16 * GIB}`,
  ].join("\n");

let available = 8 * GIB;
const asked: string[] = [];

beforeEach(async () => {
  asked.length = 0;
  vi.stubGlobal("fetch", async (input: RequestInfo | URL) => {
    const url = String(input instanceof Request ? input.url : input);
    asked.push(url);
    return url === `${TIER}/metrics` ? new Response(exposition(available)) : new Response("no", { status: 404 });
  });
  await env.DB.exec("DELETE FROM gpu_resources; DELETE FROM alerts;");
});
afterEach(() => vi.unstubAllGlobals());

async function scrape(atS: number): Promise<void> {
  await scrapeGpuResources(tierEnv, createExecutionContext(), atS * 1000);
}

describe("gpu-tier resources", () => {
  it("parses the process collector and host memory samples", () => {
    expect(parseResources(exposition(4 * GIB))).toEqual({
      cpuSeconds: 812.5,
      rssBytes: 3 * GIB,
      openFds: 57,
      hostAvailableBytes: 4 * GIB,
      hostTotalBytes: 16 * GIB,
    });
    expect(parseResources("process_open_fds 3\n").hostTotalBytes).toBeNull();
  });

  it("scrapes each slot with a URL once a minute; memory above 90 % goes pending, then fires, then resolves", async () => {
    const t0 = Math.floor(Date.now() / 1000);
    const cfg = config(tierEnv).metrics;
    await scrape(t0);
    expect(asked).toEqual([`${TIER}/metrics`]); // the secondary slot has no URL (a SageMaker endpoint): not scraped
    const [row] = await gpuMemoryConditions(env.DB, cfg, t0);
    expect(row).toMatchObject({ id: "gpu_memory:primary", active: false, value: 0.5 });

    available = 1 * GIB; // 93.75 % in use
    await scrape(t0 + 60);
    await evaluateAlerts(env.DB, cfg, t0 + 60);
    const state = async () => (await listAlerts(env.DB)).find((a) => a.id === "gpu_memory:primary");
    expect(await state()).toMatchObject({ state: "pending", severity: "ticket" });
    await scrape(t0 + 180);
    await evaluateAlerts(env.DB, cfg, t0 + 180);
    expect(await state()).toMatchObject({ state: "firing" });
    expect((await state())!.summary).toContain("93.8% in use");

    available = 6 * GIB;
    await scrape(t0 + 240);
    await evaluateAlerts(env.DB, cfg, t0 + 240);
    expect(await state()).toMatchObject({ state: "resolved" });

    const res = await app.fetch(
      new Request(`http://vitrine.test/admin/gpu-resources?from=${t0 - 60}&to=${t0 + 300}`, {
        headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
      }),
      tierEnv,
      createExecutionContext(),
    );
    expect(res.status).toBe(200);
    const body = await res.json<{ rows: Array<{ endpoint: string; memoryUsed: number; openFds: number }> }>();
    expect(body.rows.map((r) => [r.endpoint, r.memoryUsed])).toEqual([
      ["primary", 0.5],
      ["primary", 0.9375],
      ["primary", 0.9375],
      ["primary", 0.625],
    ]);
    expect(body.rows[0]!.openFds).toBe(57);
    const bad = await app.fetch(
      new Request(`http://vitrine.test/admin/gpu-resources?from=abc`, {
        headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
      }),
      tierEnv,
      createExecutionContext(),
    );
    expect(bad.status).toBe(400);
  });

  it("a tier that does not answer leaves no row (and no alert)", async () => {
    const t0 = Math.floor(Date.now() / 1000);
    await scrapeGpuResources(
      { ...tierEnv, GPU_ENDPOINT_URL: "http://gpu-tier.down.test" },
      createExecutionContext(),
      t0 * 1000,
    );
    expect(await gpuMemoryConditions(env.DB, config(tierEnv).metrics, t0)).toEqual([]);
  });
});
