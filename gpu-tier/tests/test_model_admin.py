"""Release routes of the GPU tier: POST /models/load (guarded), GET /models, signed per-version latency faults."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from test_server import BODY, cfg, serve
from vitrine_gpu.server.model_admin import FaultBook, sign_fault

pytestmark = pytest.mark.anyio
TOKEN = "gpu-admin-test-token"
SECRET = "drill-secret-test"


def fault_header(version: str, latency_ms: int, *, secret: str = SECRET, ts: int | None = None) -> str:
    return sign_fault(
        secret,
        {
            "run": "t",
            "scenario": "release_slow_model",
            "fault": {"version": version, "latencyMs": latency_ms, "ttlS": 60},
            "ts": ts if ts is not None else int(time.time() * 1000),
            "nonce": secrets.token_urlsafe(18),
        },
    )


def admin_cfg(registry: Path, **kw: Any) -> Any:
    return cfg(registry, gpu_admin_token=TOKEN, drill_secret=SECRET, **kw)


async def test_load_is_guarded_and_loads_beside_the_serving_version(tiny_registry) -> None:  # type: ignore[no-untyped-def]
    async with serve(admin_cfg(tiny_registry.path)) as (client, server):
        body = {"kind": "heavy", "version": tiny_registry.other}
        assert (await client.post("/models/load", json=body)).status_code == 401
        bad = await client.post("/models/load", json=body, headers={"authorization": "Bearer nope"})
        assert bad.status_code == 401 and bad.json()["error"] == "unauthorized"
        auth = {"authorization": f"Bearer {TOKEN}"}
        # requests for the serving version keep being answered while the other version loads
        load = asyncio.ensure_future(client.post("/models/load", json=body, headers=auth))
        served = await client.post("/invocations", json=BODY)
        assert served.status_code == 200 and served.json()["model"] == tiny_registry.current
        res = await load
        assert res.status_code == 200, res.text
        out = res.json()
        assert out["version"] == tiny_registry.other and out["loadedMs"] >= 0
        assert set(out["loaded"]) == {tiny_registry.current, tiny_registry.other}
        assert out["default"] == tiny_registry.current  # loading is not promoting
        listed = (await client.get("/models")).json()["models"]["heavy"]
        assert set(listed["loaded"]) == {tiny_registry.current, tiny_registry.other}
        promoted = await client.post("/models/load", json={**body, "default": True}, headers=auth)
        assert promoted.json()["default"] == tiny_registry.other
        assert (await client.post("/invocations", json=BODY)).json()["model"] == tiny_registry.other
        for bad_body, status in (
            ({"kind": "heavy", "version": "no-such-version"}, 404),
            ({"kind": "heavy", "version": "../etc"}, 400),
            ({"kind": "light", "version": tiny_registry.other}, 400),
            ({"version": tiny_registry.other, "extra": 1}, 400),
        ):
            r = await client.post("/models/load", json=bad_body, headers=auth)
            assert r.status_code == status, (bad_body, r.text)
            assert r.json()["error"]


async def test_load_without_a_token_configured_is_refused(tiny_registry) -> None:  # type: ignore[no-untyped-def]
    async with serve(cfg(tiny_registry.path)) as (client, _):
        r = await client.post(
            "/models/load", json={"version": tiny_registry.other}, headers={"authorization": "Bearer "}
        )
        assert r.status_code == 403 and r.json()["error"] == "admin_disabled"


async def test_corrupt_weights_are_a_422_and_the_server_keeps_serving(tiny_registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    reg = tmp_path / "reg"
    shutil.copytree(tiny_registry.path, reg)
    bad = reg / "heavy" / tiny_registry.other
    (bad / "model.safetensors").write_bytes(b"\x00garbage" * 1000)
    async with serve(admin_cfg(reg)) as (client, _):
        r = await client.post(
            "/models/load", json={"version": tiny_registry.other}, headers={"authorization": f"Bearer {TOKEN}"}
        )
        assert r.status_code == 422 and r.json()["error"] == "model_load_failed"
        assert (await client.post("/invocations", json=BODY)).status_code == 200


async def test_signed_latency_fault_slows_only_that_version(tiny_registry) -> None:  # type: ignore[no-untyped-def]
    async with serve(admin_cfg(tiny_registry.path)) as (client, _):
        slow = {**BODY, "model": tiny_registry.other}
        assert (await client.post("/invocations", json=slow)).status_code == 200  # loaded before timing
        # unsigned, badly signed, stale: refused, no fault
        for headers in (
            {},
            {"x-vitrine-drill": fault_header(tiny_registry.other, 400, secret="wrong")},
            {"x-vitrine-drill": fault_header(tiny_registry.other, 400, ts=int(time.time() * 1000) - 60_000)},
        ):
            r = await client.post("/faults", headers=headers)
            assert r.status_code == 403 and r.json()["error"] == "fault_not_signed"
        assert (await client.get("/models")).json()["faults"] == []
        header = fault_header(tiny_registry.other, 400)
        r = await client.post("/faults", headers={"x-vitrine-drill": header})
        assert r.status_code == 200 and r.json()["faults"][0]["version"] == tiny_registry.other
        assert (await client.post("/faults", headers={"x-vitrine-drill": header})).status_code == 403  # replay

        async def timed(body: dict[str, Any]) -> float:
            t = time.perf_counter()
            assert (await client.post("/invocations", json=body)).status_code == 200
            return time.perf_counter() - t

        assert await timed(slow) >= 0.4
        assert await timed(BODY) < 0.4  # the baseline version is untouched
        r = await client.post("/faults", headers={"x-vitrine-drill": fault_header(tiny_registry.other, 0)})
        assert r.json()["faults"] == []
        assert await timed(slow) < 0.4


def test_fault_book_without_a_secret_honours_nothing() -> None:
    book = FaultBook(None)
    assert book.verify(fault_header("v", 100)) == "no_secret"
    assert book.latency_for("v") == 0.0
