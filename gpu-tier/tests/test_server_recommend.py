"""`{"task": "recommend"}` on the GPU tier (CONTRACTS.md C4) against tiny randomly initialised SeqRec models saved with
`SeqRecModel.save` into a temp registry: the contract, 4xx mapping, model selection, and batching (recommend requests
share batches; a search and a recommend request never do)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import TINY_RECS_ITEMS, RecsRegistry
from prometheus_client.parser import text_string_to_metric_families
from test_server import BODY, DOCS, cfg, serve
from vitrine_gpu.recs.sequence import SeqRecModel
from vitrine_gpu.server.batcher import BatchRecord

pytestmark = pytest.mark.anyio
GUARD_S = 60.0
NOW = 15300.0
SEQ: list[dict[str, Any]] = [
    {"id": TINY_RECS_ITEMS[3], "ts": 15200.5},
    {"id": TINY_RECS_ITEMS[7], "ts": 15290.0},
    {"id": "NEW-1", "ts": 15295.0},
]
CANDS = [TINY_RECS_ITEMS[3], TINY_RECS_ITEMS[11], "UNKNOWN-ITEM", TINY_RECS_ITEMS[7], TINY_RECS_ITEMS[20]]
REC: dict[str, Any] = {"task": "recommend", "store": "online-retail", "sequence": SEQ, "candidates": CANDS, "now": NOW}


def direct(reg: Path, version: str, seq: list[dict[str, Any]], cands: list[str], now: float | None) -> np.ndarray:
    model = SeqRecModel.load(reg / "recs-heavy" / version)
    return model.score([(e["id"], e["ts"]) for e in seq], cands, now)


@pytest.fixture(scope="module")
async def recs_gpu(recs_registry: RecsRegistry):  # type: ignore[no-untyped-def]
    async with serve(cfg(recs_registry.path)) as pair:
        yield pair


async def test_recommend_scores_every_candidate_in_order(recs_gpu, recs_registry: RecsRegistry) -> None:  # type: ignore[no-untyped-def]
    client, _ = recs_gpu
    for path in ("/invocations", "/endpoints/vitrine-recs/invocations"):
        r = await client.post(path, json=REC)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["task"] == "recommend" and body["model"] == recs_registry.current
        assert r.headers["x-amzn-sagemaker-custom-attributes"] == f"model={recs_registry.current}"
        want = direct(recs_registry.path, recs_registry.current, SEQ, CANDS, NOW)
        assert body["scores"] == pytest.approx(want.tolist(), abs=1e-5)
    # a repeated item (in the history) and a cold one get different scores: the model reads the sequence
    assert body["scores"][0] != body["scores"][2]


async def test_ages_are_days_before_now(recs_gpu) -> None:  # type: ignore[no-untyped-def]
    client, _ = recs_gpu
    aged = {**REC, "sequence": [{"id": e["id"], "age": NOW - e["ts"]} for e in SEQ]}
    a, b = await client.post("/invocations", json=REC), await client.post("/invocations", json=aged)
    assert a.status_code == b.status_code == 200
    assert b.json()["scores"] == pytest.approx(a.json()["scores"], abs=1e-5)
    no_now = {k: v for k, v in aged.items() if k != "now"}  # ages alone need no clock
    c = await client.post("/invocations", json=no_now)
    assert c.status_code == 200 and c.json()["scores"] == pytest.approx(a.json()["scores"], abs=1e-5)


async def test_empty_history_is_cold_start_not_an_error(recs_gpu) -> None:  # type: ignore[no-untyped-def]
    client, _ = recs_gpu
    r = await client.post("/invocations", json={"task": "recommend", "sequence": [], "candidates": ["X", "Y"]})
    assert r.status_code == 200 and len(r.json()["scores"]) == 2


async def test_model_version_selection(recs_gpu, recs_registry: RecsRegistry) -> None:  # type: ignore[no-untyped-def]
    client, _ = recs_gpu
    r = await client.post("/invocations", json={**REC, "model": recs_registry.other})
    assert r.status_code == 200 and r.json()["model"] == recs_registry.other
    want = direct(recs_registry.path, recs_registry.other, SEQ, CANDS, NOW)
    assert r.json()["scores"] == pytest.approx(want.tolist(), abs=1e-5)
    hdr = {"X-Amzn-SageMaker-Custom-Attributes": f"model={recs_registry.other}"}
    assert (await client.post("/invocations", json=REC, headers=hdr)).json()["model"] == recs_registry.other
    missing = await client.post("/invocations", json={**REC, "model": "recs-heavy-20990101000000-deadbeef"})
    assert missing.status_code == 404 and missing.json()["error"] == "model_not_found"
    # a search heavy version is not a recs-heavy version (and vice versa)
    wrong_kind = await client.post("/invocations", json={**REC, "model": recs_registry.heavy})
    assert wrong_kind.status_code == 404
    search_with_recs = await client.post("/invocations", json={**BODY, "model": recs_registry.current})
    assert search_with_recs.status_code == 404
    bad = await client.post("/invocations", json={**REC, "model": "../etc"})
    assert bad.status_code == 400 and bad.json()["error"] == "bad_request"


BAD_RECS: list[tuple[str, Any]] = [
    ("unknown task", {**REC, "task": "classify"}),
    ("no candidates", {k: v for k, v in REC.items() if k != "candidates"}),
    ("empty candidates", {**REC, "candidates": []}),
    ("candidates not a list", {**REC, "candidates": "22423"}),
    ("candidate not a string", {**REC, "candidates": [22423]}),
    ("empty candidate id", {**REC, "candidates": ["22423", ""]}),
    ("too many candidates", {**REC, "candidates": [str(i) for i in range(301)]}),
    ("sequence not a list", {**REC, "sequence": {"id": "1", "ts": 1.0}}),
    ("event without time", {**REC, "sequence": [{"id": "22423"}]}),
    ("event with ts and age", {**REC, "sequence": [{"id": "22423", "ts": 1.0, "age": 2.0}]}),
    ("negative age", {**REC, "sequence": [{"id": "22423", "age": -1.0}]}),
    ("ts not a number", {**REC, "sequence": [{"id": "22423", "ts": "yesterday"}]}),
    (
        "mixed ts and age without now",
        {"task": "recommend", "candidates": ["1"], "sequence": [SEQ[0], {"id": "2", "age": 1}]},
    ),
    ("now not a number", {**REC, "now": "today"}),
]


@pytest.mark.parametrize("case,body", BAD_RECS, ids=[c for c, _ in BAD_RECS])
async def test_bad_recommend_input_is_a_400(recs_gpu, case: str, body: Any) -> None:  # type: ignore[no-untyped-def]
    client, _ = recs_gpu
    r = await client.post("/invocations", json=body)
    assert r.status_code == 400, (case, r.text)
    assert r.json()["error"] == "bad_request" and r.json()["message"]


async def test_search_without_task_is_unchanged(recs_gpu, recs_registry: RecsRegistry) -> None:  # type: ignore[no-untyped-def]
    client, _ = recs_gpu
    plain, tagged = (
        await client.post("/invocations", json=BODY),
        await client.post("/invocations", json={**BODY, "task": "search"}),
    )
    assert plain.status_code == tagged.status_code == 200
    assert plain.json()["model"] == recs_registry.heavy and plain.json()["task"] == "search"
    assert len(plain.json()["scores"]) == len(DOCS) and plain.json()["scores"] == tagged.json()["scores"]


async def test_recommend_requests_share_batches_and_never_mix_with_search(recs_registry: RecsRegistry) -> None:
    records: list[BatchRecord] = []
    users: list[dict[str, Any]] = [
        {**REC, "sequence": SEQ[: i % 3], "candidates": TINY_RECS_ITEMS[i : i + 2 + i % 4], "now": NOW + i}
        for i in range(8)
    ]
    searches = [{"query": f"water bottle {i}", "documents": DOCS[: 1 + i % 4]} for i in range(3)]
    # a long collection window: every request arrives before the first batch of its queue is cut
    async with serve(cfg(recs_registry.path, max_batch_size=256, max_delay_ms=1500)) as (client, server):
        observe = server.batcher.on_batch

        def record(rec: BatchRecord) -> None:
            records.append(rec)
            if observe:
                observe(rec)

        server.batcher.on_batch = record
        tasks = [asyncio.create_task(client.post("/invocations", json=b)) for b in [*users, *searches]]
        responses = await asyncio.wait_for(asyncio.gather(*tasks), GUARD_S)
        metrics = (await client.get("/metrics")).text
    assert [r.status_code for r in responses] == [200] * len(tasks)
    rec_batches = [r for r in records if r.task == "recommend"]
    search_batches = [r for r in records if r.task == "search"]
    assert len(records) == len(rec_batches) + len(search_batches) == 2
    assert rec_batches[0].requests == len(users) and rec_batches[0].model == recs_registry.current
    assert rec_batches[0].size == sum(len(u["candidates"]) for u in users)
    assert search_batches[0].requests == len(searches) and search_batches[0].model == recs_registry.heavy
    assert search_batches[0].size == sum(len(s["documents"]) for s in searches)
    for u, r in zip(users, responses):  # batched scores equal each user's own forward pass
        want = direct(recs_registry.path, recs_registry.current, u["sequence"], u["candidates"], u["now"])
        assert r.json()["task"] == "recommend" and r.json()["scores"] == pytest.approx(want.tolist(), abs=1e-4)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(metrics)
        for s in f.samples
    }
    rec_label = (("model", recs_registry.current), ("task", "recommend"))
    assert samples[("vitrine_gpu_batch_size_pairs_count", rec_label)] == 1
    assert samples[("vitrine_gpu_pairs_scored_total", rec_label)] == rec_batches[0].size
    assert samples[("vitrine_gpu_request_seconds_count", rec_label)] == len(users)
    assert samples[("vitrine_gpu_batch_size_pairs_count", (("model", recs_registry.heavy), ("task", "search")))] == 1
