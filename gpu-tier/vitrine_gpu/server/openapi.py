"""The gpu-tier's API description (OpenAPI 3.1 at GET /openapi.json), from pydantic models.

The invocation routes read their body themselves (size limit first, then the task decides the model:
`InvocationRequest` or `RecommendRequest`), so FastAPI cannot infer the request body: `describe(app)` adds it from
the same pydantic models, with their definitions under components/schemas. Responses are the models below; every
error is `ErrorBody`.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field, TypeAdapter

from .recommend import RecommendRequest


class ErrorBody(BaseModel):
    error: str = Field(description="machine-readable code, e.g. bad_request, model_not_found, payload_too_large")
    message: str


class Timing(BaseModel):
    queue: float
    inference: float
    total: float


class InvocationResponse(BaseModel):
    model: str = Field(description="the model version that scored (also in x-amzn-sagemaker-custom-attributes)")
    task: Literal["search", "recommend"]
    scores: list[float] = Field(description="one score per document (search) or candidate (recommend), in order")
    device: str
    timing_ms: Timing


class Batching(BaseModel):
    max_batch_size: int
    max_delay_ms: float


class PingResponse(BaseModel):
    status: Literal["ok", "loading", "unavailable"]
    device: str
    models: list[str]
    recommend_models: list[str]
    batching: Batching
    default: str | None = None
    message: str | None = None


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


INVOCATION_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("invalid body (names the field), too many documents, or a malformed model version"),
    404: _error("the requested model version is not in the registry"),
    413: _error("body over VITRINE_MAX_BODY_BYTES"),
    499: _error("the client disconnected before scoring finished (nobody reads this answer)"),
    500: _error("the model failed to load or to score"),
    503: _error(
        "no model loaded yet, shutting down, or admission control: `overloaded` (would miss its deadline-ms, with Retry-After) / `deadline_exceeded` (its deadline passed while queued)"
    ),
}
PING_RESPONSES: dict[int | str, dict[str, Any]] = {503: {"model": PingResponse, "description": "not ready"}}
METRICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Prometheus text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}
}

INVOCATION_PATHS = ("/invocations", "/endpoints/{name}/invocations")


def describe(app: FastAPI, invocation_request: type[BaseModel]) -> None:
    """Serve an OpenAPI 3.1 document whose invocation routes carry their request body schema."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, routes=app.routes, openapi_version="3.1.0")
        either = cast(Any, invocation_request | RecommendRequest)  # a union built at run time: not a static type
        body = TypeAdapter(either).json_schema(ref_template="#/components/schemas/{model}")
        defs = body.pop("$defs", {})
        doc.setdefault("components", {}).setdefault("schemas", {}).update(defs)
        for path in INVOCATION_PATHS:
            op = doc["paths"][path]["post"]
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
            # FastAPI's default 422 never happens: validation errors answer 400 (ErrorBody)
            op["responses"].pop("422", None)
        for comp in ("HTTPValidationError", "ValidationError"):
            doc["components"]["schemas"].pop(comp, None)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
