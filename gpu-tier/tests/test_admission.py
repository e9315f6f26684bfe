"""Admission control (server/admission.py, server/batcher.py): the deadline-ms custom attribute, shedding a request
whose estimated answer time passes its deadline (fast 503 + Retry-After, never scored), dropping a request whose
deadline passes while it is queued, the queue bound, the /metrics counters, and the contract without the header.

Service times come from a scorer that sleeps a fixed time per pair (so the EWMA has a known order of magnitude); a
gate holds a batch in the inference thread so later requests pile up deterministically. Margins are wide (the
decisions compare estimates of hundreds of ms with deadlines of tens of ms or tens of seconds).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import pairs_for, wait_until
from prometheus_client.parser import text_string_to_metric_families
from vitrine_gpu.search.heavy.model import load_heavy
from vitrine_gpu.server import Settings, create_app
from vitrine_gpu.server.admission import DeadlineExpired, InvalidDeadline, Overloaded, parse_deadline_ms
from vitrine_gpu.server.app import CUSTOM_ATTRIBUTES, parse_custom_attributes
from vitrine_gpu.server.batcher import AdmissionEvent, DynamicBatcher

pytestmark = pytest.mark.anyio
GUARD_S = 20.0
PER_PAIR_S = 0.05  # the slow scorer's cost per pair

DOCS = [{"id": f"D{i}", "title": f"water bottle model {i}"} for i in range(4)]
BODY = {"query": "insulated water bottle", "documents": DOCS}


class SlowGatedScorer:
    """Sleeps PER_PAIR_S per pair; with `gate` set, a batch whose query is "hold" waits for `release`."""

    def __init__(self, inner: Any = None) -> None:
        self.inner = inner
        self.calls: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def score_batch(self, pairs: list[tuple[str, dict[str, Any]]]) -> list[float]:
        self.calls.append([q for q, _ in pairs])
        if any(q == "hold" for q, _ in pairs):
            self.entered.set()
            assert self.release.wait(GUARD_S), "test never released the gate"
        time.sleep(PER_PAIR_S * len(pairs))
        return self.inner.score_batch(pairs) if self.inner else [0.5] * len(pairs)


# -- the header --------------------------------------------------------------------------------------------------
def test_deadline_ms_is_parsed_from_the_custom_attributes() -> None:
    attrs = parse_custom_attributes("model=heavy-v1, deadline-ms=250")
    assert attrs == {"model": "heavy-v1", "deadline-ms": "250"}
    assert parse_deadline_ms(attrs["deadline-ms"]) == 250.0
    assert parse_deadline_ms(parse_custom_attributes("deadline-ms=12.5;model=x")["deadline-ms"]) == 12.5
    assert parse_deadline_ms(None) is None
    for bad in ("", "abc", "-5", "0", "nan", "inf", "99999999"):
        with pytest.raises(InvalidDeadline):
            parse_deadline_ms(bad)


# -- the batcher -------------------------------------------------------------------------------------------------
async def test_a_request_that_would_miss_its_deadline_is_shed_without_being_scored() -> None:
    scorer = SlowGatedScorer()
    events: list[AdmissionEvent] = []
    b = DynamicBatcher(max_batch_size=8, max_delay_ms=1, on_admission=events.append)
    try:
        await b.score("m", scorer, pairs_for("warm", 4))  # measures ≈ PER_PAIR_S per pair
        per_pair = b.service_per_pair_s("m")
        assert per_pair is not None and per_pair >= PER_PAIR_S * 0.8
        held = asyncio.ensure_future(b.score("m", scorer, pairs_for("hold", 8)))
        await wait_until(scorer.entered.is_set, "the held batch")
        queued = asyncio.ensure_future(b.score("m", scorer, pairs_for("queued", 8), deadline=time.perf_counter() + 60))
        await wait_until(lambda: b.pending_pairs("m") == 8, "queued pairs")
        # ahead of it: the held batch (≈0.4 s) and 8 queued pairs (≈0.4 s): 50 ms of budget cannot be met
        estimate = b.estimate_s("m", 4)
        assert estimate >= 12 * PER_PAIR_S * 0.8
        with pytest.raises(Overloaded) as shed:
            await b.score("m", scorer, pairs_for("late", 4), deadline=time.perf_counter() + 0.05)
        assert shed.value.reason == "deadline"
        assert int(shed.value.retry_after_header) >= 1
        # a generous deadline is admitted
        ok = asyncio.ensure_future(b.score("m", scorer, pairs_for("patient", 4), deadline=time.perf_counter() + 60))
        scorer.release.set()
        for fut in (held, queued, ok):
            assert len((await asyncio.wait_for(fut, GUARD_S)).scores) > 0
    finally:
        scorer.release.set()
        await b.close()
    scored = {q for batch in scorer.calls for q in batch}
    assert "late" not in scored and {"patient", "queued"} <= scored
    outcomes = [(e.outcome, e.reason) for e in events]
    assert outcomes.count(("shed", "deadline")) == 1
    assert outcomes.count(("admitted", "")) == 4


async def test_a_request_whose_deadline_passes_in_the_queue_is_dropped_before_inference() -> None:
    scorer = SlowGatedScorer()
    events: list[AdmissionEvent] = []
    b = DynamicBatcher(max_batch_size=8, max_delay_ms=1, on_admission=events.append)
    try:
        held = asyncio.ensure_future(b.score("m", scorer, pairs_for("hold", 2)))
        await wait_until(scorer.entered.is_set, "the held batch")
        # nothing measured yet (estimate 0): admitted, then its 100 ms pass while the gate holds the batch ahead
        with pytest.raises(DeadlineExpired):
            await asyncio.wait_for(
                b.score("m", scorer, pairs_for("expired", 3), deadline=time.perf_counter() + 0.1), GUARD_S
            )
        assert scorer.release.is_set() is False  # answered while the batch ahead was still running
        assert b.pending_pairs("m") == 0
        scorer.release.set()
        await asyncio.wait_for(held, GUARD_S)
        await b.score("m", scorer, pairs_for("after", 1))
    finally:
        scorer.release.set()
        await b.close()
    scored = {q for batch in scorer.calls for q in batch}
    assert "expired" not in scored and "after" in scored
    assert [e.outcome for e in events].count("expired_in_queue") == 1


async def test_the_queue_is_bounded_by_estimated_time_without_a_deadline() -> None:
    scorer = SlowGatedScorer()
    events: list[AdmissionEvent] = []
    b = DynamicBatcher(max_batch_size=4, max_delay_ms=1, max_queue_ms=300, on_admission=events.append)
    try:
        await b.score("m", scorer, pairs_for("warm", 4))
        held = asyncio.ensure_future(b.score("m", scorer, pairs_for("hold", 4)))
        await wait_until(scorer.entered.is_set, "the held batch")
        with pytest.raises(Overloaded) as shed:  # ≈ 0.2 s running + 0.4 s of its own > 0.3 s
            await b.score("m", scorer, pairs_for("big", 8))
        assert shed.value.reason == "queue_full"
        scorer.release.set()
        await asyncio.wait_for(held, GUARD_S)
    finally:
        scorer.release.set()
        await b.close()
    assert ("shed", "queue_full") in [(e.outcome, e.reason) for e in events]


async def test_queues_share_the_inference_thread_in_the_estimate_but_not_in_their_service_time() -> None:
    search, recommend = SlowGatedScorer(), SlowGatedScorer()
    records: list[Any] = []
    b = DynamicBatcher(max_batch_size=8, max_delay_ms=1, on_batch=records.append)
    try:
        await b.score("m", search, pairs_for("warm", 4))
        await b.score("r", recommend, pairs_for("warm", 2), task="recommend")
        held = asyncio.ensure_future(b.score("m", search, pairs_for("hold", 4)))
        await wait_until(search.entered.is_set, "the held search batch")
        # a recommend batch now waits for the one inference thread: the search batch in flight is ahead of it
        assert b.estimate_s("r", 2, task="recommend") >= 4 * PER_PAIR_S * 0.8
        waiting = asyncio.ensure_future(b.score("r", recommend, pairs_for("behind", 2), task="recommend"))
        await asyncio.sleep(0.5)  # held: the recommend batch waits for the thread this long
        search.release.set()
        await asyncio.wait_for(asyncio.gather(held, waiting), GUARD_S)
    finally:
        search.release.set()
        await b.close()
    # its service time is what score_batch took (≈ PER_PAIR_S a pair), not the half second it waited for the thread
    per_pair = b.service_per_pair_s("r", task="recommend")
    assert per_pair is not None and per_pair < PER_PAIR_S * 2
    behind = [r for r in records if r.task == "recommend"][-1]
    assert behind.inference_s < 0.3


async def test_admission_off_scores_everything() -> None:
    scorer = SlowGatedScorer()
    b = DynamicBatcher(max_batch_size=8, max_delay_ms=1, admission=False)
    try:
        await b.score("m", scorer, pairs_for("warm", 4))
        result = await b.score("m", scorer, pairs_for("late", 4), deadline=time.perf_counter() + 0.001)
        assert len(result.scores) == 4
    finally:
        await b.close()


# -- over HTTP ---------------------------------------------------------------------------------------------------
@asynccontextmanager
async def serve(registry: Path, scorer: SlowGatedScorer, **kw: Any) -> AsyncIterator[httpx.AsyncClient]:
    def loader(d: Path, dev: str) -> SlowGatedScorer:
        scorer.inner = load_heavy(d, dev)
        return scorer

    config = Settings(registry=registry, device="cpu", max_batch_size=64, max_delay_ms=1, loader=loader, **kw)
    app = create_app(config)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gpu-tier") as client:
            for _ in range(int(GUARD_S / 0.02)):
                if (await client.get("/ping")).status_code == 200:
                    break
                await asyncio.sleep(0.02)
            yield client


def counter(text: str, name: str, **labels: str) -> float:
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


async def test_http_shed_is_a_fast_503_with_retry_after_and_is_counted(tiny_registry) -> None:  # type: ignore[no-untyped-def]
    scorer = SlowGatedScorer()
    async with serve(tiny_registry.path, scorer) as client:
        plain = await client.post("/invocations", json=BODY)  # no header: the contract as before
        assert plain.status_code == 200 and len(plain.json()["scores"]) == len(DOCS)
        calls = len(scorer.calls)
        # 4 pairs at ≈ 50 ms each cannot be answered within 20 ms
        r = await client.post("/invocations", json=BODY, headers={CUSTOM_ATTRIBUTES: "deadline-ms=20"})
        assert r.status_code == 503
        assert r.json()["error"] == "overloaded" and "deadline" in r.json()["message"]
        assert int(r.headers["retry-after"]) >= 1
        assert len(scorer.calls) == calls  # never scored
        # the SDK's route reads the header too; a generous deadline is served with the same body as without it
        ok = await client.post(
            "/endpoints/vitrine-heavy/invocations", json=BODY, headers={CUSTOM_ATTRIBUTES: "deadline-ms=30000"}
        )
        assert ok.status_code == 200 and ok.json()["scores"] == plain.json()["scores"]
        assert set(ok.json()) == set(plain.json())
        bad = await client.post("/invocations", json=BODY, headers={CUSTOM_ATTRIBUTES: "deadline-ms=soon"})
        assert (
            bad.status_code == 400 and bad.json()["error"] == "bad_request" and "deadline-ms" in bad.json()["message"]
        )
        text = (await client.get("/metrics")).text
    assert counter(text, "vitrine_gpu_shed_total", task="search", reason="deadline") == 1
    assert counter(text, "vitrine_gpu_admitted_total", task="search") == 2
    assert any(f.name == "vitrine_gpu_queue_requests" for f in text_string_to_metric_families(text))


async def test_http_expired_in_queue_is_503_and_counted(tiny_registry) -> None:  # type: ignore[no-untyped-def]
    scorer = SlowGatedScorer()
    async with serve(tiny_registry.path, scorer) as client:
        held = asyncio.ensure_future(client.post("/invocations", json={**BODY, "query": "hold"}))
        await wait_until(scorer.entered.is_set, "the held batch")
        # nothing measured yet: admitted, then expires behind the held batch
        r = await client.post(
            "/invocations", json={**BODY, "query": "expires"}, headers={CUSTOM_ATTRIBUTES: "deadline-ms=100"}
        )
        assert r.status_code == 503 and r.json()["error"] == "deadline_exceeded"
        scorer.release.set()
        assert (await asyncio.wait_for(held, GUARD_S)).status_code == 200
        text = (await client.get("/metrics")).text
    assert "expires" not in {q for batch in scorer.calls for q in batch}
    assert counter(text, "vitrine_gpu_expired_in_queue_total", task="search") == 1


async def test_http_admission_off_computes_late_answers(tiny_registry) -> None:  # type: ignore[no-untyped-def]
    scorer = SlowGatedScorer()
    async with serve(tiny_registry.path, scorer, admission=False) as client:
        await client.post("/invocations", json=BODY)
        r = await client.post("/invocations", json=BODY, headers={CUSTOM_ATTRIBUTES: "deadline-ms=20"})
        assert r.status_code == 200
