/**
 * Vitest in workerd (@cloudflare/vitest-pool-workers, vitest 4 plugin API). wrangler.toml provides the bindings
 * and module rules; the D1 migrations are read here (Node side) and applied in test/setup-d1.ts (workerd side).
 * GPU_ENDPOINT_URL points at a closed loopback port (discard, 9) so the GPU tier is unreachable and the degraded
 * path is what the unit tests see; VITRINE_TEST_GPU_URL overrides it for a manual check against a running gpu-tier
 * (the degraded-path assertions then fail by design; the happy path is tested in test/integration/). The rate
 * limiters keep wrangler.toml's bindings and periods; the API budget is lowered to 100 per 10 s per client here.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(root, "migrations"));
  return {
    root,
    plugins: [
      cloudflareTest({
        main: path.join(root, "edge/index.ts"),
        wrangler: { configPath: path.join(root, "wrangler.toml") },
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
            GPU_ENDPOINT_URL: process.env.VITRINE_TEST_GPU_URL ?? "http://127.0.0.1:9",
            GPU_SECONDARY_ENDPOINT_URL: "http://127.0.0.1:9",
            AWS_ACCESS_KEY_ID: "test-access-key",
            AWS_SECRET_ACCESS_KEY: "test-secret-key",
            ADMIN_TOKEN: "test-admin-token",
            DRILL_SECRET: "test-drill-secret",
            ALLOWED_ORIGINS: "https://shop.example.com, http://localhost:3000",
            // the durable events buffer never drains by alarm on its own here: a test runs the alarm when it means to
            // (runDurableObjectAlarm), so what it holds does not depend on the machine's speed
            EVENTS_RETRY_FIRST_MS: "300000",
          },
          // the real rate-limiting bindings of wrangler.toml, with a small API budget so a test can exhaust it quickly
          ratelimits: {
            API_RATE_LIMITER: { simple: { limit: 100, period: 10 } },
            LOGIN_RATE_LIMITER: { simple: { limit: 10, period: 60 } },
          },
        },
      }),
    ],
    test: {
      include: ["test/edge/**/*.test.ts"],
      // the pool does not run wrangler.toml's [build]: bundle the dashboard script (edge/generated/dashboard.js) here
      globalSetup: [path.join(root, "scripts/build-dashboard.mjs")],
      setupFiles: [path.join(root, "test/setup-d1.ts")],
      testTimeout: 60_000,
      hookTimeout: 60_000,
    },
  };
});
