"""Heavy-model versions held in memory: loaded from the registry on demand, LRU-bounded, several at once (A/B).

Registry layout (CONTRACTS.md C3): <registry>/heavy/<version>/manifest.json + files, <registry>/current.json
{"light": ..., "heavy": "<version>"}. Loading runs in a worker thread so the event loop keeps serving /ping and
requests for models that are already loaded; concurrent requests for the same version share one load.

One store serves one registry kind: ``heavy`` (the search cross-encoder, the default) or ``recs-heavy`` (the
recommendation sequence model, ``{"task": "recommend"}``): <registry>/<kind>/<version>, current.json[<kind>].
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, Protocol

from ..settings import DEFAULT_MAX_MODELS

log = logging.getLogger("vitrine_gpu.server.models")

# Version ids look like heavy-YYYYMMDDHHMMSS-<hash8>; accept any plain directory name but never a path.
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class Scorer(Protocol):
    """What the server needs from a model (search.heavy.model.HeavyScorer, recommend.RecsScorer); loaders.py makes them."""

    def score_batch(self, pairs: list[tuple[str, dict[str, Any]]]) -> list[float]: ...


Loader = Callable[[Path, str], Scorer]


class InvalidModelVersion(ValueError):
    """The version string can not be a registry version (bad characters)."""


class ModelNotFound(LookupError):
    """No such heavy version in the registry."""


class ModelLoadError(RuntimeError):
    """The version exists but failed to load."""


def read_current_heavy(registry: Path, kind: str = "heavy") -> list[str]:
    """Versions of `kind` named by current.json (a string or a list); [] when absent."""
    path = registry / "current.json"
    if not path.is_file():
        return []
    try:
        cur = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        log.warning("unreadable %s: %s", path, exc)
        return []
    heavy = cur.get(kind) if isinstance(cur, dict) else None
    if isinstance(heavy, str) and heavy:
        return [heavy]
    if isinstance(heavy, list):
        return [v for v in heavy if isinstance(v, str) and v]
    return []


def list_heavy_versions(registry: Path, kind: str = "heavy") -> list[str]:
    """Every `kind` version directory with a manifest, oldest first (version ids embed a timestamp)."""
    root = registry / kind
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "manifest.json").is_file() and _VERSION_RE.match(p.name))


class ModelStore:
    """LRU cache of loaded heavy scorers keyed by version.

    `pinned` versions (the defaults from current.json) are never evicted; other versions are loaded when a request
    names them and evicted least-recently-used first once more than `max_loaded` are held. A batch already running
    keeps its own reference to an evicted scorer, so eviction never breaks in-flight work.
    """

    def __init__(
        self,
        registry: Path,
        device: str,
        *,
        max_loaded: int = DEFAULT_MAX_MODELS,
        loader: Loader,
        executor: Executor | None = None,
        kind: str = "heavy",
    ) -> None:
        if max_loaded < 1:
            raise ValueError("max_loaded must be >= 1")
        self.registry = registry
        self.kind = kind
        self.device = device
        self.max_loaded = max_loaded
        self._loader = loader
        self._executor = executor
        self._models: OrderedDict[str, Scorer] = OrderedDict()
        self._loading: dict[str, asyncio.Future[Scorer]] = {}
        self.pinned: list[str] = []
        self.load_count = 0  # loads performed (tests and metrics)
        self.on_change: Callable[[], None] | None = None
        # seconds to wait before serving `version` (a signed release fault, server/model_admin.py); None = no faults
        self.latency_for: Callable[[str], float] | None = None

    # -- queries -------------------------------------------------------------------------------------------------
    @property
    def default_version(self) -> str | None:
        return self.pinned[0] if self.pinned else None

    def loaded_versions(self) -> list[str]:
        return list(self._models.keys())

    def is_loaded(self, version: str) -> bool:
        return version in self._models

    def version_dir(self, version: str) -> Path:
        if not _VERSION_RE.match(version):
            raise InvalidModelVersion(f"invalid model version {version!r}")
        d = self.registry / self.kind / version
        if not (d / "manifest.json").is_file():
            raise ModelNotFound(f"unknown model version {version!r}")
        return d

    # -- loading -------------------------------------------------------------------------------------------------
    def resolve_defaults(self) -> list[str]:
        """current.json's heavy versions, else the newest heavy version in the registry."""
        versions = read_current_heavy(self.registry, self.kind)
        if not versions:
            newest = list_heavy_versions(self.registry, self.kind)[-1:]
            if newest:
                log.warning("no %s version in %s/current.json; using newest %s", self.kind, self.registry, newest[0])
            versions = newest
        self.pinned = versions[: self.max_loaded]
        return self.pinned

    async def load_defaults(self) -> list[str]:
        for v in self.resolve_defaults():
            await self.get(v)
        return self.pinned

    async def get(self, version: str) -> Scorer:
        """The scorer for `version`, loading it if needed. Raises InvalidModelVersion / ModelNotFound / ModelLoadError."""
        delay = self.latency_for(version) if self.latency_for else 0.0
        if delay > 0:  # an injected per-version fault: this request waits, other versions' requests do not
            await asyncio.sleep(delay)
        scorer = self._models.get(version)
        if scorer is not None:
            self._models.move_to_end(version)
            return scorer
        pending = self._loading.get(version)
        if pending is None:
            version_dir = self.version_dir(version)  # raises before any work for unknown versions
            pending = asyncio.get_running_loop().create_future()
            self._loading[version] = pending
            try:
                scorer = await self._load(version, version_dir)
            except BaseException as exc:
                err = exc if isinstance(exc, ModelLoadError) else ModelLoadError(f"failed to load {version}: {exc}")
                if not isinstance(exc, asyncio.CancelledError):
                    pending.set_exception(err)
                    pending.exception()  # mark retrieved: other waiters may not exist
                else:
                    pending.cancel()
                raise err from exc
            finally:
                self._loading.pop(version, None)
            pending.set_result(scorer)
            return scorer
        return await asyncio.shield(pending)

    async def _load(self, version: str, version_dir: Path) -> Scorer:
        loop = asyncio.get_running_loop()
        log.info("loading %s model %s on %s", self.kind, version, self.device)
        scorer = await loop.run_in_executor(self._executor, self._loader, version_dir, self.device)
        self.load_count += 1
        self._models[version] = scorer
        self._models.move_to_end(version)
        self._evict()
        log.info("loaded %s model %s (%d held)", self.kind, version, len(self._models))
        if self.on_change:
            self.on_change()
        return scorer

    def pin(self, version: str) -> None:
        """Make a loaded `version` the default (first pinned; never evicted) — a promoted release."""
        self.pinned = [version, *[v for v in self.pinned if v != version]][: self.max_loaded]

    def _evict(self) -> None:
        while len(self._models) > self.max_loaded:
            victim = next((v for v in self._models if v not in self.pinned), None)
            if victim is None:
                return
            del self._models[victim]
            log.info("evicted %s model %s", self.kind, victim)


def registry_from_model_dir(model_dir: Path, scratch: Path) -> Path:
    """Map a SageMaker model directory (/opt/ml/model, the extracted model.tar.gz) to a registry.

    Accepted layouts: a registry (current.json and/or heavy/<version>/...) is used as is; a single version directory
    (manifest.json at its root) is linked as <scratch>/heavy/<version> with a current.json naming it.
    """
    if (model_dir / "current.json").is_file() or (model_dir / "heavy").is_dir():
        return model_dir
    manifest_path = model_dir / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(
            f"{model_dir}: neither a registry (current.json, heavy/) nor a model version (manifest.json)"
        )
    manifest = json.loads(manifest_path.read_text())
    version = str(manifest.get("version") or "heavy-model") if isinstance(manifest, dict) else "heavy-model"
    if not _VERSION_RE.match(version):
        raise InvalidModelVersion(f"invalid version {version!r} in {manifest_path}")
    link = scratch / "heavy" / version
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(model_dir.resolve(), target_is_directory=True)
    (scratch / "current.json").write_text(json.dumps({"heavy": version}))
    return scratch
