"""FastAPI app speaking the SageMaker container contract (CONTRACTS.md C4; the JSON contract is in gpu-tier/README.md,
"HTTP contract").

Routes: GET /ping, POST /invocations, POST /endpoints/{name}/invocations (what the AWS SDK calls when its endpoint
is pointed at this server), GET /metrics. Every error is JSON {"error", "message"}; bad input is always a 4xx.

Two tasks share the invocation routes, the batcher and the model-store code: a body without `task` (or with
`"task": "search"`) scores query-document pairs with a `heavy` version; `"task": "recommend"` scores a user's
candidates with a `recs-heavy` sequence model (`server/recommend.py`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..search.heavy.term_cache import TermCache
from ..settings import Settings
from .admission import DEADLINE_ATTRIBUTE, DeadlineExpired, InvalidDeadline, Overloaded, parse_deadline_ms
from .batcher import BatcherClosed, BatchFailed, DynamicBatcher
from .loaders import load_recs, make_heavy_loader, resolve_device
from .model_admin import FaultBook, register_model_admin
from .model_store import (
    InvalidModelVersion,
    ModelLoadError,
    ModelNotFound,
    ModelStore,
    registry_from_model_dir,
)
from .openapi import INVOCATION_RESPONSES, METRICS_RESPONSES, PING_RESPONSES, InvocationResponse, PingResponse, describe
from .prom import CONTENT_TYPE, ServerMetrics
from .recommend import RecommendRequest, request_pairs
from .resources import ShedRateReporter

log = logging.getLogger("vitrine_gpu.server")

CUSTOM_ATTRIBUTES = "x-amzn-sagemaker-custom-attributes"
TARGET_VARIANT = "x-amzn-sagemaker-target-variant"
INVOKED_VARIANT = "X-Amzn-Invoked-Production-Variant"

MAX_QUERY_CHARS = 500
MAX_FIELD_CHARS = 65_536


# -- request schema ------------------------------------------------------------------------------------------------
class HeavyDocument(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    id: str = Field(min_length=1, max_length=256)
    title: str = Field(max_length=MAX_FIELD_CHARS)
    brand: str | None = Field(default=None, max_length=MAX_FIELD_CHARS)
    color: str | None = Field(default=None, max_length=MAX_FIELD_CHARS)
    bullets: str | None = Field(default=None, max_length=MAX_FIELD_CHARS)
    description: str | None = Field(default=None, max_length=MAX_FIELD_CHARS)


class InvocationRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    documents: list[HeavyDocument] = Field(min_length=1)
    model: str | None = Field(default=None, min_length=1, max_length=128)

    @field_validator("query")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("query must contain a non-space character")
        return v


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers


def _validation_message(exc: ValidationError | RequestValidationError) -> str:
    parts = []
    for e in exc.errors()[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        parts.append(f"{loc}: {e.get('msg', 'invalid')}")
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def parse_custom_attributes(raw: str | None) -> dict[str, str]:
    """`model=<v>, deadline-ms=<ms>` (`k=v` pairs separated by , or ;) → {"model": "<v>", "deadline-ms": "<ms>"}."""
    out: dict[str, str] = {}
    if not raw:
        return out
    for part in re.split(r"[;,]", raw):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            out[key.strip().lower()] = value.strip()
    return out


async def _wait_for_disconnect(request: Request) -> None:
    """Returns once the client has disconnected (the body has already been read, so receive() only reports that)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _error(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)


# -- app -----------------------------------------------------------------------------------------------------------
class GpuServer:
    """State shared by the routes: device, model store, batcher, metrics."""

    def __init__(self, config: Settings) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.max_batch_size = config.batch_size_for(self.device)
        self.load_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vitrine-load")
        self.infer_executor = ThreadPoolExecutor(
            max_workers=max(1, config.inference_threads), thread_name_prefix="vitrine-infer"
        )
        self.term_cache = TermCache(config.term_cache_bytes, config.term_cache_dtype)
        self.store = ModelStore(
            config.registry,
            self.device,
            max_loaded=config.max_models,
            loader=config.loader or make_heavy_loader(self.max_batch_size, config, self.term_cache),
            executor=self.load_executor,
        )
        self.recs_store = ModelStore(
            config.registry,
            "cpu",  # the sequence model is small: its batches run on the CPU next to the GPU's cross-encoder
            max_loaded=config.max_models,
            loader=load_recs,
            executor=self.load_executor,
            kind="recs-heavy",
        )
        self.batcher = DynamicBatcher(
            max_batch_size=self.max_batch_size,
            max_delay_ms=config.max_delay_ms,
            executor=self.infer_executor,
            admission=config.admission,
            max_queue_ms=config.max_queue_ms,
        )
        self.metrics = ServerMetrics(
            self.device,
            lambda: self.store.loaded_versions() + self.recs_store.loaded_versions(),
            self.batcher.pending_pairs,
            self.batcher.queued_requests,
        )
        self.batcher.on_admission = self.metrics.observe_admission
        self.metrics.watch_term_cache(self.term_cache)
        self.batcher.on_batch = self.metrics.observe_batch
        self.batcher.on_queue_time = self.metrics.observe_queue
        # on SageMaker: the shed rate to CloudWatch once a minute (the autoscaling alarm's metric; resources.py)
        self.shed_reporter = ShedRateReporter.from_env(self.metrics.admission_totals)

        def _models_changed() -> None:
            self.metrics.model_loads.inc()
            self.metrics.refresh_models()

        self.store.on_change = _models_changed
        self.recs_store.on_change = _models_changed
        self._request_ids = itertools.count()
        self.startup_error: str | None = None
        self.startup_task: asyncio.Task[None] | None = None

    async def load_defaults(self) -> None:
        try:
            versions = await self.store.load_defaults()
            if not versions:
                self.startup_error = f"no heavy model in {self.config.registry} (current.json or heavy/*)"
                log.error(self.startup_error)
        except Exception as exc:  # noqa: BLE001 - /ping reports it
            self.startup_error = f"failed to load the default heavy model: {exc}"
            log.exception("startup load failed")
        try:  # optional: search serving does not wait for it; a recommend request loads on demand and reports errors
            await self.recs_store.load_defaults()
        except Exception:  # noqa: BLE001 - logged; requests naming the version get the error
            log.exception("loading the default recs-heavy model failed")

    def ready(self) -> bool:
        d = self.store.default_version
        return d is not None and self.store.is_loaded(d)

    async def close(self) -> None:
        if self.startup_task and not self.startup_task.done():
            self.startup_task.cancel()
        if self.shed_reporter:
            self.shed_reporter.stop()
        await self.batcher.close()
        await asyncio.get_running_loop().run_in_executor(None, self.term_cache.close)
        self.infer_executor.shutdown(wait=False, cancel_futures=True)
        self.load_executor.shutdown(wait=False, cancel_futures=True)

    # -- invocation --------------------------------------------------------------------------------------------
    def parse(self, request: Request, body: bytes) -> tuple[InvocationRequest | RecommendRequest, str]:
        ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if ctype and not (ctype == "application/json" or ctype.endswith("+json") or ctype == "*/*"):
            raise ApiError(415, "unsupported_media_type", f"Content-Type must be application/json, got {ctype!r}")
        if not body:
            raise ApiError(400, "bad_request", "request body is empty")
        try:
            obj = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "bad_request", f"body is not valid JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise ApiError(400, "bad_request", "body must be a JSON object")
        task = obj.get("task", "search")
        if task not in ("search", "recommend"):
            raise ApiError(400, "bad_request", f"task: must be 'search' or 'recommend', got {task!r}")
        if task == "recommend":
            try:
                rec = RecommendRequest.model_validate(obj)
            except ValidationError as exc:
                raise ApiError(400, "bad_request", _validation_message(exc)) from exc
            version = rec.model or parse_custom_attributes(request.headers.get(CUSTOM_ATTRIBUTES)).get("model")
            if not version:  # the default: current.json's recs-heavy (resolved again: it may be registered after start)
                version = self.recs_store.default_version or next(iter(self.recs_store.resolve_defaults()), None)
            if version is None:
                raise ApiError(503, "no_model", "no recs-heavy model in the registry (run the train-recs-heavy step)")
            return rec, version
        try:
            req = InvocationRequest.model_validate(obj)
        except ValidationError as exc:
            raise ApiError(400, "bad_request", _validation_message(exc)) from exc
        if len(req.documents) > self.config.max_documents:
            raise ApiError(
                400,
                "bad_request",
                f"documents: at most {self.config.max_documents} per request, got {len(req.documents)}",
            )
        version = req.model or parse_custom_attributes(request.headers.get(CUSTOM_ATTRIBUTES)).get("model") or None
        version = version or self.store.default_version
        if version is None:
            raise ApiError(503, "no_model", self.startup_error or "no default heavy model is loaded yet")
        return req, version

    async def invoke(self, request: Request) -> Response:
        started = time.perf_counter()
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.config.max_body_bytes:
            raise ApiError(413, "payload_too_large", f"body over {self.config.max_body_bytes} bytes")
        try:  # the caller's remaining budget, relative to this request's arrival
            deadline_ms = parse_deadline_ms(
                parse_custom_attributes(request.headers.get(CUSTOM_ATTRIBUTES)).get(DEADLINE_ATTRIBUTE)
            )
        except InvalidDeadline as exc:
            raise ApiError(400, "bad_request", str(exc)) from exc
        deadline = None if deadline_ms is None else started + deadline_ms / 1000.0
        body = await request.body()
        if len(body) > self.config.max_body_bytes:
            raise ApiError(413, "payload_too_large", f"body over {self.config.max_body_bytes} bytes")
        req, version = self.parse(request, body)
        task = "recommend" if isinstance(req, RecommendRequest) else "search"
        store = self.recs_store if task == "recommend" else self.store
        # A version still loading (e.g. the default right after start) is awaited: loads are shared.
        try:
            scorer = await store.get(version)
        except InvalidModelVersion as exc:
            raise ApiError(400, "bad_request", str(exc)) from exc
        except ModelNotFound as exc:
            raise ApiError(404, "model_not_found", str(exc)) from exc
        except ModelLoadError as exc:
            raise ApiError(500, "model_load_failed", str(exc)) from exc
        if isinstance(req, RecommendRequest):
            pairs = request_pairs(f"r{next(self._request_ids)}", req)
        else:
            pairs = [(req.query, d.model_dump(exclude_none=True)) for d in req.documents]
        # Race the scoring against the client going away (e.g. the edge's deadline fired): an abandoned request is
        # dropped from the queue instead of spending GPU time on an answer nobody reads.
        scoring = asyncio.ensure_future(self.batcher.score(version, scorer, pairs, task=task, deadline=deadline))
        gone = asyncio.ensure_future(_wait_for_disconnect(request))
        try:
            await asyncio.wait({scoring, gone}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            scoring.cancel()
            raise
        finally:
            gone.cancel()
        if not scoring.done():
            scoring.cancel()
            raise ApiError(499, "client_closed_request", "client disconnected before scoring finished")
        try:
            result = scoring.result()
        except BatchFailed as exc:
            raise ApiError(500, "inference_failed", str(exc)) from exc
        except BatcherClosed as exc:
            raise ApiError(503, "shutting_down", str(exc)) from exc
        except Overloaded as exc:
            raise ApiError(503, "overloaded", str(exc), {"Retry-After": exc.retry_after_header}) from exc
        except DeadlineExpired as exc:
            raise ApiError(503, "deadline_exceeded", str(exc), {"Retry-After": "1"}) from exc
        total = time.perf_counter() - started
        self.metrics.request_seconds.labels(task, version).observe(total)
        headers = {CUSTOM_ATTRIBUTES: f"model={version}"}
        variant = request.headers.get(TARGET_VARIANT)
        if variant:
            headers[INVOKED_VARIANT] = variant
        return JSONResponse(
            {
                "model": version,
                "task": task,
                "scores": result.scores,
                "device": self.device,
                "timing_ms": {
                    "queue": round(result.queue_s * 1000, 3),
                    "inference": round(result.inference_s * 1000, 3),
                    "total": round(total * 1000, 3),
                },
            },
            headers=headers,
        )


def create_app(config: Settings | None = None, *, preload: bool = True) -> FastAPI:
    """Build the app. With `preload`, the startup lifespan starts loading current.json's heavy versions in the
    background (/ping answers 503 until the default is loaded)."""
    server = GpuServer(config or Settings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if preload:
            server.startup_task = asyncio.create_task(server.load_defaults(), name="load-default-models")
        try:
            yield
        finally:
            await server.close()

    app = FastAPI(
        title="vitrine GPU tier", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url="/openapi.json"
    )
    app.state.server = server
    describe(app, InvocationRequest)

    @app.middleware("http")
    async def count_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        try:
            response = await call_next(request)
        except Exception:  # noqa: BLE001 - last resort: JSON 500, counted
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            server.metrics.errors.labels("internal").inc()
            response = _error(500, "internal", "internal server error")
        route = request.scope.get("route")
        path = getattr(route, "path", None) or "other"
        server.metrics.requests.labels(path, str(response.status_code)).inc()
        return response

    @app.exception_handler(ApiError)
    async def _api_error(_req: Request, exc: ApiError) -> JSONResponse:
        server.metrics.errors.labels(exc.error).inc()
        return _error(exc.status, exc.error, exc.message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        server.metrics.errors.labels("bad_request").inc()
        return _error(400, "bad_request", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        server.metrics.errors.labels(kind).inc()
        return _error(exc.status_code, kind, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.get("/ping", response_model=PingResponse, responses=PING_RESPONSES)
    async def ping() -> JSONResponse:
        body: dict[str, Any] = {
            "device": server.device,
            "models": server.store.loaded_versions(),
            "recommend_models": server.recs_store.loaded_versions(),
            "batching": {"max_batch_size": server.max_batch_size, "max_delay_ms": server.config.max_delay_ms},
        }
        if server.ready():
            return JSONResponse({"status": "ok", **body, "default": server.store.default_version})
        loading = server.startup_task is not None and not server.startup_task.done()
        status = "loading" if loading or server.startup_error is None else "unavailable"
        return JSONResponse(
            {"status": status, **body, "message": server.startup_error or "loading the default model"}, status_code=503
        )

    @app.post("/invocations", response_model=InvocationResponse, responses=INVOCATION_RESPONSES)
    async def invocations(request: Request) -> Response:
        return await server.invoke(request)

    @app.post("/endpoints/{name}/invocations", response_model=InvocationResponse, responses=INVOCATION_RESPONSES)
    async def endpoint_invocations(name: str, request: Request) -> Response:  # noqa: ARG001 - any endpoint name
        return await server.invoke(request)

    @app.get("/metrics", responses=METRICS_RESPONSES)
    async def metrics() -> Response:
        return Response(server.metrics.render(), media_type=CONTENT_TYPE)

    # releases: GET /models, POST /models/load (admin token), POST /faults (signed) — server/model_admin.py
    stores = {"heavy": server.store, "recs-heavy": server.recs_store}
    register_model_admin(app, stores, server.config.gpu_admin_token, FaultBook(server.config.drill_secret))
    return app


def serve(settings: Settings) -> None:
    """``python -m vitrine_gpu server``: logging, a SageMaker model dir mapped to a registry, then uvicorn (one process
    on purpose: the batcher can only coalesce requests it sees, and one GPU runs one batch at a time)."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.model_dir is not None:
        registry = registry_from_model_dir(settings.model_dir, Path(tempfile.mkdtemp(prefix="vitrine-registry-")))
        log.info("model dir %s -> registry %s", settings.model_dir, registry)
        settings = settings.model_copy(update={"registry": registry})
    app = create_app(settings)
    # keep-alive longer than SageMaker's 60 s idle connection reuse, as its container guide asks.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=settings.access_log,
        timeout_keep_alive=75,
    )
