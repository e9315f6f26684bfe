/// <reference types="@cloudflare/vitest-pool-workers/types" />
/** The test worker's env: the app's bindings plus what test/vitest.config.ts injects. */
import type { D1Migration } from "@cloudflare/vitest-pool-workers";
import type { Bindings } from "../edge/env";

declare global {
  namespace Cloudflare {
    interface Env extends Bindings {
      TEST_MIGRATIONS: D1Migration[];
    }
  }
}
