/// <reference types="@cloudflare/vitest-pool-workers/types" />
/**
 * The test worker's env: the app's generated bindings (worker-configuration.d.ts), its secrets and tunable vars
 * (edge/env.ts, edge/config.ts), plus what test/vitest.config.ts injects.
 */
import type { D1Migration } from "@cloudflare/vitest-pool-workers";
import type { TunableVars } from "../edge/config";
import type { Secrets } from "../edge/env";

declare global {
  namespace Cloudflare {
    interface Env extends Secrets, TunableVars {
      TEST_MIGRATIONS: D1Migration[];
    }
  }
}
