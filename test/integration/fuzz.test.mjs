// Hardening against load and bad input, on a real gpu-tier + `wrangler dev`:
//  - request collapsing: 32 concurrent identical new queries cost at most 2 GPU calls (the gpu-tier's own
//    /metrics counter) and none is degraded (edge/cache/response-cache.ts);
//  - both API descriptions (edge GET /openapi.json, gpu-tier GET /openapi.json) validate as OpenAPI 3.1;
//  - schemathesis (PyPI, pinned in gpu-tier/requirements.txt) fuzzes both servers with bounded examples and a fixed
//    seed: no 5xx, status codes, content types and bodies as described, 405 + Allow for other methods.
// POST /admin/drills/run is left out of the fuzzing (each call runs a ≈15 s drill); it is covered by the drill tests.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { makeTempDir, oneGpuVars, prepareDb, PYTHON, REPO, startEdge, startGpu, stopAll } from "./harness.mjs";

const execFileP = promisify(execFile);
const SCHEMATHESIS = path.join(REPO, ".vitrine/venv/bin/schemathesis");
const ADMIN_TOKEN = "fuzz-admin-token";
// CPU inference of the cross-encoder: generous (the 150 ms default is for a GPU endpoint)
const DEADLINE_MS = Number(process.env.VITRINE_IT_DEADLINE_MS ?? 30_000);
const EXAMPLES = Number(process.env.VITRINE_FUZZ_EXAMPLES ?? 10);
const CHECKS = [
  "not_a_server_error",
  "status_code_conformance",
  "content_type_conformance",
  "response_schema_conformance",
  "unsupported_method",
  "allow_header_conformance",
].join(",");

/** The gpu-tier's count of answered invocations (vitrine_gpu_requests_total{path=~".*invocations", status="200"}). */
async function gpuInvocations(gpuUrl) {
  const text = await (await fetch(`${gpuUrl}/metrics`)).text();
  let n = 0;
  for (const line of text.split("\n"))
    if (line.startsWith("vitrine_gpu_requests_total") && line.includes("invocations") && line.includes('status="200"'))
      n += Number(line.trim().split(/\s+/).pop());
  return n;
}

async function schemathesis(baseUrl, extra = []) {
  const args = [
    "run",
    `${baseUrl}/openapi.json`,
    "--url",
    baseUrl,
    "--checks",
    CHECKS,
    "--max-examples",
    String(EXAMPLES),
    "--seed",
    "1",
    "--workers",
    "1",
    "--phases",
    "examples,coverage,fuzzing",
    "--no-shrink",
    "--request-timeout",
    "60",
    ...extra,
  ];
  // cwd: a temp dir, so hypothesis' example database stays out of the repo
  try {
    const { stdout } = await execFileP(SCHEMATHESIS, args, {
      cwd: makeTempDir("vitrine-fuzz-"),
      timeout: 300_000,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, NO_COLOR: "1" },
    });
    return stdout;
  } catch (e) {
    assert.fail(
      `schemathesis found problems on ${baseUrl}:\n${String(e.stdout ?? "").slice(-6000)}\n${e.stderr ?? ""}`,
    );
  }
}

async function validateOpenApi(url) {
  const script = `
import json, sys, urllib.request
from openapi_spec_validator import validate
doc = json.load(urllib.request.urlopen(sys.argv[1]))
validate(doc)
print(doc["openapi"], len(doc["paths"]))`;
  const { stdout } = await execFileP(PYTHON, ["-c", script, url]);
  return stdout.trim();
}

describe("hardening: collapsing, API descriptions, fuzzing", { timeout: 900_000 }, () => {
  let gpu;
  let edge;

  before(async () => {
    const dir = await prepareDb();
    gpu = await startGpu();
    edge = await startEdge({
      persistTo: dir,
      // RATE_LIMITS off: the fuzzer's bursts would meet the login limiter; 429s are covered in workerd
      vars: oneGpuVars(gpu, DEADLINE_MS, { ADMIN_TOKEN, RATE_LIMITS: "off" }),
    });
  });

  after(async () => {
    await edge?.stop();
    await gpu?.stop();
    stopAll();
  });

  it("32 concurrent identical new queries cost at most 2 GPU calls, none degraded", async () => {
    const q = encodeURIComponent(`collapse ${Date.now() % 1_000_000} canvas tote bag`);
    const before = await gpuInvocations(gpu.url);
    const responses = await Promise.all(
      Array.from({ length: 32 }, () => fetch(`${edge.url}/v1/search?q=${q}&k=20&user=same`)),
    );
    const bodies = await Promise.all(responses.map((r) => r.json()));
    const calls = (await gpuInvocations(gpu.url)) - before;
    const outcomes = responses.map((r) => r.headers.get("x-vitrine-cache"));
    assert.ok(
      responses.every((r) => r.status === 200),
      `statuses: ${responses.map((r) => r.status)}`,
    );
    assert.ok(calls >= 1 && calls <= 2, `${calls} GPU calls for one cache key (outcomes: ${outcomes})`);
    assert.equal(bodies.filter((b) => b.degraded).length, 0);
    assert.equal(outcomes.filter((o) => o === "MISS").length, calls);
  });

  it("both API descriptions are valid OpenAPI 3.1", async () => {
    assert.match(await validateOpenApi(`${edge.url}/openapi.json`), /^3\.1\.0 \d+$/);
    assert.match(await validateOpenApi(`${gpu.url}/openapi.json`), /^3\.1\.0 \d+$/);
  });

  it("schemathesis finds no 5xx and no answer outside the gpu-tier's description", async () => {
    const out = await schemathesis(gpu.url);
    assert.match(out, /No issues found|passed/);
  });

  it("schemathesis finds no 5xx and no answer outside the edge's description", async () => {
    const out = await schemathesis(edge.url, [
      "--header",
      `Authorization: Bearer ${ADMIN_TOKEN}`,
      "--exclude-path",
      "/admin/drills/run",
    ]);
    assert.match(out, /passed/);
  });
});
