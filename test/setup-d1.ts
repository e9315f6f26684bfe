/** Applies the D1 migrations (read by test/vitest.config.ts) to the test database before each test file. */
import { applyD1Migrations, env } from "cloudflare:test";

await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
