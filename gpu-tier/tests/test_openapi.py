"""The gpu-tier's OpenAPI 3.1 description (GET /openapi.json): valid, every route described, request and response
bodies as pydantic models (components), errors as ErrorBody. Fuzzed against a running server by
test/integration/fuzz.test.mjs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from openapi_spec_validator import validate
from vitrine_gpu.server import Settings, create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def app(tiny_registry: Any) -> Any:
    return create_app(Settings(registry=tiny_registry.path), preload=False)


async def test_openapi_document_is_valid_and_describes_every_route(app: Any) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gpu") as client:
        r = await client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    served = {(route.path, m.lower()) for route in app.routes if isinstance(route, APIRoute) for m in route.methods}
    described = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert served == described
    schemas = doc["components"]["schemas"]
    for name in ("InvocationRequest", "HeavyDocument", "RecommendRequest", "InvocationResponse", "PingResponse"):
        assert name in schemas, name
    for path in ("/invocations", "/endpoints/{name}/invocations"):
        op = doc["paths"][path]["post"]
        body = op["requestBody"]["content"]["application/json"]["schema"]
        refs = {alt["$ref"] for alt in body["anyOf"]}
        assert refs == {"#/components/schemas/InvocationRequest", "#/components/schemas/RecommendRequest"}
        assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/InvocationResponse"
        }
        for status in ("400", "404", "413", "503"):
            assert op["responses"][status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorBody"
            }
        assert "422" not in op["responses"]
    assert "text/plain" in doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
