"""CONTRACTS.md C3 registry: versioned dirs, manifest with sha256 per file, current.json, export of models.js and seed.sql."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from vitrine_gpu import paths, registry
from vitrine_gpu.pipeline.export import (
    DEFAULT_BLEND_WEIGHT,
    DEFAULT_BLEND_WEIGHT_BY_BACKBONE,
    blend_weight,
    export_edge,
)
from vitrine_gpu.pipeline.steps import train_and_register_light
from vitrine_gpu.search import catalog, synthetic
from vitrine_gpu.search.features import FEATURE_NAMES, NUM_FEATURES
from vitrine_gpu.search.light.train import LightConfig


def _src(tmp: Path, payload: bytes = b"weights") -> Path:
    d = tmp / "src"
    (d / "sub").mkdir(parents=True)
    (d / "model.bin").write_bytes(payload)
    (d / "sub" / "config.json").write_text("{}")
    return d


def test_register_writes_manifest_with_file_hashes(tmp_path: Path) -> None:
    reg = tmp_path / "reg"
    v = registry.register(
        "heavy",
        _src(tmp_path),
        {"backbone": "tiny", "metrics": {"ndcg": 0.5}},
        data_hash="d" * 64,
        code_hash="c" * 64,
        registry=reg,
    )
    assert re.fullmatch(r"heavy-\d{14}-[0-9a-f]{8}", v)
    man = registry.read_manifest("heavy", v, reg)
    assert man["version"] == v and man["kind"] == "heavy" and man["backbone"] == "tiny"
    assert man["metrics"] == {"ndcg": 0.5} and man["data_hash"] == "d" * 64 and man["code_hash"] == "c" * 64
    assert set(man["files"]) == {"model.bin", "sub/config.json"}
    assert man["files"]["model.bin"] == registry.sha256_file(reg / "heavy" / v / "model.bin")
    assert registry.read_current(reg) == {"heavy": v}
    assert registry.verify("heavy", v, reg) == []
    (reg / "heavy" / v / "model.bin").write_bytes(b"tampered")
    assert registry.verify("heavy", v, reg) == ["model.bin"]
    with pytest.raises(ValueError):
        registry.register("medium", _src(tmp_path / "x"), registry=reg)


def test_set_current_rejects_unknown_versions(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        registry.set_current_version("light", "light-20990101000000-deadbeef", registry=tmp_path)


def test_train_register_and_export(tmp_path: Path) -> None:
    cat = tmp_path / "catalog"
    synthetic.build_catalog(cat, n_products=900, n_queries=24, seed=9)
    reg = tmp_path / "reg"
    v, metrics = train_and_register_light(
        LightConfig(epochs=30), 2, data_hash="x", catalog_dir=cat, registry_root=reg, progress=False
    )
    man = registry.read_manifest("light", v, reg)
    assert man["features"] == list(FEATURE_NAMES)
    assert man["input"] == {"name": "features", "dtype": "float32", "shape": ["N", NUM_FEATURES]}
    assert man["output"]["name"] == "score" and set(man["files"]) == {"model.onnx", "model.pt", "parity.json"}
    assert metrics["onnx_max_abs_diff"] <= 1e-5 and "light_ndcg_at10" in man["metrics"]
    assert registry.verify("light", v, reg) == []

    heavy = registry.register("heavy", _src(tmp_path), {}, registry=reg)
    gen = tmp_path / "edge" / "generated"
    gen.mkdir(parents=True)
    (gen / "models.ts").write_text("// stale output of an older export\n")
    res = export_edge(reg, gen)
    ts = (gen / "models.js").read_text()
    assert not (gen / "models.ts").exists()
    assert res["light"] == v and res["heavy"] == heavy
    imp = re.search(r'import light_0 from "([^"]+)";', ts)
    assert imp and (gen / imp.group(1)).resolve() == (reg / "light" / v / "model.onnx").resolve()
    assert f'export const DEFAULT_LIGHT_MODEL = "{v}";' in ts
    assert f'export const DEFAULT_HEAVY_MODEL = "{heavy}";' in ts
    found = re.search(r"parity: (\{.*\}),\n", ts)
    assert found
    parity = json.loads(found.group(1))
    assert len(parity["inputs"]) == 32 and len(parity["outputs"]) == 32
    assert all(len(r) == NUM_FEATURES for r in parity["inputs"])

    db = sqlite3.connect(tmp_path / "d1.sqlite")
    for s in catalog.migration_statements():
        db.execute(s)
    db.executescript((reg / "seed.sql").read_text())
    db.executescript((reg / "seed.sql").read_text())  # idempotent
    assert db.execute("SELECT surface, salt, active FROM experiments WHERE id='search-default'").fetchone() == (
        "search",
        "vitrine-search-v1",
        1,
    )
    assert db.execute(
        "SELECT name, weight, light_model, heavy_model, top_m FROM experiment_variants ORDER BY name"
    ).fetchall() == [("control", 0.5, v, heavy, 50), ("treatment", 0.5, v, heavy, 30)]


def test_registering_identical_files_reuses_the_version(tmp_path: Path) -> None:
    reg = tmp_path / "reg"
    a = registry.register("light", _src(tmp_path / "a"), registry=reg)
    b = registry.register("light", _src(tmp_path / "b"), registry=reg)
    c = registry.register("light", _src(tmp_path / "c", b"other"), registry=reg)
    assert a == b and c != a and registry.list_versions("light", reg) == sorted([a, c])
    assert registry.read_current(reg)["light"] == c


def test_blend_weight_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Manifest value first, then the CV report's median fold weight, else the documented default."""

    monkeypatch.setattr(paths, "STATE", tmp_path / "state")
    reg = tmp_path / "reg"
    v = registry.register("heavy", _src(tmp_path), {}, data_hash="d" * 64, code_hash="c" * 64, registry=reg)
    assert blend_weight(reg, "") is None
    assert blend_weight(reg, v) == DEFAULT_BLEND_WEIGHT  # no manifest value, no CV report (npm start's first run)
    man = reg / "heavy" / v / "manifest.json"
    base = json.loads(man.read_text())
    man.write_text(json.dumps({**base, "backbone": "BAAI/bge-small-en-v1.5"}))
    assert blend_weight(reg, v) == DEFAULT_BLEND_WEIGHT_BY_BACKBONE["BAAI/bge-small-en-v1.5"] != DEFAULT_BLEND_WEIGHT
    man.write_text(json.dumps(base))
    report = tmp_path / "state" / "reports" / "evaluation.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps({"folds": [{"blend_weight": w} for w in (0.5, 2.0, 0.75)]}))
    assert blend_weight(reg, v) == 0.75
    man.write_text(json.dumps({**json.loads(man.read_text()), "cascade": {"blend_weight": 0.35}}))
    assert blend_weight(reg, v) == 0.35
