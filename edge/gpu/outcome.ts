/**
 * What one call to one GPU endpoint came to — a typed value produced once, by the SageMaker call
 * (edge/gpu/sagemaker.ts, or a scope's wrapper around it), and consumed by the failover loop and its breakers
 * (edge/gpu/resilient.ts). The HTTP status is a field; nothing re-reads it from a message.
 */
export type GpuOutcome =
  | {
      kind: "ok";
      scores: number[];
      model: string;
      /** compute time the tier reported (timing_ms.total) */ computeMs?: number;
    }
  /** the endpoint answered with an error status (other than 503/429) */
  | { kind: "http"; status: number; detail: string }
  /**
   * the endpoint refused fast (503/429): its admission control shed the request because it could not answer within
   * the deadline we sent (CONTRACTS.md C4), or it is otherwise unable to take work now — a fast failure, like a
   * refused connection: the breaker counts it, the next endpoint is tried at once
   */
  | { kind: "overloaded"; status: number; detail: string }
  /** the endpoint answered 2xx, but not with one finite score per document */
  | { kind: "malformed"; detail: string }
  /** the deadline cut the call short */
  | { kind: "timeout"; detail: string }
  /** no answer: connection refused or reset, DNS */
  | { kind: "network"; detail: string }
  /** the caller cancelled the call for another reason (another endpoint answered first) */
  | { kind: "aborted"; detail: string };

export type GpuFailure = Exclude<GpuOutcome, { kind: "ok" }>;

/** How an attempt is reported (scope events, breaker logs); derived from the outcome by attemptOutcome only. */
export type AttemptOutcome = "ok" | "timeout" | "unreachable" | "overloaded" | "error" | "client_error" | "cancelled";

/** The abort reason of a deadline: a TimeoutError, as AbortSignal.timeout uses, so outcomeOfError reads a timeout. */
export function deadlineExceeded(): DOMException {
  return new DOMException("deadline exceeded", "TimeoutError");
}

const nameOf = (x: unknown): string => (x as { name?: unknown } | null)?.name?.toString() ?? "";

/**
 * The outcome of a call that rejected: aborted by our signal (a deadline → timeout; anything else → aborted), a
 * timeout of the SDK itself, an AWS SDK service error (its $metadata carries the HTTP status), or a fetch network
 * failure (connection refused, DNS, reset: a TypeError / "Network connection lost").
 */
export function outcomeOfError(err: unknown, signal: AbortSignal): GpuFailure {
  const name = nameOf(err);
  const detail = (err instanceof Error ? err.message : String(err)) || name || "network error";
  if (signal.aborted)
    return nameOf(signal.reason) === "TimeoutError" ? { kind: "timeout", detail } : { kind: "aborted", detail };
  if (name === "TimeoutError" || name === "AbortError") return { kind: "timeout", detail };
  const status = (err as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode;
  if (status === 503 || status === 429) return { kind: "overloaded", status, detail };
  if (typeof status === "number" && status > 0) return { kind: "http", status, detail };
  return { kind: "network", detail };
}

export function attemptOutcome(o: GpuOutcome): AttemptOutcome {
  switch (o.kind) {
    case "ok":
      return "ok";
    case "timeout":
      return "timeout";
    case "network":
      return "unreachable";
    case "aborted":
      return "cancelled";
    case "overloaded":
      return "overloaded";
    case "malformed":
      return "error";
    case "http":
      // the endpoint answered and refused this request: its health is not in question (408 is a load signal)
      return o.status >= 400 && o.status < 500 && o.status !== 408 ? "client_error" : "error";
  }
}

/** What the endpoint's breaker learns from an attempt. */
export function breakerVerdict(a: AttemptOutcome): "success" | "failure" | "abandon" {
  if (a === "ok" || a === "client_error") return "success";
  return a === "cancelled" ? "abandon" : "failure";
}

/** The heavyRank failure reason of a failed call. */
export function failureReason(o: GpuFailure): "timeout" | "unreachable" | "overloaded" | "error" {
  const a = attemptOutcome(o);
  if (a === "timeout" || a === "cancelled") return "timeout";
  if (a === "overloaded") return "overloaded";
  return a === "unreachable" ? "unreachable" : "error";
}

/** One line for logs, breaker transitions and the result's detail. */
export function describeOutcome(o: GpuFailure): string {
  return o.kind === "http" || o.kind === "overloaded" ? `HTTP ${o.status}: ${o.detail}` : o.detail;
}
