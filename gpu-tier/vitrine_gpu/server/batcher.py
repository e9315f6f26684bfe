"""Dynamic batching: (query, document) pairs from concurrent requests are grouped per model into one score_batch call.

Each request is queued under its model version. A per-model asyncio task waits for the first pending pair, then keeps
collecting until `max_batch_size` pairs are pending or `max_delay_ms` has passed since that first pair arrived, and
runs score_batch in the inference executor (a worker thread: the event loop stays responsive). A request bigger than
the room left in a batch is split across batches; its scores are written back by position, so every request gets one
score per document in its own order. If a batch fails, only the requests with pairs in that batch fail (BatchFailed).

While one batch runs, new requests keep queueing, so under load the next batch forms from everything that arrived
meanwhile (the usual dynamic-batching behaviour; the delay bound only limits waiting for *more* work when idle).

Queues are keyed by (task, model): a search batch ("search": query-document pairs for the cross-encoder) and a
recommend batch ("recommend": user-candidate pairs for the sequence model) never share a score_batch call.

Admission control (server/admission.py) lives here because only the batcher sees the queues: each queue measures its
service time per pair (EWMA over its batches); `score` refuses a request (Overloaded) whose estimated answer time
would pass its deadline or the `max_queue_ms` bound, and a queued request whose deadline passes, or whose caller went
away (its future was cancelled), is dropped before inference.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..settings import DEFAULT_BATCH, DEFAULT_MAX_DELAY_MS, DEFAULT_MAX_QUEUE_MS
from .admission import DeadlineExpired, Overloaded, ServiceTime
from .model_store import Scorer

log = logging.getLogger("vitrine_gpu.server.batcher")

Pair = tuple[str, dict[str, Any]]


class BatchFailed(RuntimeError):
    """score_batch raised (or returned a wrong-length result) for a batch holding this request's pairs."""


class BatcherClosed(RuntimeError):
    """The batcher is shutting down."""


@dataclass(frozen=True)
class BatchRecord:
    """What one score_batch call looked like (for metrics and tests)."""

    model: str
    size: int  # pairs
    requests: int  # distinct requests with pairs in it
    inference_s: float
    ok: bool
    task: str = "search"


@dataclass(frozen=True)
class ScoreResult:
    scores: list[float]
    queue_s: float  # submit → start of the first batch with this request's pairs
    inference_s: float  # start of the first batch → end of the last batch with its pairs
    batches: int


@dataclass(eq=False)
class _Request:
    pairs: list[Pair]
    future: asyncio.Future[ScoreResult]
    submitted: float
    deadline: float | None = None  # perf_counter time after which nobody waits for the answer
    scores: list[float | None] = field(init=False)
    remaining: int = field(init=False)
    first_start: float | None = None
    batches: int = 0

    def __post_init__(self) -> None:
        self.scores = [None] * len(self.pairs)
        self.remaining = len(self.pairs)


@dataclass(eq=False)
class _Segment:
    request: _Request
    start: int
    end: int


class _ModelQueue:
    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer
        self.segments: deque[_Segment] = deque()
        self.pending_pairs = 0
        self.arrived = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.service = ServiceTime()
        self.running_pairs = 0  # pairs of the batch in the executor now
        self.running_since = 0.0


@dataclass(frozen=True)
class AdmissionEvent:
    """One admission decision or queue drop (for metrics and tests): outcome is admitted | shed | expired_in_queue |
    abandoned; reason says why a request was shed (deadline | queue_full)."""

    task: str
    model: str
    outcome: str
    reason: str = ""


def _timed(fn: Callable[[list[Pair]], Any], pairs: list[Pair]) -> tuple[Any, float, float]:
    """Runs in the inference thread: ``fn(pairs)`` and when it started and ended there (a batch submitted while
    another queue's batch holds the thread waits first; that wait is not this queue's service time)."""
    started = time.perf_counter()
    out = fn(pairs)
    return out, started, time.perf_counter()


class DynamicBatcher:
    def __init__(
        self,
        *,
        max_batch_size: int = DEFAULT_BATCH["cpu"],
        max_delay_ms: float = DEFAULT_MAX_DELAY_MS,
        executor: Executor | None = None,
        on_batch: Callable[[BatchRecord], None] | None = None,
        on_queue_time: Callable[[str, str, float], None] | None = None,
        admission: bool = True,
        max_queue_ms: float = DEFAULT_MAX_QUEUE_MS,
        on_admission: Callable[[AdmissionEvent], None] | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        if max_delay_ms < 0:
            raise ValueError("max_delay_ms must be >= 0")
        self.max_batch_size = max_batch_size
        self.max_delay_s = max_delay_ms / 1000.0
        self._own_executor = executor is None
        # One inference thread by default: a single GPU runs one batch at a time anyway.
        self._executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="vitrine-infer")
        self._queues: dict[tuple[str, str], _ModelQueue] = {}
        self._closed = False
        self.on_batch = on_batch
        self.on_queue_time = on_queue_time
        self.admission = admission
        self.max_queue_s = max_queue_ms / 1000.0 if max_queue_ms > 0 else None
        self.on_admission = on_admission

    # -- public --------------------------------------------------------------------------------------------------
    def pending_pairs(self, model: str | None = None, task: str = "search") -> int:
        if model is not None:
            q = self._queues.get((task, model))
            return q.pending_pairs if q else 0
        return sum(q.pending_pairs for q in self._queues.values())

    def queued_requests(self) -> int:
        return sum(len({id(s.request) for s in q.segments}) for q in self._queues.values())

    def service_per_pair_s(self, model: str, task: str = "search") -> float | None:
        q = self._queues.get((task, model))
        return q.service.per_pair_s if q else None

    def estimate_s(self, model: str, pairs: int, task: str = "search") -> float:
        """Estimated time from now until a new request of `pairs` pairs is answered: the rest of every queue's batch in
        flight (they share the one inference thread), then every queued pair of its own queue and its own at the
        measured rate (0 before the queue's first batch was measured)."""
        q = self._queues.get((task, model))
        if q is None or q.service.per_pair_s is None:
            return 0.0
        now = time.perf_counter()
        # one inference thread: the batch each queue has in flight (running, or waiting for the thread) goes first
        ahead = sum(
            max(0.0, other.service.estimate(other.running_pairs) - (now - other.running_since))
            for other in self._queues.values()
            if other.running_pairs
        )
        return ahead + q.service.estimate(q.pending_pairs + pairs)

    async def score(
        self,
        model: str,
        scorer: Scorer,
        pairs: list[Pair],
        task: str = "search",
        *,
        deadline: float | None = None,
    ) -> ScoreResult:
        """Queue `pairs` for `model` (of `task`) and wait for their scores (same order). `deadline` (a
        time.perf_counter() value) enables the admission check (Overloaded) and the drop when it passes in the queue
        (DeadlineExpired)."""
        if self._closed:
            raise BatcherClosed("server is shutting down")
        if not pairs:
            return ScoreResult(scores=[], queue_s=0.0, inference_s=0.0, batches=0)
        loop = asyncio.get_running_loop()
        now = time.perf_counter()
        if self.admission:
            self._admit(task, model, len(pairs), now, deadline)
        req = _Request(pairs=list(pairs), future=loop.create_future(), submitted=now, deadline=deadline)
        key = (task, model)
        q = self._queues.get(key)
        if q is None:
            q = self._queues[key] = _ModelQueue(scorer)
        q.scorer = scorer  # a reloaded version object replaces the old one for the next batches
        q.segments.append(_Segment(req, 0, len(req.pairs)))
        q.pending_pairs += len(req.pairs)
        q.arrived.set()
        if q.task is None or q.task.done():
            q.task = loop.create_task(self._run(task, model, q), name=f"batcher:{task}:{model}")
        expiry = (
            loop.call_later(max(0.0, deadline - now), self._expire, task, model, req)
            if self.admission and deadline is not None
            else None
        )
        try:
            return await req.future
        except asyncio.CancelledError:  # the caller went away: the worker drops it before its next batch
            if req.first_start is None:
                self._report(task, model, "abandoned")
            q.arrived.set()
            raise
        finally:
            if expiry is not None:
                expiry.cancel()

    def _admit(self, task: str, model: str, pairs: int, now: float, deadline: float | None) -> None:
        estimate = self.estimate_s(model, pairs, task)
        reason = ""
        if deadline is not None and now + estimate > deadline:
            reason = "deadline"
        elif self.max_queue_s is not None and estimate > self.max_queue_s:
            reason = "queue_full"
        if reason:
            self._report(task, model, "shed", reason)
            # when the work queued now will be done: the earliest moment a retry can be admitted
            raise Overloaded(
                reason, estimate, None if deadline is None else deadline - now, self.estimate_s(model, 0, task)
            )
        self._report(task, model, "admitted")

    def _expire(self, task: str, model: str, req: _Request) -> None:
        """The deadline timer: a request not started yet is answered DeadlineExpired now and never scored."""
        if req.first_start is None and not req.future.done():
            req.future.set_exception(DeadlineExpired("deadline passed while queued: dropped before inference"))
            self._report(task, model, "expired_in_queue")
            q = self._queues.get((task, model))
            if q is not None:
                self._drop_cancelled(q)

    def _report(self, task: str, model: str, outcome: str, reason: str = "") -> None:
        if self.on_admission:
            self.on_admission(AdmissionEvent(task=task, model=model, outcome=outcome, reason=reason))

    async def close(self) -> None:
        self._closed = True
        tasks = [q.task for q in self._queues.values() if q.task]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for q in self._queues.values():
            for seg in q.segments:
                if not seg.request.future.done():
                    seg.request.future.set_exception(BatcherClosed("server is shutting down"))
            q.segments.clear()
            q.pending_pairs = 0
        if self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    # -- worker --------------------------------------------------------------------------------------------------
    async def _run(self, task: str, model: str, q: _ModelQueue) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed:
            self._drop_cancelled(q)
            if not q.segments:
                q.arrived.clear()
                await q.arrived.wait()
                continue
            deadline = q.segments[0].request.submitted + self.max_delay_s
            while q.pending_pairs < self.max_batch_size:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                q.arrived.clear()
                try:
                    await asyncio.wait_for(q.arrived.wait(), timeout=remaining)
                except TimeoutError:
                    break
            segments = self._take_batch(q)
            if not segments:
                continue
            await self._run_batch(loop, task, model, q.scorer, segments)

    def _drop_cancelled(self, q: _ModelQueue) -> None:
        kept = deque(s for s in q.segments if not s.request.future.done())
        q.pending_pairs = sum(s.end - s.start for s in kept)
        q.segments = kept

    def _take_batch(self, q: _ModelQueue) -> list[_Segment]:
        self._drop_cancelled(q)
        taken: list[_Segment] = []
        room = self.max_batch_size
        while q.segments and room > 0:
            seg = q.segments[0]
            n = seg.end - seg.start
            if n <= room:
                q.segments.popleft()
                taken.append(seg)
                room -= n
            else:  # split: the head part goes now, the rest stays first in line
                taken.append(_Segment(seg.request, seg.start, seg.start + room))
                seg.start += room
                room = 0
        q.pending_pairs -= self.max_batch_size - room
        return taken

    async def _run_batch(
        self, loop: asyncio.AbstractEventLoop, task: str, model: str, scorer: Scorer, segments: list[_Segment]
    ) -> None:
        pairs: list[Pair] = [p for s in segments for p in s.request.pairs[s.start : s.end]]
        started = time.perf_counter()
        requests = {id(s.request): s.request for s in segments}
        q = self._queues.get((task, model))
        if q is not None:
            q.running_pairs, q.running_since = len(pairs), started
        for req in requests.values():
            req.batches += 1
            if req.first_start is None:
                req.first_start = started
                if self.on_queue_time:
                    self.on_queue_time(task, model, started - req.submitted)
        error: BaseException | None = None
        scores: list[float] = []
        compute_s: float | None = None  # score_batch's own time, without the wait for the inference thread
        try:
            raw, compute_from, compute_to = await loop.run_in_executor(
                self._executor, _timed, scorer.score_batch, pairs
            )
            compute_s = compute_to - compute_from
            scores = [float(x) for x in raw]
            if len(scores) != len(pairs):
                raise ValueError(f"score_batch returned {len(scores)} scores for {len(pairs)} pairs")
        except asyncio.CancelledError:
            error = BatcherClosed("server is shutting down")
            raise
        except Exception as exc:  # noqa: BLE001 - reported to the affected requests
            log.exception("batch of %d pairs for %s failed", len(pairs), model)
            error = BatchFailed(f"inference failed for model {model}: {type(exc).__name__}: {exc}")
        finally:
            ended = time.perf_counter()
            if q is not None:
                q.running_pairs = 0
                if error is None:
                    q.service.observe(len(pairs), compute_s if compute_s is not None else ended - started)
            if self.on_batch:
                self.on_batch(
                    BatchRecord(
                        model=model,
                        size=len(pairs),
                        requests=len(requests),
                        inference_s=compute_s if compute_s is not None else ended - started,
                        ok=error is None,
                        task=task,
                    )
                )
            if error is not None:
                for req in requests.values():
                    if not req.future.done():
                        req.future.set_exception(error)
        if error is not None:
            return
        offset = 0
        for seg in segments:
            req = seg.request
            n = seg.end - seg.start
            req.scores[seg.start : seg.end] = scores[offset : offset + n]
            offset += n
            req.remaining -= n
            if req.remaining == 0 and not req.future.done():
                assert req.first_start is not None
                req.future.set_result(
                    ScoreResult(
                        scores=[float(s) for s in req.scores if s is not None],
                        queue_s=req.first_start - req.submitted,
                        inference_s=ended - req.first_start,
                        batches=req.batches,
                    )
                )
