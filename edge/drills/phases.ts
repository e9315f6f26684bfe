/**
 * The two timed phases every probe-driven scenario shares (the GPU ones and the D1 one, edge/drills/scenarios.ts,
 * edge/drills/d1-scenario.ts): under the fault, probes until the fault is detected and the fallback served two more
 * (time to detect, time to fail over, judged against the targets); after it is lifted, fault-free probes until one is
 * served normally again (time to recover, judged against the RTO).
 */
import type { FaultSpec } from "./context";
import { type ProbeResult, sleep } from "./probe";
import type { DrillRun } from "./run";

export interface FaultPhase {
  fault: FaultSpec;
  /** the detection this probe saw (e.g. a breaker opening): when, and what to put on the timeline */
  detected: (p: ProbeResult) => { at: number; data: Record<string, unknown> } | undefined;
  /** the answer a probe must get while the fault is on (correct failover / degraded flags) */
  expected: (p: ProbeResult) => boolean;
  expectedLabel: string;
}

/** Probes under the fault (bounded by the targets and the budget); times detection and failover; their checks. */
export async function faultPhase(run: DrillRun, spec: FaultPhase): Promise<ProbeResult[]> {
  const { targets } = run.settings;
  const injectAt = Date.now();
  run.mark("fault_injected", { fault: spec.fault });
  const under: ProbeResult[] = [];
  let afterDetect = 0;
  const phaseEnd = injectAt + Math.max(targets.detectMs, targets.failoverMs) + 1_000;
  while (Date.now() < phaseEnd && run.left() > targets.rtoMs / 2) {
    const p = await run.probe("fault", spec.fault);
    under.push(p);
    if (run.timeToDetectMs === null) {
      const seen = spec.detected(p);
      if (seen) {
        run.timeToDetectMs = seen.at - injectAt;
        run.mark("detected", seen.data, seen.at);
      }
    } else {
      afterDetect += 1;
    }
    if (run.timeToFailoverMs === null && spec.expected(p)) {
      run.timeToFailoverMs = p.at + p.ms - injectAt;
      run.mark("failed_over", { via: spec.expectedLabel }, p.at + p.ms);
    }
    if (run.timeToDetectMs !== null && run.timeToFailoverMs !== null && afterDetect >= 2) break;
    await sleep(run.settings.probeGapMs);
  }
  run.check(
    "time_to_detect",
    run.timeToDetectMs !== null && run.timeToDetectMs <= targets.detectMs,
    `${run.timeToDetectMs ?? "never"} ms (target ≤ ${targets.detectMs})`,
  );
  run.check(
    "time_to_failover",
    run.timeToFailoverMs !== null && run.timeToFailoverMs <= targets.failoverMs,
    `${run.timeToFailoverMs ?? "never"} ms (target ≤ ${targets.failoverMs})`,
  );
  run.measurements.probesUnderFault = under.length;
  return under;
}

export interface RecoveryPhase {
  /** a probe served normally again */
  recovered: (p: ProbeResult) => boolean;
  /** what every probe during recovery must be: its check's name and test */
  acceptable: { check: string; ok: (p: ProbeResult) => boolean };
}

/** Lifts the fault: fault-free probes (same run: same drill breakers) until one is recovered; its checks. */
export async function recoveryPhase(run: DrillRun, spec: RecoveryPhase): Promise<ProbeResult[]> {
  const { targets } = run.settings;
  const liftAt = Date.now();
  run.mark("fault_lifted");
  const after: ProbeResult[] = [];
  while (Date.now() - liftAt < targets.rtoMs + 1_000 && run.left() > 0) {
    const p = await run.probe("recovery", {});
    after.push(p);
    if (spec.recovered(p)) {
      run.timeToRecoverMs = p.at + p.ms - liftAt;
      run.mark("recovered", {}, p.at + p.ms);
      break;
    }
    await sleep(run.settings.probeGapMs);
  }
  const ok = after.filter(spec.acceptable.ok).length;
  run.check(spec.acceptable.check, ok === after.length, `${ok}/${after.length} probes answered as expected`);
  run.check(
    "rto",
    run.timeToRecoverMs !== null && run.timeToRecoverMs <= targets.rtoMs,
    `${run.timeToRecoverMs ?? "not recovered"} ms (target ≤ ${targets.rtoMs})`,
  );
  run.measurements.probesDuringRecovery = after.length;
  return after;
}
