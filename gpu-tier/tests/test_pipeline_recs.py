"""The recommendation pipeline steps in their --reduced configuration (seeded synthetic store, small models):
registered versions, current.json, the step cache, and a servable sequence model."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from vitrine_gpu import paths, registry
from vitrine_gpu.pipeline import steps
from vitrine_gpu.recs.sequence import SeqRecModel


def test_reduced_recs_steps_register_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    monkeypatch.setattr(paths, "STATE", state)
    monkeypatch.setenv("VITRINE_REGISTRY", str(state / "registry"))

    src = steps.prepare_recs(reduced=True)
    assert src["files"] and all("synthetic" in f for f in src["files"])
    catalogue = json.loads((state / "recs" / "catalogue.json").read_text())
    assert len(catalogue) == src["products"] > 0

    light = steps.train_recs_light(reduced=True)
    heavy = steps.train_recs_heavy(reduced=True)
    cur = registry.read_current(state / "registry")
    assert cur["recs-light"] == light["version"] and cur["recs-heavy"] == heavy["version"]
    light_dir = registry.version_dir("recs-light", light["version"], state / "registry")
    assert {"model.onnx", "tables.json", "manifest.json"} <= {p.name for p in light_dir.iterdir()}

    # unchanged inputs: the step is skipped and returns the cached version
    cache_file = state / "pipeline" / "train-recs-heavy.json"
    before = cache_file.stat().st_mtime_ns
    assert steps.train_recs_heavy(reduced=True)["version"] == heavy["version"]
    assert cache_file.stat().st_mtime_ns == before

    model = SeqRecModel.load(registry.version_dir("recs-heavy", heavy["version"], state / "registry"))
    items = [c["id"] for c in catalogue[:5]]
    scores = model.score([(items[0], 15000.0), (items[1], 15010.0)], [*items, "NOT-A-CODE"], now=15020.0)
    assert scores.shape == (6,) and np.isfinite(scores).all()

    # the D1 export: applies on top of the repo's migrations and points recs_current at the version
    d1 = light["d1"]
    assert d1["version"] == light["version"] and d1["store"] == "online-retail"
    db = sqlite3.connect(":memory:")
    for m in sorted(paths.MIGRATIONS.glob("*.sql")):
        db.executescript(m.read_text())
    db.executescript((state / "recs" / "recs.sql").read_text())
    tables = json.loads((light_dir / "tables.json").read_text())
    n_hist = sum(len(rows) for rows in tables["history"].values())
    assert db.execute("SELECT count(*) FROM recs_history WHERE store = 'online-retail'").fetchone()[0] == n_hist
    assert db.execute("SELECT count(*) FROM recs_item_stats").fetchone()[0] == len(tables["items"])
    item, nbs = next(iter(tables["copurchase"].items()))
    got = db.execute(
        "SELECT neighbour_id, score FROM recs_neighbours WHERE kind = 'copurchase' AND item_id = ? ORDER BY rank",
        (item,),
    ).fetchall()
    assert [list(r) for r in got] == nbs
    assert (
        db.execute("SELECT model_version FROM recs_current WHERE store = 'online-retail'").fetchone()[0]
        == d1["version"]
    )
    assert db.execute("SELECT store FROM products LIMIT 0").fetchall() == []  # the column exists (default 'esci')
    assert {r[0] for r in db.execute("SELECT id FROM stores")} == {"esci", "online-retail"}
