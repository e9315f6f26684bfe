/**
 * Alert rules on synthetic series written to the test D1 through the real flush path: SLO burn-rate and EWMA
 * anomaly alerts fire, stay quiet below threshold, and resolve; notifications carry state transitions.
 */
import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { Aggregator } from "../../edge/metrics/aggregate";
import { applyPayload } from "../../edge/metrics/flush";
import { anomalyConditions, applyConditions, listAlerts, sloConditions } from "../../edge/metrics/alerts";
import { evaluateBurnRates } from "../../edge/metrics/burn-rate";
import { detectAnomaly } from "../../edge/metrics/anomaly";
import { config } from "../../edge/config";

const cfg = { ...config(env).metrics, anomalyMinVolume: 50, anomalyZ: 4 };
const T0 = Date.UTC(2026, 2, 1, 0, 0, 0) / 1000;

/** Writes `minutes` minutes of traffic starting at `startS`: `n` requests/min, `bad` of them degraded. */
async function writeMinutes(
  startS: number,
  minutes: number,
  n: number,
  bad: (m: number) => number,
  gpuMs: (m: number) => number = () => 40,
): Promise<void> {
  for (let m = 0; m < minutes; m++) {
    const agg = new Aggregator();
    const at = (startS + m * 60) * 1000;
    const b = bad(m);
    for (let i = 0; i < n; i++)
      agg.addRequest(
        {
          route: "search",
          variant: "control",
          lightModel: "l",
          heavyModel: "h",
          colo: "TST",
          store: "esci",
          status: 200,
          cache: "MISS",
          degradedReason: i < b ? "gpu_timeout" : undefined,
          stages: { total: 60, gpu: gpuMs(m) },
        },
        at,
      );
    expect((await applyPayload(env.DB, agg.drain(at)!)).outcome).toBe("applied");
  }
}

beforeEach(async () => {
  await env.DB.exec(
    "DELETE FROM metrics_requests; DELETE FROM metrics_latency; DELETE FROM metrics_degraded; DELETE FROM alerts;",
  );
});

describe("burn-rate rule (pure)", () => {
  const w = (valid: number, bad: number) => ({ valid, bad });
  it("needs both windows above the factor", () => {
    const target = 0.999; // budget 0.1 %
    const fast = evaluateBurnRates(
      new Map([
        [3600, w(1000, 20)],
        [300, w(100, 2)],
      ]),
      target,
    );
    expect(fast[0]!.firing).toBe(true); // 20× on both
    const recovered = evaluateBurnRates(
      new Map([
        [3600, w(1000, 20)],
        [300, w(100, 0)],
      ]),
      target,
    );
    expect(recovered[0]!.firing).toBe(false);
    const slow = evaluateBurnRates(
      new Map([
        [3600, w(1000, 10)],
        [300, w(100, 1)],
      ]),
      target,
    );
    expect(slow[0]!.firing).toBe(false); // 10× < 14.4×
  });
});

describe("SLO burn-rate alerts on D1 rollups", () => {
  it("fires on a fast burn, stays quiet below threshold, resolves when the short window recovers", async () => {
    const target = { ...cfg, availabilityTarget: 0.995 };
    // 60 quiet minutes at 0.2 % bad (burn 0.4×): nothing fires
    await writeMinutes(T0, 60, 500, () => 1);
    let now = T0 + 60 * 60 - 1;
    let t = await applyConditions(env.DB, await sloConditions(env.DB, target, now), now);
    expect(t.filter((x) => x.to === "firing")).toEqual([]);
    // 10 minutes at 60 % degraded: 1h burn ≈ 20× and 5m burn 120× → the fast page fires
    await writeMinutes(T0 + 3600, 10, 500, () => 300);
    now = T0 + 70 * 60 - 1;
    t = await applyConditions(env.DB, await sloConditions(env.DB, target, now), now);
    expect(t).toContainEqual({ id: "slo:availability:1h-5m", from: null, to: "firing", notify: true });
    const firing = await listAlerts(env.DB, "firing");
    expect(firing.map((a) => a.id)).toContain("slo:availability:1h-5m");
    // 10 clean minutes: the 5m window is clean again → resolves (once)
    await writeMinutes(T0 + 70 * 60, 10, 500, () => 0);
    now = T0 + 80 * 60 - 1;
    t = await applyConditions(env.DB, await sloConditions(env.DB, target, now), now);
    expect(t).toContainEqual({ id: "slo:availability:1h-5m", from: "firing", to: "resolved", notify: true });
    t = await applyConditions(env.DB, await sloConditions(env.DB, target, now + 60), now + 60);
    expect(t.find((x) => x.id === "slo:availability:1h-5m")).toBeUndefined();
  });
});

describe("anomaly alerts (EWMA + z-score)", () => {
  it("pure detector: quiet on noise, fires on a spike, ignores low volume", () => {
    const hist = Array.from({ length: 30 }, (_, i) => ({ value: 0.02 + (i % 3) * 0.002, volume: 100 }));
    const o = { alpha: 0.1, zThreshold: 4, minVolume: 50, minHistory: 5, minStd: 0.01 };
    expect(detectAnomaly(hist, { value: 0.025, volume: 100 }, o).firing).toBe(false);
    expect(detectAnomaly(hist, { value: 0.3, volume: 100 }, o).firing).toBe(true);
    expect(detectAnomaly(hist, { value: 0.3, volume: 10 }, o).firing).toBe(false);
  });

  it("fires on a degraded-rate and GPU p99 spike in D1 data, then resolves", async () => {
    const spikeAt = 60;
    await writeMinutes(
      T0,
      61,
      100,
      (m) => (m === spikeAt ? 40 : 2 + (m % 2)),
      (m) => (m === spikeAt ? 900 : 40 + (m % 5)),
    );
    // the newest complete minute is the spike
    let now = T0 + 61 * 60 + 5;
    let t = await applyConditions(env.DB, await anomalyConditions(env.DB, cfg, now), now);
    expect(t.map((x) => `${x.id}:${x.to}`).sort()).toEqual(["anomaly:degraded_rate:firing", "anomaly:gpu_p99:firing"]);
    // error rate stayed at zero: quiet
    expect((await listAlerts(env.DB)).find((a) => a.id === "anomaly:error_rate")).toBeUndefined();
    // next minute normal again → both resolve
    await writeMinutes(T0 + 61 * 60, 1, 100, () => 2);
    now += 60;
    t = await applyConditions(env.DB, await anomalyConditions(env.DB, cfg, now), now);
    expect(t.map((x) => `${x.id}:${x.to}`).sort()).toEqual([
      "anomaly:degraded_rate:resolved",
      "anomaly:gpu_p99:resolved",
    ]);
  });

  it("silenced alerts change state without notifying", async () => {
    await writeMinutes(T0, 61, 100, (m) => (m === 60 ? 50 : 2));
    const now = T0 + 61 * 60 + 5;
    await env.DB.prepare(
      "INSERT INTO alerts (id, rule, kind, severity, state, summary, updated_at, silenced_until, labels) VALUES ('anomaly:degraded_rate','anomaly_degraded_rate','anomaly','ticket','resolved','', ?, ?, '{}')",
    )
      .bind(now - 600, now + 3600)
      .run();
    const t = await applyConditions(env.DB, await anomalyConditions(env.DB, cfg, now), now);
    expect(t).toContainEqual({ id: "anomaly:degraded_rate", from: "resolved", to: "firing", notify: false });
  });
});
