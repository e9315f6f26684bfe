"""Dynamic batcher: coalescing, order, max batch size, delay bound, failure isolation, per-model queues.

The scorer here is a deterministic recorder implementing the server's Scorer protocol (score_batch), with a gate that
holds the first batch inside the inference thread so later requests pile up deterministically (no timing asserts;
`wait_for` timeouts are only hang guards).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from typing import Any

import pytest
from conftest import pairs_for, wait_until
from vitrine_gpu.server.batcher import BatchFailed, BatchRecord, DynamicBatcher

pytestmark = pytest.mark.anyio
GUARD_S = 20.0


def expected(query: str, doc: dict[str, Any]) -> float:
    return int(hashlib.sha256(f"{query}\x00{doc['id']}".encode()).hexdigest()[:8], 16) / 2**32


class GatedScorer:
    def __init__(self, *, block_first: bool = False, fail_on: str | None = None, wrong_length: bool = False) -> None:
        self.calls: list[list[tuple[str, dict[str, Any]]]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.block_first = block_first
        self.fail_on = fail_on
        self.wrong_length = wrong_length
        self._lock = threading.Lock()

    def score_batch(self, pairs: list[tuple[str, dict[str, Any]]]) -> list[float]:
        with self._lock:
            self.calls.append(list(pairs))
            first = len(self.calls) == 1
        if first and self.block_first:
            self.entered.set()
            assert self.release.wait(GUARD_S), "test never released the gate"
        if self.fail_on and any(d["id"] == self.fail_on for _, d in pairs):
            raise RuntimeError("CUDA error: device-side assert (simulated)")
        out = [expected(q, d) for q, d in pairs]
        return out[:-1] if self.wrong_length else out


async def hold_first(b: DynamicBatcher, s: GatedScorer, query: str, n: int) -> asyncio.Task[Any]:
    """The first request: its batch blocks inside ``s`` (block_first) until ``s.release`` is set."""
    first = asyncio.create_task(b.score("m", s, pairs_for(query, n)))
    await wait_until(s.entered.is_set, "the first batch to start")
    return first


async def test_concurrent_requests_coalesce_and_map_back_in_order() -> None:
    records: list[BatchRecord] = []
    b = DynamicBatcher(max_batch_size=256, max_delay_ms=1, on_batch=records.append)
    s = GatedScorer(block_first=True)
    try:
        first = await hold_first(b, s, "first query", 3)
        queries = [f"query number {i}" for i in range(8)]
        tasks = [asyncio.create_task(b.score("m", s, pairs_for(q, 5, prefix=f"r{i}-"))) for i, q in enumerate(queries)]
        await wait_until(lambda: b.pending_pairs("m") == 40, "40 pending pairs")
        s.release.set()
        results = await asyncio.wait_for(asyncio.gather(first, *tasks), GUARD_S)
    finally:
        s.release.set()
        await b.close()
    # 9 requests → 2 score_batch calls: the gated one, then everything that queued meanwhile.
    assert [len(c) for c in s.calls] == [3, 40]
    assert [(r.size, r.requests, r.ok) for r in records] == [(3, 1, True), (40, 8, True)]
    assert results[0].scores == [expected(q, d) for q, d in pairs_for("first query", 3)]
    for i, (q, res) in enumerate(zip(queries, results[1:])):
        assert res.scores == [expected(qq, d) for qq, d in pairs_for(q, 5, prefix=f"r{i}-")]
        assert res.batches == 1
        assert res.queue_s >= 0 and res.inference_s >= 0


async def test_max_batch_size_is_respected_and_big_requests_split_in_order() -> None:
    b = DynamicBatcher(max_batch_size=10, max_delay_ms=1)
    s = GatedScorer(block_first=True)
    try:
        first = await hold_first(b, s, "q0", 7)
        sizes = [7, 7, 25, 3]
        tasks = [asyncio.create_task(b.score("m", s, pairs_for(f"q{i + 1}", n))) for i, n in enumerate(sizes)]
        await wait_until(lambda: b.pending_pairs("m") == sum(sizes), "all pairs queued")
        s.release.set()
        results = await asyncio.wait_for(asyncio.gather(first, *tasks), GUARD_S)
    finally:
        s.release.set()
        await b.close()
    assert all(1 <= len(c) <= 10 for c in s.calls)
    assert sum(len(c) for c in s.calls) == 7 + sum(sizes)
    # Packing is greedy: batches are full except the last one.
    assert [len(c) for c in s.calls] == [7, 10, 10, 10, 10, 2]
    for i, (n, res) in enumerate(zip([7, *sizes], results)):
        assert res.scores == [expected(q, d) for q, d in pairs_for(f"q{i}", n)]
    assert results[3].batches >= 3  # the 25-pair request spans several batches and is still in order


async def test_partial_batch_waits_for_more_pairs_up_to_the_delay_then_goes() -> None:
    # Delay bound huge: a non-full batch waits for more pairs, and goes as soon as it is full.
    b = DynamicBatcher(max_batch_size=4, max_delay_ms=60_000)
    s = GatedScorer()
    try:
        a = asyncio.create_task(b.score("m", s, pairs_for("qa", 2)))
        await asyncio.sleep(0.05)
        assert not a.done() and s.calls == [] and b.pending_pairs("m") == 2
        c = asyncio.create_task(b.score("m", s, pairs_for("qc", 2)))
        ra, rc = await asyncio.wait_for(asyncio.gather(a, c), GUARD_S)
    finally:
        await b.close()
    assert [len(x) for x in s.calls] == [4]
    assert ra.scores == [expected(q, d) for q, d in pairs_for("qa", 2)]
    assert rc.scores == [expected(q, d) for q, d in pairs_for("qc", 2)]


async def test_small_delay_bound_dispatches_a_lone_request_without_filling_the_batch() -> None:
    b = DynamicBatcher(max_batch_size=1000, max_delay_ms=10)
    s = GatedScorer()
    try:
        res = await asyncio.wait_for(b.score("m", s, pairs_for("lonely", 2)), GUARD_S)
    finally:
        await b.close()
    assert [len(x) for x in s.calls] == [2]
    assert len(res.scores) == 2


async def test_a_failing_batch_fails_only_its_own_requests() -> None:
    b = DynamicBatcher(max_batch_size=3, max_delay_ms=1)
    s = GatedScorer(block_first=True, fail_on="boom")
    try:
        good1 = await hold_first(b, s, "g1", 3)
        bad_pairs = [
            ("bad", {"id": "x", "title": "t"}),
            ("bad", {"id": "boom", "title": "t"}),
            ("bad", {"id": "y", "title": "t"}),
        ]
        bad = asyncio.create_task(b.score("m", s, bad_pairs))
        good2 = asyncio.create_task(b.score("m", s, pairs_for("g2", 3)))
        await wait_until(lambda: b.pending_pairs("m") == 6, "queued")
        s.release.set()
        r = await asyncio.wait_for(asyncio.gather(good1, bad, good2, return_exceptions=True), GUARD_S)
        # The batcher keeps serving after a failure.
        after = await asyncio.wait_for(b.score("m", s, pairs_for("after", 2)), GUARD_S)
    finally:
        s.release.set()
        await b.close()
    assert not isinstance(r[0], BaseException) and not isinstance(r[2], BaseException)
    assert isinstance(r[1], BatchFailed)
    assert "RuntimeError" in str(r[1]) and "device-side assert" in str(r[1])
    assert r[2].scores == [expected(q, d) for q, d in pairs_for("g2", 3)]
    assert len(after.scores) == 2


async def test_wrong_number_of_scores_is_a_batch_failure() -> None:
    b = DynamicBatcher(max_batch_size=8, max_delay_ms=1)
    try:
        with pytest.raises(BatchFailed, match="returned 2 scores for 3 pairs"):
            await asyncio.wait_for(b.score("m", GatedScorer(wrong_length=True), pairs_for("q", 3)), GUARD_S)
    finally:
        await b.close()


async def test_models_have_separate_queues() -> None:
    b = DynamicBatcher(max_batch_size=64, max_delay_ms=20)
    sa, sb = GatedScorer(), GatedScorer()
    try:
        ra, rb = await asyncio.wait_for(
            asyncio.gather(
                b.score("model-a", sa, pairs_for("qa", 4, "a")),
                b.score("model-b", sb, pairs_for("qb", 3, "b")),
            ),
            GUARD_S,
        )
    finally:
        await b.close()
    assert [len(c) for c in sa.calls] == [4] and all(d["id"].startswith("a") for c in sa.calls for _, d in c)
    assert [len(c) for c in sb.calls] == [3] and all(d["id"].startswith("b") for c in sb.calls for _, d in c)
    assert len(ra.scores) == 4 and len(rb.scores) == 3


async def test_cancelled_requests_are_not_scored() -> None:
    b = DynamicBatcher(max_batch_size=64, max_delay_ms=1)
    s = GatedScorer(block_first=True)
    try:
        first = await hold_first(b, s, "first", 1)
        gone = asyncio.create_task(b.score("m", s, pairs_for("gone", 5, "gone")))
        kept = asyncio.create_task(b.score("m", s, pairs_for("kept", 2, "kept")))
        await wait_until(lambda: b.pending_pairs("m") == 7, "queued")
        gone.cancel()
        s.release.set()
        await asyncio.wait_for(asyncio.gather(first, kept), GUARD_S)
    finally:
        s.release.set()
        await b.close()
    assert all(not d["id"].startswith("gone") for c in s.calls for _, d in c)
    assert [len(c) for c in s.calls] == [1, 2]


async def test_queue_time_is_reported_per_request() -> None:
    seen: list[tuple[str, str, float]] = []
    b = DynamicBatcher(max_batch_size=8, max_delay_ms=1, on_queue_time=lambda t, m, s: seen.append((t, m, s)))
    try:
        await asyncio.wait_for(
            asyncio.gather(*(b.score("m", GatedScorer(), pairs_for(f"q{i}", 2)) for i in range(3))), GUARD_S
        )
    finally:
        await b.close()
    assert len(seen) == 3 and all(t == "search" and m == "m" and s >= 0 for t, m, s in seen)


async def test_tasks_never_share_a_batch_even_for_the_same_model_name() -> None:
    records: list[BatchRecord] = []
    b = DynamicBatcher(max_batch_size=64, max_delay_ms=200, on_batch=records.append)
    try:
        search = [b.score("m", GatedScorer(), pairs_for(f"q{i}", 2)) for i in range(3)]
        recommend = [b.score("m", GatedScorer(), pairs_for(f"u{i}", 3), task="recommend") for i in range(4)]
        res = await asyncio.wait_for(asyncio.gather(*search, *recommend), GUARD_S)
    finally:
        await b.close()
    assert [len(r.scores) for r in res] == [2] * 3 + [3] * 4
    assert sorted((r.task, r.requests, r.size) for r in records) == [("recommend", 4, 12), ("search", 3, 6)]


def test_invalid_settings_are_rejected() -> None:
    with pytest.raises(ValueError):
        DynamicBatcher(max_batch_size=0)
    with pytest.raises(ValueError):
        DynamicBatcher(max_delay_ms=-1)
