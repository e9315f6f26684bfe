"""The light model: listwise training beats BM25 on held-out synthetic queries; ONNX export matches PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from vitrine_gpu.search import synthetic
from vitrine_gpu.search.features import NUM_FEATURES
from vitrine_gpu.search.light.export import export_onnx, onnx_parity, onnx_scores, torch_scores
from vitrine_gpu.search.light.train import LightConfig, LightData, cross_validate, fit, grouped_folds


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> LightData:
    d = tmp_path_factory.mktemp("light-catalog")
    synthetic.build_catalog(d, n_products=1500, n_queries=45, seed=5)
    return LightData.load(d)


def test_lists_come_from_judged_pools(data: LightData) -> None:
    assert len(data.lists) == 45 and data.skipped_products == 0
    for l in data.lists.values():
        assert l.x.shape == (len(l.rows), NUM_FEATURES) and len(l.gains) == len(l.rows)
        assert set(np.round(l.gains, 4)) <= {1.0, 0.1, 0.01, 0.0}


def test_grouped_folds_partition_queries() -> None:
    folds = grouped_folds([str(i) for i in range(10)], 3)
    flat = [q for f in folds for q in f]
    assert sorted(flat) == sorted(str(i) for i in range(10)) and len(set(flat)) == 10


def test_light_beats_bm25_on_held_out_queries(data: LightData) -> None:
    res = cross_validate(data, k=3, seed=0, config=LightConfig(epochs=80))
    light, bm25 = np.mean(res["light"]["at10"]), np.mean(res["bm25"]["at10"])
    print(f"held-out nDCG@10: light {light:.4f} vs BM25 {bm25:.4f}")
    assert len(res["light"]["at10"]) == 45
    assert light > bm25 + 0.02
    assert np.mean(res["light"]["full"]) > np.mean(res["bm25"]["full"])


def test_onnx_export_matches_pytorch_with_dynamic_batch(data: LightData, tmp_path: Path) -> None:
    scorer = fit(list(data.lists)[:20], data, LightConfig(epochs=20))
    path = tmp_path / "model.onnx"
    export_onnx(scorer.model, path, NUM_FEATURES)
    m = onnx.load(str(path))
    assert m.opset_import[0].version == 17
    assert [i.name for i in m.graph.input] == ["features"] and [o.name for o in m.graph.output] == ["score"]
    x = np.concatenate([l.x for l in data.lists.values()])
    assert onnx_parity(scorer.model, path, x) <= 1e-5
    for n in (1, 7):
        out = onnx_scores(path, x[:n])
        assert out.shape == (n,) and out.dtype == np.float32
        np.testing.assert_allclose(out, torch_scores(scorer.model, x[:n]), atol=1e-5)
    # normalisation lives in the graph: raw features in, same scores as the scorer
    np.testing.assert_allclose(onnx_scores(path, x[:5]), scorer.score_features(x[:5]), atol=1e-5)
