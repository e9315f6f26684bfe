"""Model registry (CONTRACTS.md C3): versioned directories with a manifest, plus current.json.

Layout::

    <REGISTRY>/{light,heavy,recs-light,recs-heavy}/<version>/manifest.json + files
    <REGISTRY>/current.json            {"light": "<v>", "heavy": "<v>", "recs-light": …}: the shipped defaults
    <REGISTRY>/stores.json             {"<store>": {"recs-light": "<v>", "recs-heavy": "<v>"}}: per-store production

A per-store model (``pipeline recs --store``) is a version like any other, in the same ``<kind>/<version>``
directories, whose manifest carries ``store``; registering one never touches current.json (the shipped defaults:
search models, the online-retail recs models). Its store's production version is ``stores.json``'s entry, written
only when a release promotes it (``set_store_current``).

To register a trained model, write its files into a scratch directory and call

    from vitrine_gpu.registry import register
    version = register("heavy", scratch_dir, {"backbone": ..., "max_tokens": ..., "weights": {...},
                                             "metrics": {...}}, data_hash=..., code_hash=...)

`register` copies every file of ``src_dir`` (recursively) into ``<REGISTRY>/heavy/<version>/``, records the sha256
of each file in the manifest and (by default) points current.json's "heavy" entry at the new version.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .settings import Settings

KINDS = ("light", "heavy", "recs-light", "recs-heavy")


def registry_dir() -> Path:
    """The registry root (settings.registry, read at call time: VITRINE_REGISTRY may change after import)."""
    return Settings().registry


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_files(files: Iterable[Path], root: Path | None = None) -> str:
    """A stable sha256 over (relative name, content) of files, sorted by name."""
    h = hashlib.sha256()
    items = sorted(files, key=lambda p: str(p.relative_to(root)) if root else str(p))
    for p in items:
        name = str(p.relative_to(root)) if root else p.name
        h.update(name.encode())
        h.update(b"\0")
        h.update(sha256_file(p).encode())
    return h.hexdigest()


def code_hash(*modules: str) -> str:
    """sha256 over the python sources of vitrine_gpu sub-packages/modules (e.g. "search/features", "recs")."""
    pkg = Path(__file__).resolve().parent
    files: list[Path] = []
    for m in modules:
        p = pkg / m
        if p.is_dir():
            files += [f for f in p.rglob("*.py")]
        elif p.with_suffix(".py").exists():
            files.append(p.with_suffix(".py"))
    return hash_files(files, pkg)


def _files_of(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.is_file() and p.name != "manifest.json")


def register(
    kind: str,
    src_dir: Path | str,
    manifest_extra: dict[str, Any] | None = None,
    *,
    data_hash: str = "",
    code_hash: str = "",
    set_current: bool = True,
    registry: Path | None = None,
) -> str:
    """Copy ``src_dir`` into the registry as a new version of ``kind`` ("light"|"heavy"); return the version id.

    Registering files identical to an existing version returns (and, with set_current, selects) that version.

    The manifest holds {version, kind, created, data_hash, code_hash, metrics, files: {name: sha256}} plus
    ``manifest_extra`` (which may also carry "metrics", "data_hash", "code_hash").
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    src = Path(src_dir)
    if not src.is_dir():
        raise FileNotFoundError(src)
    reg = registry or registry_dir()
    extra = dict(manifest_extra or {})
    files = _files_of(src)
    if not files:
        raise ValueError(f"{src} holds no files")
    content = hash_files(files, src)
    digests = {str(f.relative_to(src)): sha256_file(f) for f in files}
    for old in list_versions(kind, reg):  # identical files already registered: reuse that version
        if old.endswith(f"-{content[:8]}") and read_manifest(kind, old, reg).get("files") == digests:
            if set_current:
                set_current_version(kind, old, registry=reg)
            return old
    now = _dt.datetime.now(_dt.UTC)
    version = f"{kind}-{now.strftime('%Y%m%d%H%M%S')}-{content[:8]}"
    dest = reg / kind / version
    if dest.exists():  # same content registered within the same second
        return version
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=_ensure(reg / kind)))
    for f in files:
        rel = f.relative_to(src)
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, tmp / rel)
    manifest: dict[str, Any] = {
        "version": version,
        "kind": kind,
        "created": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "data_hash": extra.pop("data_hash", data_hash),
        "code_hash": extra.pop("code_hash", code_hash),
        "metrics": extra.pop("metrics", {}),
        "files": digests,
    }
    manifest.update(extra)
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.rename(dest)
    if set_current:
        set_current_version(kind, version, registry=reg)
    return version


def _ensure(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    return d


def read_current(registry: Path | None = None) -> dict[str, str]:
    p = (registry or registry_dir()) / "current.json"
    return json.loads(p.read_text()) if p.exists() else {}


def set_current_version(kind: str, version: str, registry: Path | None = None) -> None:
    reg = registry or registry_dir()
    if not (reg / kind / version / "manifest.json").exists():
        raise FileNotFoundError(f"{kind} version {version} is not in {reg}")
    cur = read_current(reg)
    cur[kind] = version
    _ensure(reg)
    tmp = reg / "current.json.tmp"
    tmp.write_text(json.dumps(cur, indent=2, sort_keys=True) + "\n")
    tmp.replace(reg / "current.json")


STORES_FILE = "stores.json"


def read_stores(registry: Path | None = None) -> dict[str, dict[str, str]]:
    """stores.json: store -> {kind: production version} (empty when no per-store version was ever promoted)."""
    p = (registry or registry_dir()) / STORES_FILE
    return json.loads(p.read_text()) if p.exists() else {}


def set_store_current(store: str, kind: str, version: str, registry: Path | None = None) -> None:
    """Record ``version`` as ``store``'s production ``kind`` in stores.json (current.json is left alone)."""
    reg = registry or registry_dir()
    if not (reg / kind / version / "manifest.json").exists():
        raise FileNotFoundError(f"{kind} version {version} is not in {reg}")
    stores = read_stores(reg)
    stores.setdefault(store, {})[kind] = version
    _write_stores(stores, reg)


def clear_store_current(store: str, kind: str, registry: Path | None = None) -> bool:
    """Drop ``store``'s stores.json entry for ``kind`` (its production is current.json's again: the shipped store
    rolled back from a version retrained from D1 to a file-trained one). Whether there was one."""
    reg = registry or registry_dir()
    stores = read_stores(reg)
    if kind not in stores.get(store, {}):
        return False
    del stores[store][kind]
    _write_stores({k: v for k, v in stores.items() if v}, reg)
    return True


def _write_stores(stores: dict[str, dict[str, str]], reg: Path) -> None:
    tmp = reg / (STORES_FILE + ".tmp")
    tmp.write_text(json.dumps(stores, indent=2, sort_keys=True) + "\n")
    tmp.replace(reg / STORES_FILE)


def store_versions(kind: str, store: str, registry: Path | None = None) -> list[str]:
    """Versions of ``kind`` whose manifest names ``store`` (per-store models), oldest first."""
    return [v for v in list_versions(kind, registry) if read_manifest(kind, v, registry).get("store") == store]


def version_dir(kind: str, version: str, registry: Path | None = None) -> Path:
    return (registry or registry_dir()) / kind / version


def read_manifest(kind: str, version: str, registry: Path | None = None) -> dict[str, Any]:
    return json.loads((version_dir(kind, version, registry) / "manifest.json").read_text())


def list_versions(kind: str, registry: Path | None = None) -> list[str]:
    """Versions of ``kind``, oldest first (ids sort by creation time)."""
    d = (registry or registry_dir()) / kind
    if not d.is_dir():
        return []
    return sorted(p.name for p in d.iterdir() if (p / "manifest.json").exists() and not p.name.startswith("."))


def verify(kind: str, version: str, registry: Path | None = None) -> list[str]:
    """Names of files whose sha256 does not match the manifest (missing files included); [] when intact."""
    d = version_dir(kind, version, registry)
    man = read_manifest(kind, version, registry)
    bad = []
    for name, digest in man["files"].items():
        p = d / name
        if not p.exists() or sha256_file(p) != digest:
            bad.append(name)
    return bad
