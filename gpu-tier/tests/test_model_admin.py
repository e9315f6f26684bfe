"""Release routes of the GPU tier: POST /models/load (guarded), GET /models, signed per-version latency faults (the
drill header: a compact JWT, HS256, signed with the edge's DRILL_SECRET)."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from test_server import BODY, cfg, serve
from vitrine_gpu.server.model_admin import FaultBook, FaultClaims, sign_fault

pytestmark = pytest.mark.anyio
TOKEN = "gpu-admin-test-token"
SECRET = "drill-secret-test-" + "0" * 32  # HS256 keys are 32 bytes or more (as `openssl rand -hex 32` in .dev.vars)


def claims(version: str, latency_ms: int) -> dict[str, Any]:
    return {
        "run": "t",
        "scenario": "release_slow_model",
        "fault": {"version": version, "latencyMs": latency_ms, "ttlS": 60},
        "nonce": secrets.token_urlsafe(18),
    }


def fault_header(version: str, latency_ms: int, *, secret: str = SECRET, iat: int | None = None) -> str:
    return sign_fault(secret, claims(version, latency_ms), iat=iat)


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
            {"x-vitrine-drill": fault_header(tiny_registry.other, 400, secret="wrong-" + SECRET)},
            {"x-vitrine-drill": fault_header(tiny_registry.other, 400, iat=int(time.time()) - 60)},
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


def test_the_header_is_a_standard_hs256_jwt() -> None:
    header = fault_header("v", 100)
    assert jwt.get_unverified_header(header) == {"alg": "HS256", "typ": "JWT"}
    got = jwt.decode(header, SECRET, algorithms=["HS256"])
    assert set(got) == {"run", "scenario", "fault", "nonce", "iat", "exp"}
    assert got["exp"] == got["iat"] + 30 and abs(got["iat"] - time.time()) < 5
    checked = FaultBook(SECRET).verify(header)
    assert isinstance(checked, FaultClaims) and checked.fault.version == "v" and checked.fault.latencyMs == 100


def test_fault_book_reasons() -> None:
    book = FaultBook(SECRET)
    now = int(time.time())

    def mint(c: dict[str, Any], key: str = SECRET, algorithm: str = "HS256") -> str:
        return jwt.encode(c, key, algorithm=algorithm)

    ok = {**claims("v", 10), "iat": now, "exp": now + 30}
    assert book.verify(None) == "absent" and book.verify("") == "absent"
    for garbage in ("nope", "a.b.c", "v1.eyJ9.sig"):
        assert book.verify(garbage) == "malformed", garbage
    assert book.verify(mint(ok, key="another-secret-of-at-least-32-bytes!")) == "bad_signature"
    assert book.verify(jwt.encode(ok, "", algorithm="none")) == "bad_signature"  # unsigned
    assert book.verify(mint(ok, key=SECRET + SECRET, algorithm="HS512")) == "bad_signature"  # HS256 only
    assert book.verify(mint({**ok, "iat": now - 60, "exp": now - 30})) == "expired"
    assert book.verify(mint({**ok, "iat": now + 60, "exp": now + 90})) == "expired"  # issued in the future
    assert isinstance(book.verify(mint({**ok, "iat": now - 33, "exp": now - 3, "nonce": "n" * 16})), FaultClaims)
    for bad in (
        {k: v for k, v in ok.items() if k != "exp"},  # exp and iat are required
        {k: v for k, v in ok.items() if k != "iat"},
        {**ok, "scenario": "gpu_outage"},  # /faults takes release_slow_model only
        {**ok, "nonce": "short"},
        {**ok, "run": ""},
        {**ok, "extra": 1},
        {**ok, "fault": {"version": "v", "latencyMs": 60_001}},
        {**ok, "exp": now + 3600},  # lives longer than 30 s
        {**ok, "iat": float(now)},  # whole seconds
    ):
        assert book.verify(mint(bad)) == "malformed", bad
    header = mint(ok)
    assert isinstance(book.verify(header), FaultClaims)
    assert book.verify(header) == "replayed"
    assert book.verify(mint({**ok, "iat": now - 1, "exp": now + 29})) == "replayed"  # the nonce, not the token
