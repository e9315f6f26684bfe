"""Evaluation: cascade ordering, and the reduced cross-validation on the prepared catalogue (ESCI when ../shared
exists, else the synthetic one) showing the trained models beat BM25 on held-out queries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from vitrine_gpu import paths
from vitrine_gpu.metrics import ndcg
from vitrine_gpu.search import evaluate
from vitrine_gpu.search.evaluate import EvalConfig, HeavyCandidate, cascade_scores, run_evaluation, to_markdown
from vitrine_gpu.search.heavy.train import HeavyConfig
from vitrine_gpu.search.light.train import LightConfig


def _order(scores: np.ndarray) -> list[int]:
    return list(np.argsort(-scores, kind="stable"))


def test_cross_fitted_light_scores_each_query_with_a_model_that_never_saw_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trained_on: list[set[str]] = []

    class Scorer:
        def __init__(self, train: set[str]) -> None:
            self.train = train

        def score_features(self, x: np.ndarray) -> np.ndarray:
            return np.full(len(x), float(len(self.train)))

    def fake_fit(train: list[str], data: object, config: object) -> Scorer:
        trained_on.append(set(train))
        return Scorer(set(train))

    class Data:
        lists = {f"q{i}": type("L", (), {"x": np.zeros((3, 2))})() for i in range(10)}

    monkeypatch.setattr(evaluate, "fit", fake_fit)
    qids = sorted(Data.lists)
    out = evaluate.cross_fitted_light(qids, Data(), None, folds=4, seed=1)  # type: ignore[arg-type]
    assert sorted(out) == qids and len(trained_on) == 4
    for q in qids:  # scored by exactly one model, and that model was fitted without q
        owners = [t for t in trained_on if q not in t]
        assert len(owners) == 1 and out[q][0] == len(owners[0])
    assert set().union(*trained_on) == set(qids)


def test_cascade_reorders_only_the_light_top_m() -> None:
    light = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    heavy = np.array([0.0, 1.0, 2.0, 9.0, 8.0])
    # top 3 by light = 0,1,2 -> heavy order 2,1,0; then 3,4 in light order (heavy ignored below the cut)
    assert _order(cascade_scores(light, heavy, 3)) == [2, 1, 0, 3, 4]
    # M >= pool size: pure heavy order
    assert _order(cascade_scores(light, heavy, 50)) == [3, 4, 2, 1, 0]
    # blend weight 0 = heavy; a huge light weight = light order
    assert _order(cascade_scores(light, heavy, 50, 0.0)) == [3, 4, 2, 1, 0]
    assert _order(cascade_scores(light, heavy, 50, 1e6)) == [0, 1, 2, 3, 4]


def test_cascade_ndcg_uses_heavy_within_top_m() -> None:
    gains = [0.0, 0.0, 1.0, 0.1]
    light = np.array([4.0, 3.0, 2.0, 1.0])
    heavy = np.array([0.0, 0.0, 5.0, 0.0])
    assert ndcg(cascade_scores(light, heavy, 3), gains) > ndcg(light, gains)
    assert ndcg(cascade_scores(light, heavy, 2), gains) == pytest.approx(ndcg(light, gains))


def _catalog_ready() -> bool:
    return (paths.CATALOG / "catalog.sqlite").exists() and (paths.CATALOG / "source.json").exists()


@pytest.mark.skipif(not _catalog_ready(), reason="run `python -m vitrine_gpu pipeline prepare` first")
def test_reduced_cv_trained_models_beat_bm25_on_held_out_queries(tmp_path: Path) -> None:
    cfg = EvalConfig.reduced_config()
    report = run_evaluation(cfg, out_dir=tmp_path)
    src = report["source"].get("source")
    assert src == ("esci" if paths.esci_dir() else "synthetic")
    s = report["summary"]
    assert report["queries"] >= 20 and report["config"]["folds"] == 2
    # every query is held out exactly once
    assert all(len(report["per_query"][r]) == report["queries"] for r in s)
    for r in ("light", "heavy", "cascade"):
        assert s[r]["ndcg10"] > s["bm25"]["ndcg10"], (r, s[r], s["bm25"])
        assert s[r]["ndcg10"] > s["random"]["ndcg10"]
    for r in s.values():
        assert 0.0 <= r["ndcg_ci"][0] <= r["ndcg"] <= r["ndcg_ci"][1] <= 1.0
    written = json.loads((tmp_path / "evaluation-reduced.json").read_text())
    assert written["summary"]["cascade"]["ndcg10"] == pytest.approx(s["cascade"]["ndcg10"])
    md = (tmp_path / "evaluation-reduced.md").read_text()
    assert md == to_markdown(report) and "| cascade |" in md and "| bm25 |" in md


@pytest.mark.skipif(not _catalog_ready(), reason="run `python -m vitrine_gpu pipeline prepare` first")
def test_other_heavy_candidates_are_reported_on_the_same_folds(tmp_path: Path) -> None:
    hc = HeavyConfig.reduced()
    cfg = EvalConfig(
        folds=2,
        max_queries=8,
        heavy=hc,
        light=LightConfig(epochs=20),
        reduced=True,
        candidates=(HeavyCandidate("zs", hc, trained=False),),
    )
    report = run_evaluation(cfg, out_dir=tmp_path)
    s = report["summary"]
    assert {"heavy[zs]", "cascade+blend[zs]"} <= set(s) and "cascade[zs]" not in s
    assert all(len(report["per_query"][r]) == report["queries"] == 8 for r in s)
    assert {"heavy[zs]-bm25", "cascade+blend[zs]-bm25"} <= set(report["diffs_vs_bm25"])
    assert set(report["candidate_seconds"]) == {"primary", "zs"}
    assert all("zs" in f["candidates"] and "blend_weight" in f["candidates"]["zs"] for f in report["folds"])
    # zero-shot = the untrained model's ranking: the primary trained model is a different ranker
    zs = [report["per_query"]["heavy[zs]"][q]["full"] for q in report["per_query"]["bm25"]]
    assert all(0.0 <= v <= 1.0 for v in zs)
    md = to_markdown(report)
    assert "| heavy[zs] |" in md and "| cascade+blend[zs]-bm25 |" in md and "zs = all-MiniLM-L6-v2 zero-shot" in md
