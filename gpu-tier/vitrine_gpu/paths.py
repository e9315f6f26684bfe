"""Where things live. Everything generated goes under <repo>/.vitrine (git-ignored); datasets are read in place."""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("VITRINE_STATE", REPO / ".vitrine"))
REGISTRY = Path(os.environ.get("VITRINE_REGISTRY", STATE / "registry"))
CATALOG = STATE / "catalog"
MIGRATIONS = REPO / "migrations"
RETRIEVE_SQL = REPO / "edge" / "search" / "retrieve.sql"
CANDIDATES_SQL = REPO / "edge" / "search" / "candidates.sql"
EDGE_GENERATED = REPO / "edge" / "generated"


def shared_dir() -> Path | None:
    """../shared next to the checkout (CI and developers), or VITRINE_SHARED."""
    env = os.environ.get("VITRINE_SHARED")
    cand = Path(env) if env else REPO.parent / "shared"
    return cand if (cand / "datasets").is_dir() else None


def esci_dir() -> Path | None:
    s = shared_dir()
    d = s / "datasets" / "esci_us_150q" if s else None
    return d if d and (d / "products.jsonl.gz").exists() else None
