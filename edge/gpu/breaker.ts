/**
 * Circuit breaker for one GPU endpoint (per isolate).
 *
 * closed    → calls flow; it opens after `consecutiveFailures` failures in a row, or when the error rate over the
 *             last `windowMs` reaches `errorRate` with at least `minRequests` outcomes in the window.
 * open      → calls are refused until `coolDownMs` has passed since it opened.
 * half-open → one trial call at a time; a success closes the breaker, a failure re-opens it (fresh cool-down).
 *
 * The clock is injectable so the state machine is tested without sleeping.
 */
import type { BreakerConfig } from "../config";
export type BreakerState = "closed" | "open" | "half-open";

/** The thresholds: the GPU_BREAKER_* vars, parsed with their defaults by edge/config.ts. */
export type { BreakerConfig };

export interface BreakerTransition {
  breaker: string;
  from: BreakerState;
  to: BreakerState;
  at: number;
  reason: string;
}

export type TransitionListener = (t: BreakerTransition) => void;

interface Outcome {
  at: number;
  ok: boolean;
}

export class CircuitBreaker {
  private current: BreakerState = "closed";
  private failuresInRow = 0;
  private openedAt = 0;
  private trialInFlight = false;
  private outcomes: Outcome[] = [];

  constructor(
    readonly name: string,
    readonly config: BreakerConfig,
    private readonly now: () => number = Date.now,
    private readonly onTransition?: TransitionListener,
  ) {}

  /** The state as of now (an open breaker whose cool-down elapsed reads as half-open). */
  get state(): BreakerState {
    if (this.current === "open" && this.now() - this.openedAt >= this.config.coolDownMs) {
      this.transition("half-open", "cool-down elapsed");
    }
    return this.current;
  }

  /** Milliseconds until an open breaker lets a trial call through (0 when not open). */
  retryInMs(): number {
    if (this.state !== "open") return 0;
    return Math.max(0, this.openedAt + this.config.coolDownMs - this.now());
  }

  /**
   * Asks to make a call. Returns false when the breaker refuses it (open, or half-open with its trial in flight).
   * A caller that got true must report exactly one outcome with onSuccess / onFailure / onAbandon.
   */
  tryAcquire(): boolean {
    const s = this.state;
    if (s === "closed") return true;
    if (s === "open") return false;
    if (this.trialInFlight) return false;
    this.trialInFlight = true;
    return true;
  }

  onSuccess(): void {
    this.record(true);
    this.failuresInRow = 0;
    if (this.current === "half-open") {
      this.trialInFlight = false;
      this.outcomes = [];
      this.transition("closed", "trial call succeeded");
    }
  }

  onFailure(detail = "call failed"): void {
    this.record(false);
    this.failuresInRow += 1;
    if (this.current === "half-open") {
      this.trialInFlight = false;
      this.open(`trial call failed: ${detail}`);
      return;
    }
    if (this.current !== "closed") return;
    if (this.failuresInRow >= this.config.consecutiveFailures) {
      this.open(`${this.failuresInRow} consecutive failures (${detail})`);
      return;
    }
    const { total, failed } = this.windowCounts();
    if (total >= this.config.minRequests && failed / total >= this.config.errorRate) {
      this.open(`error rate ${(failed / total).toFixed(2)} over ${total} calls in ${this.config.windowMs} ms`);
    }
  }

  /** The call was cancelled for a reason that says nothing about the endpoint's health (e.g. a hedge lost). */
  onAbandon(): void {
    if (this.current === "half-open") this.trialInFlight = false;
  }

  snapshot(): { name: string; state: BreakerState; failuresInRow: number; window: { total: number; failed: number } } {
    return { name: this.name, state: this.state, failuresInRow: this.failuresInRow, window: this.windowCounts() };
  }

  private open(reason: string): void {
    this.openedAt = this.now();
    this.failuresInRow = 0;
    this.transition("open", reason);
  }

  private record(ok: boolean): void {
    const at = this.now();
    this.outcomes.push({ at, ok });
    this.prune(at);
  }

  private prune(at: number): void {
    const cutoff = at - this.config.windowMs;
    let drop = 0;
    while (drop < this.outcomes.length && this.outcomes[drop]!.at < cutoff) drop += 1;
    if (drop > 0) this.outcomes.splice(0, drop);
  }

  private windowCounts(): { total: number; failed: number } {
    this.prune(this.now());
    let failed = 0;
    for (const o of this.outcomes) if (!o.ok) failed += 1;
    return { total: this.outcomes.length, failed };
  }

  private transition(to: BreakerState, reason: string): void {
    const from = this.current;
    if (from === to) return;
    this.current = to;
    if (to !== "half-open") this.trialInFlight = false;
    this.onTransition?.({ breaker: this.name, from, to, at: this.now(), reason });
  }
}
