/** `npm run bench:light`: the workerd test config, pointed at test/bench-workerd (figures, not gates). */
import { defineConfig } from "vitest/config";
import base from "./vitest.config";

export default defineConfig(async (env) => {
  const resolved = await (typeof base === "function" ? base(env) : base);
  return {
    ...resolved,
    test: { ...resolved.test, include: ["test/bench-workerd/**/*.bench.test.ts"], setupFiles: [] },
  };
});
