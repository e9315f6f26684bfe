"""Admission control: refuse work nobody will wait for, before it costs GPU time.

Each request may carry its deadline (SageMaker `CustomAttributes`, i.e. the `X-Amzn-SageMaker-Custom-Attributes`
header, `deadline-ms=<ms>`: the caller's remaining budget, relative to the request's arrival, so clocks need not
agree). The batcher keeps an EWMA of the measured service time per pair of each (task, model) queue and estimates
how long a new request would take to be answered: what is left of the batch running now, plus every pair queued
ahead of it and its own, at the measured rate. The request is refused at once (HTTP 503 `overloaded` with
`Retry-After`) when

- that estimate passes its deadline (reason `deadline`), or
- the estimate passes `max_queue_ms` (reason `queue_full`): the queue is bounded in *time*, its capacity in pairs
  follows the measured service time.

A request admitted but still queued when its deadline passes is dropped before inference (503 `deadline_exceeded`,
counted `expired_in_queue`); one whose client disconnected is dropped likewise (counted `abandoned`). Without the
header only the `max_queue_ms` bound applies, so the contract is unchanged for callers that send no deadline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEADLINE_ATTRIBUTE = "deadline-ms"
MAX_DEADLINE_MS = 3_600_000.0
EWMA_ALPHA = 0.2  # weight of the newest batch in the service-time estimate

ShedReason = str  # "deadline" | "queue_full"


class Overloaded(RuntimeError):
    """Admitting the request would answer it after its deadline (or overrun the queue bound)."""

    def __init__(self, reason: ShedReason, estimate_s: float, budget_s: float | None, retry_after_s: float) -> None:
        budget = "no deadline" if budget_s is None else f"{budget_s * 1000:.0f} ms left"
        super().__init__(
            f"shed ({reason}): estimated answer in {estimate_s * 1000:.0f} ms, {budget}; retry after {retry_after_s:.1f} s"
        )
        self.reason = reason
        self.estimate_s = estimate_s
        self.retry_after_s = retry_after_s

    @property
    def retry_after_header(self) -> str:
        """Retry-After in whole seconds (RFC 9110), at least 1."""
        return str(max(1, math.ceil(self.retry_after_s)))


class DeadlineExpired(RuntimeError):
    """The request's deadline passed while it waited in the queue: dropped before inference."""


class InvalidDeadline(ValueError):
    """The deadline-ms custom attribute is not a positive number of milliseconds."""


def parse_deadline_ms(value: str | None) -> float | None:
    """`deadline-ms` value → milliseconds (None when absent). Raises InvalidDeadline on anything else."""
    if value is None:
        return None
    try:
        ms = float(value)
    except ValueError:
        raise InvalidDeadline(f"{DEADLINE_ATTRIBUTE}: expected milliseconds, got {value!r}") from None
    if not math.isfinite(ms) or ms <= 0 or ms > MAX_DEADLINE_MS:
        raise InvalidDeadline(f"{DEADLINE_ATTRIBUTE}: must be > 0 and <= {MAX_DEADLINE_MS:.0f}, got {value!r}")
    return ms


@dataclass
class ServiceTime:
    """EWMA of the seconds one pair costs in a batch of one (task, model) queue; None until a batch was measured."""

    per_pair_s: float | None = None

    def observe(self, pairs: int, seconds: float) -> None:
        if pairs <= 0 or seconds < 0:
            return
        sample = seconds / pairs
        self.per_pair_s = (
            sample if self.per_pair_s is None else (1 - EWMA_ALPHA) * self.per_pair_s + EWMA_ALPHA * sample
        )

    def estimate(self, pairs: int) -> float:
        return 0.0 if self.per_pair_s is None else pairs * self.per_pair_s
