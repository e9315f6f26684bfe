"""Release routes of the GPU tier (gpu-tier/README.md "Model releases"; CONTRACTS.md C4):

- ``GET /models`` — the loaded, pinned and default versions of each kind, and the active injected faults.
- ``POST /models/load`` ``{kind: "heavy"|"recs-heavy", version, default?: bool}`` with ``Authorization: Bearer
  <VITRINE_GPU_ADMIN_TOKEN>`` — loads a registered version beside the ones serving (in the load thread: requests for
  loaded versions keep being answered), warms it up and answers ``{kind, version, loadedMs, loaded}``. ``default:
  true`` (a promotion) also makes it the version served to requests that name none. Errors are 4xx JSON: 401 bad
  token, 403 ``admin_disabled`` (no token configured: the route is off, a client error, never a 5xx), 400 bad body or version, 404 unknown version, 422
  ``model_load_failed`` (a corrupt or incompatible model directory).
- ``POST /faults`` with an ``X-Vitrine-Drill`` header: a compact JWT, HS256, signed with the edge's ``DRILL_SECRET``
  (the edge's drill header, edge/drills/header.ts, minted with hono/jwt) whose claims are ``{run, scenario:
  "release_slow_model", fault: {version, latencyMs, ttlS}, nonce, iat, exp}`` (iat and exp in whole seconds since
  the epoch, exp = iat + 30; verified with 5 s of leeway; the nonce is single-use): every request for that version
  waits ``latencyMs`` before scoring, for ``ttlS`` seconds (``latencyMs: 0`` clears it). Requests for other versions
  are untouched, and no field of an ordinary request can set a fault.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Mapping
from typing import Any, Literal

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .model_store import InvalidModelVersion, ModelLoadError, ModelNotFound, ModelStore

DRILL_HEADER = "x-vitrine-drill"
DRILL_ALGORITHM = "HS256"
HEADER_TTL_S = 30  # exp = iat + 30: a header is honoured for 30 s
LEEWAY_S = 5  # clock skew tolerated on exp and iat; a used nonce is remembered until exp + LEEWAY_S
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


class FaultClaims(BaseModel):
    """The drill header's claims (exactly these: anything else is malformed)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    run: str = Field(min_length=1, max_length=64)
    scenario: Literal["release_slow_model"]
    fault: LatencyFault
    nonce: str = Field(pattern=r"^[A-Za-z0-9_-]{16,64}$")
    iat: int
    exp: int


def sign_fault(secret: str, claims: Mapping[str, Any], iat: int | None = None) -> str:
    """Mint a header value (tests and tools; the edge mints the same JWT with hono/jwt): ``claims`` (run, scenario,
    fault, nonce) with ``iat`` (default: now) and ``exp`` = iat + 30, HS256 with ``secret``."""
    issued = int(time.time()) if iat is None else iat
    return jwt.encode({**claims, "iat": issued, "exp": issued + HEADER_TTL_S}, secret, algorithm=DRILL_ALGORITHM)


class FaultBook:
    """Active per-version latency faults and the nonces already used (in memory, pruned as they expire)."""

    def __init__(self, secret: str | None) -> None:
        self.secret = secret
        self.faults: dict[str, tuple[float, float]] = {}  # version -> (seconds, expires at monotonic)
        self._nonces: dict[str, float] = {}  # used nonce -> when to forget it (epoch seconds)

    def verify(self, value: str | None) -> FaultClaims | str:
        """The claims of a valid header, else why not: ``no_secret``, ``absent``, ``malformed``, ``bad_signature``
        (another key, or not HS256), ``expired`` (past exp, or iat in the future, beyond the leeway), ``replayed``."""
        if not self.secret:
            return "no_secret"
        if not value:
            return "absent"
        try:
            raw = jwt.decode(
                value, self.secret, algorithms=[DRILL_ALGORITHM], options={"require": ["exp", "iat"]}, leeway=LEEWAY_S
            )
            claims = FaultClaims.model_validate(raw)
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError):
            return "bad_signature"
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
            return "expired"
        except (jwt.InvalidTokenError, ValidationError):
            return "malformed"
        if claims.exp - claims.iat > HEADER_TTL_S:  # a header lives 30 s, whoever signed it
            return "malformed"
        now = time.time()
        self._nonces = {n: t for n, t in self._nonces.items() if t > now}
        if claims.nonce in self._nonces:
            return "replayed"
        self._nonces[claims.nonce] = claims.exp + LEEWAY_S
        return claims

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
