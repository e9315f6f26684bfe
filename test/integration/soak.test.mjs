// The chaos soak's short version (scripts/soak.mjs, `npm run soak -- --minutes N` for the long one): ≈ 1 minute of
// mixed load while gpu-tiers are killed, restarted and stalled and a metrics flush to D1 fails, then the
// reconciliation against the D1 rollups must find nothing lost, nothing double counted, no unexpected non-2xx and
// no degraded answer while a GPU endpoint was up. VITRINE_SOAK_TEST_MINUTES overrides the length.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { runSoak } from "../../scripts/soak.mjs";
import { stopAll } from "./harness.mjs";

const MINUTES = Number(process.env.VITRINE_SOAK_TEST_MINUTES ?? 1);

describe("chaos soak (short)", { timeout: 900_000 }, () => {
  after(() => stopAll());

  it("reconciles: every request and event counted once, faults never cost an answer", async () => {
    const report = await runSoak({ minutes: MINUTES });
    assert.deepEqual(report.mismatches, []);
    assert.ok(report.sent > 0 && Object.keys(report.requests).includes("search"));
    assert.ok(report.degraded.total > 0, "both regions down must have degraded some answers");
    assert.equal(report.degraded.outsideWindows, 0);
  });
});
