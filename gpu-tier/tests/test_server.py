"""GPU tier HTTP contract (CONTRACTS.md C4) against a tiny random heavy model saved with the heavy model's own
save function into a temp registry: ping, invocations, the SDK's /endpoints/{name}/invocations route, model selection
(body / CustomAttributes), 4xx mapping, on-demand loading + LRU, server-level batching, metrics, and a real uvicorn
process started with `python -m vitrine_gpu server`."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from vitrine_gpu.search.heavy.model import load_heavy
from vitrine_gpu.server import Settings, create_app
from vitrine_gpu.server.app import GpuServer
from vitrine_gpu.server.model_store import read_current_heavy, registry_from_model_dir

pytestmark = pytest.mark.anyio
GUARD_S = 60.0

DOCS: list[dict[str, Any]] = [
    {
        "id": "B001",
        "title": "Stainless steel water bottle 32 oz",
        "brand": "Hydro",
        "color": "blue",
        "bullets": "Keeps drinks cold 24 hours\nLeak proof lid",
        "category": "Sports > Water Bottles",
    },
    {"id": "B002", "title": "Wireless bluetooth earbuds", "brand": "Soundz", "description": "Noise cancelling."},
    {"id": "B003", "title": "Kids water bottle with straw"},
    {"id": "B004", "title": "Cast iron skillet 12 inch", "brand": "", "color": "black"},
]
BODY: dict[str, Any] = {"query": "insulated water bottle", "documents": DOCS}


@asynccontextmanager
async def serve(config: Settings, *, wait_ready: bool = True) -> AsyncIterator[tuple[httpx.AsyncClient, GpuServer]]:
    app = create_app(config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gpu-tier") as client:
            if wait_ready:
                for _ in range(int(GUARD_S / 0.02)):
                    if (await client.get("/ping")).status_code == 200:
                        break
                    await asyncio.sleep(0.02)
                else:
                    raise AssertionError("server never became ready")
            yield client, app.state.server


def direct_scores(registry: Path, version: str, query: str, docs: list[dict[str, Any]]) -> list[float]:
    return load_heavy(registry / "heavy" / version, "cpu").score_batch([(query, d) for d in docs])


def cfg(registry: Path, **kw: Any) -> Settings:
    # fp32 scoring (no int8, fp32 term cache, no catalogue precompute) so scores match direct_scores exactly; the
    # serving defaults (int8 + float16 cache) are held to fp32 by test_term_cache.py and test_cpu_int8.py
    exact = {"cpu_int8": False, "term_cache_dtype": "float32", "term_cache_precompute": 0}
    return Settings(registry=registry, device="cpu", **{"max_batch_size": 64, "max_delay_ms": 2, **exact, **kw})


@pytest.fixture
async def gpu(tiny_registry) -> AsyncIterator[tuple[httpx.AsyncClient, GpuServer]]:  # type: ignore[no-untyped-def]
    async with serve(cfg(tiny_registry.path)) as pair:
        yield pair


@pytest.fixture(scope="module")
async def shared_gpu(tiny_registry) -> AsyncIterator[tuple[httpx.AsyncClient, GpuServer]]:  # type: ignore[no-untyped-def]
    """One server for the many stateless 4xx cases (tests that count metrics use `gpu`)."""
    async with serve(cfg(tiny_registry.path)) as pair:
        yield pair


# -- contract -------------------------------------------------------------------------------------------------------
async def test_ping_reports_device_and_loaded_default(gpu, tiny_registry) -> None:  # type: ignore[no-untyped-def]
    client, _ = gpu
    r = await client.get("/ping")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["device"] == "cpu"
    assert r.json()["models"] == [tiny_registry.current]


async def test_invocations_scores_every_document_in_order(gpu, tiny_registry) -> None:  # type: ignore[no-untyped-def]
    client, _ = gpu
    r = await client.post("/invocations", json=BODY)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == tiny_registry.current and body["device"] == "cpu"
    assert set(body["timing_ms"]) >= {"queue", "inference"} and body["timing_ms"]["inference"] >= 0
    want = direct_scores(tiny_registry.path, tiny_registry.current, BODY["query"], DOCS)
    assert body["scores"] == pytest.approx(want, abs=1e-4)
    assert len(set(round(s, 6) for s in body["scores"])) > 1  # not a constant
    assert r.headers["x-amzn-sagemaker-custom-attributes"] == f"model={tiny_registry.current}"


async def test_sdk_endpoint_route_matches_invocations(gpu) -> None:  # type: ignore[no-untyped-def]
    client, _ = gpu
    plain = (await client.post("/invocations", json=BODY)).json()
    r = await client.post(
        "/endpoints/vitrine-heavy-primary/invocations",
        content=json.dumps(BODY),
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Amzn-SageMaker-Target-Variant": "treatment",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["scores"] == pytest.approx(plain["scores"], abs=1e-5)
    assert r.headers["x-amzn-invoked-production-variant"] == "treatment"


async def test_custom_attributes_select_a_model_and_body_wins(gpu, tiny_registry) -> None:  # type: ignore[no-untyped-def]
    client, server = gpu
    hdr = {"X-Amzn-SageMaker-Custom-Attributes": f"trace=abc, model={tiny_registry.other}"}
    r = await client.post("/invocations", json=BODY, headers=hdr)
    assert r.status_code == 200, r.text
    assert r.json()["model"] == tiny_registry.other
    want = direct_scores(tiny_registry.path, tiny_registry.other, BODY["query"], DOCS)
    assert r.json()["scores"] == pytest.approx(want, abs=1e-4)
    assert sorted(server.store.loaded_versions()) == sorted([tiny_registry.current, tiny_registry.other])
    # The body's "model" beats the header.
    r2 = await client.post("/invocations", json={**BODY, "model": tiny_registry.current}, headers=hdr)
    assert r2.json()["model"] == tiny_registry.current
    assert r2.json()["scores"] != pytest.approx(r.json()["scores"], abs=1e-6)
    ping = (await client.get("/ping")).json()
    assert set(ping["models"]) == {tiny_registry.current, tiny_registry.other}


BAD_BODIES: list[tuple[str, Any]] = [
    ("malformed json", b'{"query": "x", "documents": ['),
    ("not an object", b"[1, 2]"),
    ("empty body", b""),
    ("missing query", {"documents": DOCS}),
    ("query not a string", {"query": 42, "documents": DOCS}),
    ("empty query", {"query": "", "documents": DOCS}),
    ("blank query", {"query": "   ", "documents": DOCS}),
    ("query too long", {"query": "x" * 501, "documents": DOCS}),
    ("no documents", {"query": "q", "documents": []}),
    ("documents not a list", {"query": "q", "documents": {"id": "a", "title": "t"}}),
    ("too many documents", {"query": "q", "documents": [{"id": str(i), "title": "t"} for i in range(257)]}),
    ("document without id", {"query": "q", "documents": [{"title": "t"}]}),
    ("document title not a string", {"query": "q", "documents": [{"id": "a", "title": 7}]}),
    ("document brand not a string", {"query": "q", "documents": [{"id": "a", "title": "t", "brand": ["x"]}]}),
    ("document not an object", {"query": "q", "documents": ["just a string"]}),
    ("model not a string", {**BODY, "model": 3}),
    ("model not a version name", {**BODY, "model": "../../etc/passwd"}),
]


@pytest.mark.parametrize("case,body", BAD_BODIES, ids=[c for c, _ in BAD_BODIES])
async def test_bad_input_is_a_400_json_error(shared_gpu, case: str, body: Any) -> None:  # type: ignore[no-untyped-def]
    client, _ = shared_gpu
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    for path in ("/invocations", "/endpoints/e/invocations"):
        r = await client.post(path, content=content, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (case, r.status_code, r.text)
        assert r.json()["error"] == "bad_request" and r.json()["message"], case


async def test_256_documents_and_500_char_query_are_accepted(shared_gpu) -> None:  # type: ignore[no-untyped-def]
    client, _ = shared_gpu
    body = {"query": "q" * 500, "documents": [{"id": str(i), "title": f"product {i}"} for i in range(256)]}
    r = await client.post("/invocations", json=body)
    assert r.status_code == 200, r.text
    assert len(r.json()["scores"]) == 256


async def test_unknown_model_is_404(shared_gpu) -> None:  # type: ignore[no-untyped-def]
    client, _ = shared_gpu
    r = await client.post("/invocations", json={**BODY, "model": "heavy-20990101000000-deadbeef"})
    assert r.status_code == 404 and r.json()["error"] == "model_not_found"
    r = await client.post("/invocations", json=BODY, headers={"X-Amzn-SageMaker-Custom-Attributes": "model=heavy-nope"})
    assert r.status_code == 404 and r.json()["error"] == "model_not_found"


async def test_other_http_errors_are_json(shared_gpu) -> None:  # type: ignore[no-untyped-def]
    client, _ = shared_gpu
    r = await client.post("/invocations", content=b"query,documents", headers={"Content-Type": "text/csv"})
    assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type"
    r = await client.get("/invocations")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    r = await client.get("/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


async def test_oversized_body_is_413(tiny_registry) -> None:  # type: ignore[no-untyped-def]
    async with serve(cfg(tiny_registry.path, max_body_bytes=1000)) as (client, _):
        r = await client.post("/invocations", json={"query": "q", "documents": [{"id": "a", "title": "t" * 2000}]})
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


# -- startup / model store --------------------------------------------------------------------------------------
async def test_ping_is_503_until_the_default_model_is_loaded(tiny_registry) -> None:  # type: ignore[no-untyped-def]
    gate = threading.Event()

    def slow_loader(version_dir: Path, device: str):  # type: ignore[no-untyped-def]
        assert gate.wait(GUARD_S)
        return load_heavy(version_dir, device)

    async with serve(cfg(tiny_registry.path, loader=slow_loader), wait_ready=False) as (client, _):
        r = await client.get("/ping")
        assert r.status_code == 503 and r.json()["status"] == "loading"
        pending = asyncio.create_task(client.post("/invocations", json=BODY))  # waits for the load, no error
        await asyncio.sleep(0.05)
        assert not pending.done()
        gate.set()
        r = await asyncio.wait_for(pending, GUARD_S)
        assert r.status_code == 200 and r.json()["model"] == tiny_registry.current
        assert (await client.get("/ping")).status_code == 200


async def test_empty_registry_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    async with serve(cfg(tmp_path), wait_ready=False) as (client, server):
        await asyncio.wait_for(server.startup_task, GUARD_S)  # type: ignore[arg-type]
        r = await client.get("/ping")
        assert r.status_code == 503 and r.json()["status"] == "unavailable"
        r = await client.post("/invocations", json=BODY)
        assert r.status_code == 503 and r.json()["error"] == "no_model"


async def test_on_demand_loads_are_shared_and_lru_bounded(make_registry) -> None:  # type: ignore[no-untyped-def]
    a, b, c = "heavy-20250101000000-aaaaaaaa", "heavy-20250102000000-bbbbbbbb", "heavy-20250103000000-cccccccc"
    reg = make_registry([a, b, c], current=a)
    async with serve(cfg(reg, max_models=2)) as (client, server):
        rs = await asyncio.gather(*(client.post("/invocations", json={**BODY, "model": b}) for _ in range(4)))
        assert [r.status_code for r in rs] == [200] * 4
        assert server.store.load_count == 2  # default + one shared load of b
        assert (await client.post("/invocations", json={**BODY, "model": c})).status_code == 200
        assert server.store.loaded_versions() == [a, c]  # b evicted; the default is pinned
        assert (await client.post("/invocations", json={**BODY, "model": b})).status_code == 200
        assert server.store.loaded_versions() == [a, b]
        assert server.store.load_count == 4


async def test_inference_failure_is_a_json_500_and_the_server_keeps_serving(tiny_registry) -> None:  # type: ignore[no-untyped-def]
    class Exploding:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def score_batch(self, pairs: list[tuple[str, dict[str, Any]]]) -> list[float]:
            if any(q == "explode" for q, _ in pairs):
                raise RuntimeError("CUDA out of memory (simulated)")
            return self.inner.score_batch(pairs)

    async with serve(cfg(tiny_registry.path, loader=lambda d, dev: Exploding(load_heavy(d, dev)))) as (client, _):
        r = await client.post("/invocations", json={**BODY, "query": "explode"})
        assert r.status_code == 500 and r.json()["error"] == "inference_failed"
        assert "out of memory" in r.json()["message"]
        assert (await client.post("/invocations", json=BODY)).status_code == 200


# -- batching through HTTP ------------------------------------------------------------------------------------------
async def test_concurrent_http_requests_share_batches(tiny_registry) -> None:  # type: ignore[no-untyped-def]
    entered, release = threading.Event(), threading.Event()
    calls: list[int] = []

    class GateFirst:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def score_batch(self, pairs: list[tuple[str, dict[str, Any]]]) -> list[float]:
            calls.append(len(pairs))
            if len(calls) == 1:
                entered.set()
                assert release.wait(GUARD_S)
            return self.inner.score_batch(pairs)

    loader = lambda d, dev: GateFirst(load_heavy(d, dev))  # noqa: E731
    queries = [f"query {i} water bottle" for i in range(10)]
    async with serve(cfg(tiny_registry.path, loader=loader, max_batch_size=256)) as (client, server):
        first = asyncio.create_task(client.post("/invocations", json=BODY))
        for _ in range(int(GUARD_S / 0.005)):
            if entered.is_set():
                break
            await asyncio.sleep(0.005)
        rest = [
            asyncio.create_task(client.post("/invocations", json={"query": q, "documents": DOCS[: 1 + i % 4]}))
            for i, q in enumerate(queries)
        ]
        want_pending = sum(1 + i % 4 for i in range(10))
        for _ in range(int(GUARD_S / 0.005)):
            if server.batcher.pending_pairs() == want_pending:
                break
            await asyncio.sleep(0.005)
        release.set()
        responses = await asyncio.wait_for(asyncio.gather(first, *rest), GUARD_S)
        metrics = (await client.get("/metrics")).text
    assert [r.status_code for r in responses] == [200] * 11
    assert calls == [len(DOCS), want_pending]  # 11 requests → 2 score_batch calls
    scorer = load_heavy(tiny_registry.path / "heavy" / tiny_registry.current, "cpu")
    for i, (q, r) in enumerate(zip(queries, responses[1:])):
        docs = DOCS[: 1 + i % 4]
        assert r.json()["scores"] == pytest.approx(scorer.score_batch([(q, d) for d in docs]), abs=1e-4)
    fams = {f.name: f for f in text_string_to_metric_families(metrics)}
    counts = {
        s.labels.get("model"): s.value
        for s in fams["vitrine_gpu_batch_size_pairs"].samples
        if s.name.endswith("_count")
    }
    assert counts[tiny_registry.current] == 2


# -- metrics --------------------------------------------------------------------------------------------------------
async def test_metrics_exposition(gpu, tiny_registry) -> None:  # type: ignore[no-untyped-def]
    client, _ = gpu
    assert (await client.post("/invocations", json=BODY)).status_code == 200
    assert (await client.post("/endpoints/x/invocations", json=BODY)).status_code == 200
    assert (await client.post("/invocations", content=b"{nope")).status_code == 400
    r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(r.text)
        for s in f.samples
    }
    assert samples[("vitrine_gpu_requests_total", (("route", "/invocations"), ("status", "200")))] == 1
    assert samples[("vitrine_gpu_requests_total", (("route", "/endpoints/{name}/invocations"), ("status", "200")))] == 1
    assert samples[("vitrine_gpu_requests_total", (("route", "/invocations"), ("status", "400")))] == 1
    assert samples[("vitrine_gpu_errors_total", (("kind", "bad_request"),))] == 1
    m = (("model", tiny_registry.current), ("task", "search"))
    assert samples[("vitrine_gpu_batch_size_pairs_count", m)] == 2
    assert samples[("vitrine_gpu_batch_size_pairs_sum", m)] == 2 * len(DOCS)
    assert samples[("vitrine_gpu_queue_seconds_count", m)] == 2
    assert samples[("vitrine_gpu_inference_seconds_count", m)] == 2
    assert samples[("vitrine_gpu_request_seconds_count", m)] == 2
    assert samples[("vitrine_gpu_pairs_scored_total", m)] == 2 * len(DOCS)
    assert samples[("vitrine_gpu_models_loaded", ())] == 1
    assert samples[("vitrine_gpu_model_loaded_info", (("device", "cpu"), ("version", tiny_registry.current)))] == 1
    assert samples[("vitrine_gpu_queue_pending_pairs", ())] == 0
    assert not any(name.startswith("vitrine_gpu_cuda_") for name, _ in samples)  # CPU: no GPU gauges


# -- the real process -----------------------------------------------------------------------------------------------
def test_cli_server_serves_over_real_http(tiny_registry, free_port, subprocess_env) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    args = f"server --host 127.0.0.1 --port {port} --device cpu --max-delay-ms 2 --log-level warning".split()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vitrine_gpu", *args],
        env=subprocess_env(VITRINE_REGISTRY=str(tiny_registry.path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + GUARD_S
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else "exited"
            try:
                if httpx.get(f"{base}/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.1)
        r = httpx.post(
            f"{base}/endpoints/vitrine-heavy/invocations",
            json=BODY,
            timeout=30,
            headers={"X-Amzn-SageMaker-Custom-Attributes": f"model={tiny_registry.other}"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["model"] == tiny_registry.other and len(r.json()["scores"]) == len(DOCS)
        assert httpx.post(f"{base}/invocations", content=b"[", timeout=10).status_code == 400
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


# -- SageMaker model dir mapping ------------------------------------------------------------------------------------
def test_model_dir_registry_is_used_as_is_and_a_single_version_is_linked(tiny_registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert registry_from_model_dir(tiny_registry.path, tmp_path / "scratch1") == tiny_registry.path
    single = tiny_registry.path / "heavy" / tiny_registry.other  # manifest.json at its root
    reg = registry_from_model_dir(single, tmp_path / "scratch2")
    assert read_current_heavy(reg) == [tiny_registry.other]
    assert (reg / "heavy" / tiny_registry.other / "manifest.json").is_file()
    with pytest.raises(FileNotFoundError):
        registry_from_model_dir(tmp_path, tmp_path / "scratch3")


async def test_packaged_model_tarball_serves_after_extraction(tiny_registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """infra/sagemaker/deploy_endpoint.py package → what SageMaker extracts to /opt/ml/model → the server."""

    path = Path(__file__).resolve().parents[2] / "infra" / "sagemaker" / "deploy_endpoint.py"
    spec = importlib.util.spec_from_file_location("deploy_endpoint", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    tar = mod.build_model_tarball(
        tiny_registry.path, [tiny_registry.other, tiny_registry.current], tmp_path / "model.tar.gz"
    )
    opt_ml_model = tmp_path / "opt-ml-model"
    with tarfile.open(tar) as t:
        t.extractall(opt_ml_model, filter="data")
    reg = registry_from_model_dir(opt_ml_model, tmp_path / "scratch")
    async with serve(cfg(reg)) as (client, _):
        ping = (await client.get("/ping")).json()
        assert ping["default"] == tiny_registry.other
        r = await client.post(
            "/invocations", json=BODY, headers={"X-Amzn-SageMaker-Custom-Attributes": f"model={tiny_registry.current}"}
        )
        assert r.status_code == 200 and r.json()["model"] == tiny_registry.current


async def test_abandoned_requests_are_not_scored(tiny_registry, free_port) -> None:  # type: ignore[no-untyped-def]
    """A client that disconnects (the edge's deadline fired) gets its pairs dropped from the queue: real uvicorn."""

    entered, release = threading.Event(), threading.Event()
    calls: list[list[str]] = []

    class GateFirst:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def score_batch(self, pairs: list[tuple[str, dict[str, Any]]]) -> list[float]:
            calls.append([q for q, _ in pairs])
            if len(calls) == 1:
                entered.set()
                assert release.wait(GUARD_S)
            return self.inner.score_batch(pairs)

    app = create_app(cfg(tiny_registry.path, loader=lambda d, dev: GateFirst(load_heavy(d, dev))))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    base = f"http://127.0.0.1:{port}"

    async def poll(cond, what: str) -> None:  # type: ignore[no-untyped-def]
        for _ in range(int(GUARD_S / 0.01)):
            if await cond():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}")

    try:
        async with httpx.AsyncClient(base_url=base, timeout=GUARD_S) as c:

            async def ready() -> bool:
                try:
                    return (await c.get("/ping")).status_code == 200
                except httpx.TransportError:
                    return False

            await poll(ready, "ping")
            first = asyncio.create_task(c.post("/invocations", json={**BODY, "query": "first"}))
            await poll(lambda: asyncio.to_thread(entered.is_set), "first batch")
            async with httpx.AsyncClient(base_url=base, timeout=GUARD_S) as c2:
                doomed = asyncio.create_task(c2.post("/invocations", json={**BODY, "query": "doomed"}))

                async def queued() -> bool:
                    return app.state.server.batcher.pending_pairs() == len(DOCS)

                await poll(queued, "doomed request queued")
                doomed.cancel()  # closes the connection mid-request
                await asyncio.gather(doomed, return_exceptions=True)

            async def closed() -> bool:
                return 'status="499"' in (await c.get("/metrics")).text

            await poll(closed, "the server to notice the disconnect")
            release.set()
            assert (await first).status_code == 200
            assert (await c.post("/invocations", json={**BODY, "query": "after"})).status_code == 200
    finally:
        release.set()
        server.should_exit = True
        await asyncio.wait_for(serving, GUARD_S)
    flat = [q for batch in calls for q in batch]
    assert "doomed" not in flat
    assert flat == ["first"] * len(DOCS) + ["after"] * len(DOCS)
