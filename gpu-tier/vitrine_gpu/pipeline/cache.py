"""Step cache: .vitrine/pipeline/<step>.json = {"input_hash": ..., "result": ...}."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .. import paths


def cache_dir() -> Path:
    return paths.STATE / "pipeline"


def input_hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def cached(step: str, h: str) -> dict[str, Any] | None:
    p = cache_dir() / f"{step}.json"
    if not p.exists():
        return None
    rec = json.loads(p.read_text())
    return rec.get("result") if rec.get("input_hash") == h else None


def store(step: str, h: str, result: dict[str, Any]) -> None:
    d = cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{step}.json").write_text(json.dumps({"input_hash": h, "result": result}, indent=2, default=str) + "\n")
