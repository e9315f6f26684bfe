/**
 * Failover across GPU endpoints under one deadline budget.
 *
 * Endpoints are tried in order (primary, then secondary). An endpoint whose breaker refuses is skipped. Every attempt
 * gets what is left of the budget as its timeout, so the whole call settles by the deadline whatever the endpoints
 * do. A failed or timed-out attempt moves on to the next endpoint while budget remains. With a hedge delay, the next
 * endpoint is also started when the current attempt is still pending after that delay (only within budget); the
 * first success wins and the losers are cancelled. Each call answers a typed GpuOutcome (edge/gpu/outcome.ts), which
 * alone decides what the endpoint's breaker learns and what the attempt is reported as.
 *
 * With a round-trip estimate per endpoint (`rttMs`, edge/gpu/rtt.ts) the budget is split into network and compute:
 * an endpoint is started only when what is left covers its round trip plus `minComputeMs`, and it is sent the compute
 * budget (what is left minus its round trip) as the request's deadline, so the GPU tier's admission control does not
 * start work whose answer would arrive after the edge stopped waiting. When every endpoint is skipped so, the call
 * answers `out_of_reach` at once.
 */
import type { CircuitBreaker } from "./breaker";
import type { GpuEndpoint } from "./endpoints";
import {
  attemptOutcome,
  breakerVerdict,
  deadlineExceeded,
  describeOutcome,
  failureReason,
  outcomeOfError,
  type AttemptOutcome,
  type GpuOutcome,
} from "./outcome";
import type { GpuCall, HeavyRankRequest, HeavyRankResult, SkipReason } from "./types";

export type { GpuCall } from "./types";

export interface AttemptEvent {
  endpoint: GpuEndpoint;
  outcome: AttemptOutcome;
  ms: number;
  hedge: boolean;
  detail?: string;
  /** the compute time the endpoint reported for a successful call (ms) */
  computeMs?: number;
}

export interface FailoverDeps {
  endpoints: GpuEndpoint[];
  breakerFor: (endpoint: GpuEndpoint) => CircuitBreaker;
  call: GpuCall;
  now?: () => number;
  /** start the next endpoint when the current attempt is still pending after this many ms (undefined = no hedging) */
  hedgeAfterMs?: (endpoint: GpuEndpoint) => number | undefined;
  onAttempt?: (e: AttemptEvent) => void;
  onSkip?: (endpoint: GpuEndpoint, reason: SkipReason) => void;
  /** the estimated round trip to the endpoint (ms); undefined = unknown (no reach check, the whole budget is sent) */
  rttMs?: (endpoint: GpuEndpoint) => number | undefined;
  /** an endpoint is worth starting when the budget left covers its round trip plus this (with rttMs) */
  minComputeMs?: number;
}

/** an attempt needs at least this much budget to be worth starting */
export const MIN_ATTEMPT_MS = 5;

interface Running {
  endpoint: GpuEndpoint;
  breaker: CircuitBreaker;
  controller: AbortController;
  startedAt: number;
  hedge: boolean;
  promise: Promise<{ run: Running; outcome: GpuOutcome }>;
}

export async function rankWithFailover(
  deps: FailoverDeps,
  req: HeavyRankRequest,
  deadlineMs: number,
): Promise<HeavyRankResult> {
  const now = deps.now ?? Date.now;
  const start = now();
  const deadline = start + Math.max(0, deadlineMs);
  const remaining = (): number => deadline - now();
  let next = 0;
  let attempts = 0;
  let skippedOpen = 0;
  let skippedFar = 0;
  let lastFailure: { reason: ReturnType<typeof failureReason>; detail: string } | undefined;
  const running = new Set<Running>();

  const launch = (hedge: boolean): boolean => {
    while (next < deps.endpoints.length) {
      const endpoint = deps.endpoints[next++]!;
      const breaker = deps.breakerFor(endpoint);
      if (remaining() < MIN_ATTEMPT_MS) {
        deps.onSkip?.(endpoint, "no_budget");
        continue;
      }
      const rtt = deps.rttMs?.(endpoint);
      if (rtt !== undefined && remaining() < rtt + (deps.minComputeMs ?? MIN_ATTEMPT_MS)) {
        skippedFar += 1;
        deps.onSkip?.(endpoint, "out_of_reach");
        continue;
      }
      if (!breaker.tryAcquire()) {
        skippedOpen += 1;
        deps.onSkip?.(endpoint, "circuit_open");
        continue;
      }
      attempts += 1;
      const controller = new AbortController();
      const startedAt = now();
      const run = { endpoint, breaker, controller, startedAt, hedge } as Running;
      run.promise = new Promise((resolve) => {
        const budget = Math.max(0, deadline - startedAt);
        const timer = setTimeout(() => {
          controller.abort(deadlineExceeded());
          resolve({ run, outcome: outcomeOfError(controller.signal.reason, controller.signal) });
        }, budget);
        // a call answers an outcome; one that rejects anyway is classified by the same rule
        deps
          .call(endpoint, { ...req, deadlineMs: rtt === undefined ? budget : budget - rtt }, controller.signal)
          .catch((err: unknown) => outcomeOfError(err, controller.signal))
          .then((outcome) => {
            clearTimeout(timer);
            resolve({ run, outcome });
          });
      });
      running.add(run);
      return true;
    }
    return false;
  };

  const cancelOthers = (winner: Running | undefined): void => {
    for (const r of running) {
      if (r === winner) continue;
      r.controller.abort(new Error("cancelled: another endpoint answered"));
      r.breaker.onAbandon();
      deps.onAttempt?.({ endpoint: r.endpoint, outcome: "cancelled", ms: now() - r.startedAt, hedge: r.hedge });
    }
    running.clear();
  };

  launch(false);
  while (running.size > 0) {
    const current = [...running];
    const hedgeDelay =
      next < deps.endpoints.length && running.size === 1 ? deps.hedgeAfterMs?.(current[0]!.endpoint) : undefined;
    let hedgeTimer: ReturnType<typeof setTimeout> | undefined;
    const races: Promise<{ run?: Running; outcome?: GpuOutcome; hedgeNow?: true }>[] = current.map((r) => r.promise);
    if (hedgeDelay !== undefined) {
      const wait = Math.max(0, current[0]!.startedAt + hedgeDelay - now());
      if (wait < remaining() - MIN_ATTEMPT_MS) {
        races.push(new Promise((resolve) => (hedgeTimer = setTimeout(() => resolve({ hedgeNow: true }), wait))));
      }
    }
    const settled = await Promise.race(races);
    if (hedgeTimer !== undefined) clearTimeout(hedgeTimer);
    if (settled.hedgeNow) {
      launch(true);
      continue;
    }
    const run = settled.run!;
    const outcome = settled.outcome!;
    running.delete(run);
    const ms = now() - run.startedAt;
    if (outcome.kind === "ok") {
      run.breaker.onSuccess();
      deps.onAttempt?.({
        endpoint: run.endpoint,
        outcome: "ok",
        ms,
        hedge: run.hedge,
        ...(outcome.computeMs !== undefined ? { computeMs: outcome.computeMs } : {}),
      });
      cancelOthers(run);
      return {
        ok: true,
        scores: outcome.scores,
        model: outcome.model,
        endpoint: run.endpoint.id,
        region: run.endpoint.region,
        ms: now() - start,
        attempts,
      };
    }
    const attempt = attemptOutcome(outcome);
    const detail = describeOutcome(outcome);
    const verdict = breakerVerdict(attempt);
    if (verdict === "success")
      run.breaker.onSuccess(); // the endpoint answered: healthy, the request was not
    else if (verdict === "abandon") run.breaker.onAbandon();
    else run.breaker.onFailure(`${attempt}: ${detail}`);
    deps.onAttempt?.({ endpoint: run.endpoint, outcome: attempt, ms, hedge: run.hedge, detail });
    lastFailure = { reason: failureReason(outcome), detail };
    if (running.size === 0) launch(false);
  }

  const ms = now() - start;
  if (lastFailure) return { ok: false, reason: lastFailure.reason, ms, attempts, detail: lastFailure.detail };
  // an open breaker is the cause when one skipped a region (the nearer ones are down); else no region was near enough
  if (skippedOpen > 0)
    return { ok: false, reason: "circuit_open", ms, attempts, detail: "every endpoint in reach has its breaker open" };
  if (skippedFar > 0)
    return {
      ok: false,
      reason: "out_of_reach",
      ms,
      attempts,
      detail: `no region's estimated round trip leaves compute time in ${deadlineMs} ms`,
    };
  return { ok: false, reason: "no_budget", ms, attempts, detail: `deadline ${deadlineMs} ms left no time for a call` };
}

/** Latencies of recent successful calls per endpoint, for the hedge delay percentile. */
export class LatencyTracker {
  private readonly samples = new Map<string, number[]>();
  constructor(
    private readonly size = 200,
    private readonly minSamples = 20,
  ) {}

  add(endpointId: string, ms: number): void {
    let list = this.samples.get(endpointId);
    if (!list) this.samples.set(endpointId, (list = []));
    list.push(ms);
    if (list.length > this.size) list.shift();
  }

  /** The p-th percentile (0..100) of the recent latencies, or undefined with too few samples. */
  percentile(endpointId: string, p: number): number | undefined {
    const list = this.samples.get(endpointId);
    if (!list || list.length < this.minSamples) return undefined;
    const sorted = [...list].sort((a, b) => a - b);
    const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return sorted[idx];
  }
}
