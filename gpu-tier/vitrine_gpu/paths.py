"""Where things live. Everything generated goes under <repo>/.vitrine (git-ignored); datasets are read in place.
The locations that can move (VITRINE_STATE, VITRINE_REGISTRY, VITRINE_SHARED) come from vitrine_gpu/settings.py."""

from __future__ import annotations

from pathlib import Path

from .settings import REPO, Settings

_settings = Settings()
STATE = _settings.state
REGISTRY = _settings.registry
CATALOG = STATE / "catalog"
MIGRATIONS = REPO / "migrations"
RETRIEVE_SQL = REPO / "edge" / "search" / "retrieve.sql"
CANDIDATES_SQL = REPO / "edge" / "search" / "candidates.sql"
STORE_INDEX_SQL = REPO / "edge" / "catalog" / "store-index.sql"
EDGE_GENERATED = REPO / "edge" / "generated"


def recs_dir() -> Path:
    """<state>/recs: the recommendation store's prepared files and the D1 SQL (read at call time: tests move STATE)."""
    return STATE / "recs"


def shared_dir() -> Path | None:
    """../shared next to the checkout (CI and developers), or VITRINE_SHARED; None without a datasets/ folder."""
    cand = Settings().shared
    return cand if (cand / "datasets").is_dir() else None


def esci_dir() -> Path | None:
    s = shared_dir()
    d = s / "datasets" / "esci_us_150q" if s else None
    return d if d and (d / "products.jsonl.gz").exists() else None
