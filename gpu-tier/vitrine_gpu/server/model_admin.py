"""Release routes of the GPU tier (gpu-tier/README.md "Model releases"; CONTRACTS.md C4):

- ``GET /models`` — the loaded, pinned and default versions of each kind, and the active injected faults.
- ``POST /models/load`` ``{kind: "heavy"|"recs-heavy", version, default?: bool}`` with ``Authorization: Bearer
  <VITRINE_GPU_ADMIN_TOKEN>`` — loads a registered version beside the ones serving (in the load thread: requests for
  loaded versions keep being answered), warms it up and answers ``{kind, version, loadedMs, loaded}``. ``default:
  true`` (a promotion) also makes it the version served to requests that name none. Errors are 4xx JSON: 401 bad
  token, 403 ``admin_disabled`` (no token configured: the route is off, a client error, never a 5xx), 400 bad body or version, 404 unknown version, 422
  ``model_load_failed`` (a corrupt or incompatible model directory).
- ``POST /faults`` with an ``X-Vitrine-Drill`` header signed with the edge's ``DRILL_SECRET`` (the format of
  edge/drills/header.ts: ``v1.<b64url(payload)>.<b64url(HMAC-SHA256)>``, honoured 30 s, nonce single-use) whose
  payload is ``{run, scenario: "release_slow_model", fault: {version, latencyMs, ttlS}, ts, nonce}``: every request for
  that version waits ``latencyMs`` before scoring, for ``ttlS`` seconds (``latencyMs: 0`` clears it). Requests for
  other versions are untouched, and no field of an ordinary request can set a fault.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .model_store import InvalidModelVersion, ModelLoadError, ModelNotFound, ModelStore

DRILL_HEADER = "x-vitrine-drill"
HEADER_TTL_MS = 30_000
FUTURE_SKEW_MS = 5_000
MAX_FAULT_TTL_S = 900
MAX_FAULT_LATENCY_MS = 60_000
SCENARIO = "release_slow_model"


class LoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    kind: Literal["heavy", "recs-heavy"] = "heavy"
    version: str = Field(min_length=1, max_length=128)
    default: bool = False


class LatencyFault(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    version: str = Field(min_length=1, max_length=128)
    latencyMs: int = Field(ge=0, le=MAX_FAULT_LATENCY_MS)  # noqa: N815 - the wire name
    ttlS: int = Field(default=300, ge=1, le=MAX_FAULT_TTL_S)  # noqa: N815 - the wire name


class FaultPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    run: str = Field(min_length=1, max_length=64)
    scenario: Literal["release_slow_model"]
    fault: LatencyFault
    ts: int = Field(gt=0)
    nonce: str = Field(pattern=r"^[A-Za-z0-9_-]{16,64}$")


def _b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign_fault(secret: str, payload: dict[str, Any]) -> str:
    """Mint a header value (the release CLI and tests; the edge's signDrillHeader writes the same format)."""
    body = "v1." + _b64url(json.dumps(payload, separators=(",", ":")).encode())
    sig = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64url(sig)}"


class FaultBook:
    """Active per-version latency faults and the nonces already used (in memory, pruned as they expire)."""

    def __init__(self, secret: str | None) -> None:
        self.secret = secret
        self.faults: dict[str, tuple[float, float]] = {}  # version -> (seconds, expires at monotonic)
        self._nonces: dict[str, float] = {}

    def verify(self, value: str | None, now_ms: int | None = None) -> FaultPayload | str:
        """The payload of a valid header, else why not (a short reason)."""
        if not self.secret:
            return "no_secret"
        if not value:
            return "absent"
        now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        parts = value.split(".")
        if len(parts) != 3 or parts[0] != "v1":
            return "malformed"
        try:
            sig = _b64url_decode(parts[2])
            raw = _b64url_decode(parts[1])
        except ValueError:
            return "malformed"
        want = hmac.new(self.secret.encode(), f"v1.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(sig, want):
            return "bad_signature"
        try:
            payload = FaultPayload.model_validate(json.loads(raw))
        except (ValueError, ValidationError):
            return "malformed"
        if payload.ts > now_ms + FUTURE_SKEW_MS or now_ms - payload.ts > HEADER_TTL_MS:
            return "expired"
        self._nonces = {n: t for n, t in self._nonces.items() if t > now_ms}
        if payload.nonce in self._nonces:
            return "replayed"
        self._nonces[payload.nonce] = payload.ts + HEADER_TTL_MS + FUTURE_SKEW_MS
        return payload

    def apply(self, fault: LatencyFault) -> None:
        if fault.latencyMs == 0:
            self.faults.pop(fault.version, None)
        else:
            self.faults[fault.version] = (fault.latencyMs / 1000, time.monotonic() + fault.ttlS)

    def latency_for(self, version: str) -> float:
        f = self.faults.get(version)
        if f is None:
            return 0.0
        if time.monotonic() >= f[1]:
            self.faults.pop(version, None)
            return 0.0
        return f[0]

    def active(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [
            {"version": v, "latencyMs": round(s * 1000), "expiresInS": round(until - now, 1)}
            for v, (s, until) in self.faults.items()
            if until > now
        ]


class ActiveFault(BaseModel):
    version: str
    latencyMs: int  # noqa: N815 - the wire name
    expiresInS: float  # noqa: N815 - the wire name


class LoadedVersions(BaseModel):
    default: str | None = Field(description="the version served to requests that name none")
    pinned: list[str]
    loaded: list[str]


class ModelsResponse(BaseModel):
    models: dict[str, LoadedVersions] = Field(description="registry kind (heavy, recs-heavy) → its versions")
    faults: list[ActiveFault]


class LoadResponse(LoadedVersions):
    kind: str
    version: str
    loadedMs: float  # noqa: N815 - the wire name


class FaultsResponse(BaseModel):
    run: str
    faults: list[ActiveFault]


class AdminError(BaseModel):
    error: str
    message: str


def _errors(**codes: str) -> dict[int | str, dict[str, Any]]:
    return {int(code[1:]): {"model": AdminError, "description": d} for code, d in codes.items()}


def _body(model: type[BaseModel]) -> dict[str, Any]:
    """An OpenAPI requestBody for a route that reads its body itself (its errors stay 400 JSON, never FastAPI's 422)."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _err(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status)


def _describe(store: ModelStore) -> dict[str, Any]:
    return {"default": store.default_version, "pinned": list(store.pinned), "loaded": store.loaded_versions()}


def register_model_admin(
    app: FastAPI, stores: dict[str, ModelStore], admin_token: str | None, faults: FaultBook
) -> None:
    """Add the release routes to the app; `stores` maps a registry kind to the store that serves it."""
    for store in stores.values():
        store.latency_for = faults.latency_for

    @app.get("/models", response_model=ModelsResponse)
    async def list_models() -> JSONResponse:
        return JSONResponse({"models": {k: _describe(s) for k, s in stores.items()}, "faults": faults.active()})

    @app.post(
        "/models/load",
        response_model=LoadResponse,
        openapi_extra=_body(LoadRequest),
        responses=_errors(
            s400="bad body or version",
            s401="missing or wrong Bearer VITRINE_GPU_ADMIN_TOKEN",
            s404="unknown version",
            s422="model_load_failed: a corrupt or incompatible model directory",
            s403="admin_disabled: no VITRINE_GPU_ADMIN_TOKEN configured (the route is off)",
        ),
    )
    async def load_model(request: Request) -> JSONResponse:
        if not admin_token:
            return _err(403, "admin_disabled", "VITRINE_GPU_ADMIN_TOKEN is not set on this server")
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {admin_token}".encode()):
            return _err(401, "unauthorized", "a valid Authorization: Bearer <VITRINE_GPU_ADMIN_TOKEN> is required")
        try:
            req = LoadRequest.model_validate(json.loads(await request.body() or b"null"))
        except (ValueError, ValidationError) as exc:
            return _err(400, "bad_request", f"body must be {{kind, version, default?}}: {exc}".splitlines()[0])
        store = stores[req.kind]
        t0 = time.perf_counter()
        try:
            await store.get(req.version)
        except InvalidModelVersion as exc:
            return _err(400, "bad_request", str(exc))
        except ModelNotFound as exc:
            return _err(404, "model_not_found", str(exc))
        except ModelLoadError as exc:
            return _err(422, "model_load_failed", str(exc))
        if req.default:
            store.pin(req.version)
        return JSONResponse(
            {
                "kind": req.kind,
                "version": req.version,
                "loadedMs": round((time.perf_counter() - t0) * 1000, 1),
                **_describe(store),
            }
        )

    @app.post(
        "/faults",
        response_model=FaultsResponse,
        responses=_errors(s403="fault_not_signed: no valid signed X-Vitrine-Drill header"),
    )
    async def inject_fault(request: Request) -> JSONResponse:
        check = faults.verify(request.headers.get(DRILL_HEADER))
        if isinstance(check, str):
            return _err(403, "fault_not_signed", f"a signed {DRILL_HEADER} header is required ({check})")
        faults.apply(check.fault)
        return JSONResponse({"run": check.run, "faults": faults.active()})
