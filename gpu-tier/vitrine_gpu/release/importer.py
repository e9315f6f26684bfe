"""``--from-dir``: validate a model directory built elsewhere (e.g. by a SageMaker training job), then register it.

A directory is refused (``ImportRefused`` with the reason) when a file its kind needs is missing, when its
``manifest.json`` lists files whose sha256 does not match, or when a config file is not the JSON its loader reads.
Weights that pass these checks may still be unloadable or rank badly: the offline gate loads and scores them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import registry

REQUIRED: dict[str, tuple[str, ...]] = {
    "heavy": ("heavy_config.json", "encoder_config.json", "model.safetensors", "tokenizer_config.json"),
    "light": ("model.onnx", "parity.json"),
    "recs-heavy": ("config.json", "model.pt", "vocab.json"),
    "recs-light": ("model.onnx", "parity.json", "ranker.json", "tables.json"),
}
CONFIGS: dict[str, tuple[str, ...]] = {
    "heavy": ("heavy_config.json", "encoder_config.json"),
    "light": ("parity.json",),
    "recs-heavy": ("config.json", "vocab.json"),
    "recs-light": ("parity.json", "ranker.json"),
}
# manifest fields the registry writes itself; everything else (features, training, metrics...) is kept
_REGISTRY_FIELDS = ("version", "kind", "created", "files")


class ImportRefused(ValueError):
    """The directory can not become a release candidate; str(exc) says why."""


def validate_dir(kind: str, src: Path) -> dict[str, Any]:
    """The directory's manifest (``{}`` without one) once its files, hashes and configs check out."""
    if kind not in REQUIRED:
        raise ImportRefused(f"unknown kind {kind!r}")
    if not src.is_dir():
        raise ImportRefused(f"{src} is not a directory")
    missing = [f for f in REQUIRED[kind] if not (src / f).is_file()]
    if missing:
        raise ImportRefused(f"{kind} model directory {src} lacks {', '.join(missing)}")
    manifest: dict[str, Any] = {}
    if (src / "manifest.json").is_file():
        try:
            manifest = json.loads((src / "manifest.json").read_text())
        except ValueError as exc:
            raise ImportRefused(f"manifest.json is not JSON: {exc}") from exc
        if not isinstance(manifest, dict):
            raise ImportRefused("manifest.json is not a JSON object")
        if manifest.get("kind") not in (None, kind):
            raise ImportRefused(f"manifest.json says kind {manifest.get('kind')!r}, not {kind!r}")
        files = manifest.get("files") or {}
        bad = [n for n, digest in files.items() if not (src / n).is_file() or registry.sha256_file(src / n) != digest]
        if bad:
            raise ImportRefused(f"sha256 mismatch against manifest.json: {', '.join(sorted(bad))}")
    for name in CONFIGS[kind]:
        try:
            json.loads((src / name).read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise ImportRefused(f"{name} is not valid JSON: {exc}") from exc
    return manifest


def import_dir(kind: str, src: Path, registry_root: Path | None = None) -> str:
    """Validate and register ``src`` (without selecting it: current.json changes only on promotion)."""
    manifest = validate_dir(kind, src)
    extra = {k: v for k, v in manifest.items() if k not in _REGISTRY_FIELDS}
    extra["imported_from"] = str(src)
    if manifest.get("version"):
        extra["imported_version"] = manifest["version"]
    return registry.register(kind, src, extra, set_current=False, registry=registry_root)
