// The chaos soak's short version (scripts/soak.mjs, `npm run soak -- --minutes N` for the long one): ≈ 1 minute of
// mixed load while gpu-tiers are killed, restarted and stalled, a metrics flush to D1 fails and the D1 file is held
// under an exclusive lock for a few seconds, then the reconciliation against the D1 rollups must find nothing lost,
// nothing double counted (events accepted == events in D1), no unexpected non-2xx and no degraded answer while a GPU
// endpoint was up. VITRINE_SOAK_TEST_MINUTES overrides the length.
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
    assert.ok(report.d1LockedMs, "the D1 phase ran");
    assert.equal(report.eventsDurable.inD1, report.eventsDurable.accepted);
  });
});
