"""The edge's view of the recs tables (vitrine_gpu.recs.edge_view) and the TypeScript parity fixture it feeds."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
from vitrine_gpu import paths
from vitrine_gpu.recs import data, features_fixture, synthetic
from vitrine_gpu.recs.edge_view import served, tables_from_json, user_history
from vitrine_gpu.recs.sources import fit_tables
from vitrine_gpu.recs.train import tables_json


def test_user_history_from_d1_rows() -> None:
    index = {"A": 0, "B": 1, "C": 2}
    rows = [["C", 3, 100.5, 30], ["A", 1, 90.0, 5], ["B", 2, 100.5, 8], ["Z", 9, 101.0, 1]]  # Z: not an item
    h = user_history(rows, index, now=110.0, tau=60.0)
    assert h is not None
    assert h.items.tolist() == [0, 1, 2]
    assert h.n.tolist() == [1.0, 2.0, 3.0]
    np.testing.assert_allclose(h.decay, [np.exp(-20 / 60), 2 * np.exp(-9.5 / 60), 3 * np.exp(-9.5 / 60)], rtol=1e-6)
    assert h.n_invoices == 3  # max(largest n 3, distinct last days 2)
    assert (h.first_ts, h.last_ts) == (90.0, 100.5)
    assert h.last_basket.tolist() == [1, 2]
    assert user_history([["Z", 1, 1.0, 1]], index, 110.0, 60.0) is None


def _same(built: object, committed: object, where: str = "") -> None:
    """Equal structure, ids and counts; floats within float32 rounding (BLAS sums in another order on another CPU)."""
    hint = f"{where}: run python -m vitrine_gpu recs fixture"
    if isinstance(built, dict):
        assert isinstance(committed, dict) and built.keys() == committed.keys(), hint
        for k in built:
            _same(built[k], committed[k], f"{where}/{k}")
    elif isinstance(built, list):
        assert isinstance(committed, list) and len(built) == len(committed), hint
        for i, (b, c) in enumerate(zip(built, committed, strict=True)):
            _same(b, c, f"{where}[{i}]")
    elif isinstance(built, float) and isinstance(committed, float):
        assert abs(built - committed) <= 1e-5 * max(1.0, abs(committed)), f"{hint} ({built} != {committed})"
    else:
        assert built == committed, f"{hint} ({built!r} != {committed!r})"


def test_fixture_is_current_and_tables_round_trip() -> None:
    built = features_fixture.build()
    committed = json.loads((paths.REPO / "test" / "fixtures" / "recs-features-parity.json").read_text())
    _same(built, committed)
    t, codes = tables_from_json(built["tables"])
    assert list(codes) == sorted(built["tables"]["items"])
    assert set(t.history) == set(built["tables"]["history"])
    assert t.item_vecs.shape == (len(codes), features_fixture.CONFIG.mf_factors)
    assert all(len(c["features"]) == len(c["items"]) for c in built["cases"])
    assert any(len(c["items"]) == features_fixture.CONFIG.max_candidates for c in built["cases"])  # the cap is hit


def test_served_view_is_what_the_edge_rebuilds_from_d1() -> None:
    """The light ranker trains on ``served(fit_tables(...))``: every user's history must equal the edge's view of the
    exported D1 rows, or the model would learn from features the edge never computes."""
    with tempfile.TemporaryDirectory() as d:
        f = synthetic.write(Path(d) / "s.csv.gz", n_customers=25, n_products=60, days=90, seed=5)
        inter = data.load([f])
    now = data.end_of_day(data.date_of(inter.end))
    t = fit_tables(inter, now, features_fixture.CONFIG)
    codes = inter.catalogue.codes
    edge, edge_codes = tables_from_json(json.loads(json.dumps(tables_json(t, codes))))
    view = served(t)
    assert set(view.history) == set(t.history) and {str(u) for u in view.history} == set(edge.history)
    rebuilt_differs = 0
    for u, h in view.history.items():
        e = edge.history[str(u)]
        mine = {codes[i]: (n, last, dec, q) for i, n, last, dec, q in zip(h.items, h.n, h.last, h.decay, h.qty)}
        theirs = {edge_codes[i]: (n, last, dec, q) for i, n, last, dec, q in zip(e.items, e.n, e.last, e.decay, e.qty)}
        assert mine.keys() == theirs.keys()
        for c in mine:
            np.testing.assert_allclose(mine[c], theirs[c], rtol=1e-6)
        assert (h.n_invoices, h.first_ts, h.last_ts) == (e.n_invoices, e.first_ts, e.last_ts)
        assert {codes[i] for i in h.last_basket} == {edge_codes[i] for i in e.last_basket}
        full = t.history[u]
        rebuilt_differs += int(
            full.n_invoices != h.n_invoices or not np.allclose(full.decay, h.decay[np.argsort(h.items)])
        )
    assert rebuilt_differs > 0  # the log gives what D1's rows cannot: the view is not the identity
