/**
 * `npm run bench:edge`: vitest bench (Node, V8 like workerd) over the pure per-request code paths, with and
 * without metrics collection. Benchmarks print figures; they assert nothing.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export default defineConfig({
  root,
  test: {
    environment: "node",
    benchmark: { include: ["test/bench/**/*.bench.ts"] },
  },
});
