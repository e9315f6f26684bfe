"""Small JSON-over-HTTP clients for the release CLI: the edge's admin API and the GPU tier's release routes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families


class HttpError(RuntimeError):
    def __init__(self, status: int, body: Any, url: str) -> None:
        msg = body.get("message") or body.get("error") if isinstance(body, dict) else str(body)[:300]
        super().__init__(f"{url}: HTTP {status}: {msg}")
        self.status, self.body = status, body


def call(method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 30.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("accept", "application/json")
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            raw = res.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            parsed: Any = json.loads(raw)
        except ValueError:
            parsed = raw.decode(errors="replace")
        raise HttpError(exc.code, parsed, url) from None
    return json.loads(raw) if raw else None


class EdgeAdmin:
    """The edge's release API (CONTRACTS.md C6): create, list, tick, read, abort, rollback."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base.rstrip("/"), token

    def health(self) -> Any:
        return call("GET", f"{self.base}/healthz", timeout=10)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return call("POST", f"{self.base}/admin/releases", body, self.token)

    def list(self, limit: int = 50) -> dict[str, Any]:
        return call("GET", f"{self.base}/admin/releases?limit={limit}", None, self.token)

    def tick(self, rid: str) -> dict[str, Any]:
        return call("POST", f"{self.base}/admin/releases/{rid}/tick", {}, self.token, timeout=60)

    def get(self, rid: str) -> dict[str, Any]:
        return call("GET", f"{self.base}/admin/releases/{rid}", None, self.token)

    def abort(self, rid: str, reason: str) -> Any:
        return call("POST", f"{self.base}/admin/releases/{rid}/abort", {"reason": reason}, self.token)

    def rollback(self, body: dict[str, Any]) -> dict[str, Any]:
        return call("POST", f"{self.base}/admin/releases/rollback", body, self.token)


class GpuAdmin:
    """One GPU-tier endpoint's release routes (gpu-tier/README.md "Model releases")."""

    def __init__(self, base: str, token: str | None) -> None:
        self.base, self.token = base.rstrip("/"), token

    def load(self, kind: str, version: str, default: bool = False) -> dict[str, Any]:
        body = {"kind": kind, "version": version, "default": default}
        return call("POST", f"{self.base}/models/load", body, self.token, timeout=600)

    def models(self) -> dict[str, Any]:
        return call("GET", f"{self.base}/models", timeout=10)

    def warmup(self, version: str) -> dict[str, float]:
        """The term-cache precompute gauges of one loaded version from /metrics: ``done``, ``total``, ``finished``
        (absent keys: the version has no precompute, e.g. a recommendation model)."""
        req = urllib.request.Request(f"{self.base}/metrics", headers={"accept": "text/plain"})
        with urllib.request.urlopen(req, timeout=10) as res:
            text = res.read().decode()
        prefix = "vitrine_gpu_term_cache_precompute_"
        return {
            s.name.removeprefix(prefix): s.value
            for fam in text_string_to_metric_families(text)
            for s in fam.samples
            if s.name.startswith(prefix) and s.labels.get("model") == version
        }
