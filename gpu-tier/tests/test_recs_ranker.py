"""recs light ranker: listwise loss, features, training on a time split, ONNX export parity, and the registered
artefacts (train_recs_light / train_recs_heavy on the seeded synthetic store)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from vitrine_gpu import metrics as M
from vitrine_gpu import registry
from vitrine_gpu.recs import data, synthetic
from vitrine_gpu.recs import sources as S
from vitrine_gpu.recs import train as tr
from vitrine_gpu.recs.features import FEATURE_NAMES, NUM_FEATURES, features
from vitrine_gpu.recs.ranker import (
    RankerConfig,
    fit_ranker,
    lists_for_window,
    listwise_loss,
    load_ranker,
    save_ranker,
    score,
    training_lists,
)
from vitrine_gpu.recs.sequence import SeqConfig, SeqRecModel
from vitrine_gpu.search.light.export import onnx_scores

SC = S.SourceConfig(mf_factors=8, mf_iterations=4, per_source=40, max_candidates=80)
RC = RankerConfig(epochs=8, cuts=2)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> data.Interactions:
    torch.set_num_threads(1)
    return data.load(
        synthetic.write(tmp_path_factory.mktemp("syn") / "s.csv.gz", n_customers=150, n_products=150, seed=5)
    )


def test_listwise_loss_by_hand() -> None:
    s = torch.tensor([[2.0, 0.0, 5.0]])
    y = torch.tensor([[1.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, False]])  # the padded 5.0 must not count
    expect = -(2.0 - math.log(math.exp(2.0) + 1.0))
    assert float(listwise_loss(s, y, mask)) == pytest.approx(expect, rel=1e-6)
    y2 = torch.tensor([[1.0, 1.0, 0.0]])
    assert float(listwise_loss(s, y2, mask)) == pytest.approx(
        -0.5 * ((2.0 - math.log(math.exp(2.0) + 1.0)) + (0.0 - math.log(math.exp(2.0) + 1.0))), rel=1e-6
    )


def test_features_shape_and_history_columns(store: data.Interactions) -> None:
    until = data.end_of_day("2011-09-30")
    t = S.fit_tables(store, until, SC)
    u = int(store.before(until).users()[0])
    c = S.candidates(t, u)

    x = features(t, u, c)
    assert x.shape == (c.items.size, NUM_FEATURES) and np.all(np.isfinite(x))
    inh = x[:, FEATURE_NAMES.index("in_history")]
    hist = set(t.history[u].items.tolist())
    assert inh.tolist() == [1.0 if i in hist else 0.0 for i in c.items.tolist()]
    assert np.all(x[inh == 0, FEATURE_NAMES.index("log_invoices_with_item")] == 0)


def test_ranker_beats_chance_and_exports_onnx(store: data.Interactions, tmp_path: Path) -> None:
    until = data.end_of_day("2011-09-30")
    lists = training_lists(store.before(until), until, RC, SC)
    assert lists and all(l.y.sum() > 0 and l.cut < until for l in lists)
    model = fit_ranker(lists, RC)
    _, held = lists_for_window(store, until, until + 30, SC)
    truth = {l.user: {int(i) for i, y in zip(l.cands.items, l.y) if y} for l in held if l.y.sum()}
    ranked = {l.user: l.cands.items[np.argsort(-score(model, l.x), kind="stable")].tolist() for l in held}
    rng = np.random.default_rng(0)
    shuffled = {l.user: rng.permutation(l.cands.items).tolist() for l in held}
    light = M.per_user(ranked, truth).recall.mean()
    assert light > M.per_user(shuffled, truth).recall.mean() + 0.1
    allx = np.concatenate([l.x for l in lists])
    meta = save_ranker(model, tmp_path / "r", RC, SC, allx)
    assert meta["onnx_max_abs_diff"] < 1e-5 and meta["features"] == list(FEATURE_NAMES)
    onnx = onnx_scores(tmp_path / "r" / "model.onnx", allx)
    np.testing.assert_allclose(onnx, score(model, allx), atol=1e-5)
    parity = json.loads((tmp_path / "r" / "parity.json").read_text())
    np.testing.assert_allclose(
        onnx_scores(tmp_path / "r" / "model.onnx", np.asarray(parity["inputs"], np.float32)),
        parity["outputs"],
        atol=1e-5,
    )
    np.testing.assert_allclose(score(load_ranker(tmp_path / "r"), allx), score(model, allx), atol=1e-6)


def test_train_entry_points_register(store: data.Interactions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    synthetic.write(
        shared / "datasets" / "online_retail" / "online_retail_synthetic.csv.gz", n_customers=80, n_products=100, seed=2
    )
    monkeypatch.setenv("VITRINE_SHARED", str(shared))
    monkeypatch.setenv("VITRINE_REGISTRY", str(tmp_path / "reg"))

    src = tr.prepare_recs(tmp_path / "recs")
    assert src["products"] == len(json.loads((tmp_path / "recs" / "catalogue.json").read_text()))
    light = tr.train_recs_light(rc=RankerConfig(epochs=2, cuts=1), sc=SC, log=lambda m: None)
    man = registry.read_manifest("recs-light", light["version"])
    assert man["task"] == "recommend" and set(man["files"]) == {
        "model.onnx",
        "model.pt",
        "parity.json",
        "ranker.json",
        "tables.json",
    }
    assert registry.verify("recs-light", light["version"]) == []
    tables = json.loads((registry.version_dir("recs-light", light["version"]) / "tables.json").read_text())
    assert {"items", "copurchase", "content", "item_vectors", "user_vectors", "history"} <= set(tables)
    heavy = tr.train_recs_heavy(
        qc=SeqConfig(d=16, layers=1, epochs=1, max_len=20), rc=RankerConfig(epochs=1, cuts=1), sc=SC, log=lambda m: None
    )
    assert registry.read_current()["recs-heavy"] == heavy["version"]
    m = SeqRecModel.load(registry.version_dir("recs-heavy", heavy["version"]))
    codes = [r["id"] for r in json.loads((tmp_path / "recs" / "catalogue.json").read_text())]
    assert m.score([(codes[0], 15000.0)], codes[:5], 15001.0).shape == (5,)
