"""The edge's view of the recs tables (vitrine_gpu.recs.edge_view) and the TypeScript parity fixture it feeds."""

from __future__ import annotations

import json

import numpy as np
from vitrine_gpu import paths
from vitrine_gpu.recs import features_fixture
from vitrine_gpu.recs.edge_view import tables_from_json, user_history


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


def test_fixture_is_current_and_tables_round_trip() -> None:
    built = features_fixture.build()
    committed = json.loads((paths.REPO / "test" / "fixtures" / "recs-features-parity.json").read_text())
    assert built == committed, "run: python -m vitrine_gpu.recs.features_fixture"
    t, codes = tables_from_json(built["tables"])
    assert list(codes) == sorted(built["tables"]["items"])
    assert set(t.history) == set(built["tables"]["history"])
    assert t.item_vecs.shape == (len(codes), features_fixture.CONFIG.mf_factors)
    assert all(len(c["features"]) == len(c["items"]) for c in built["cases"])
    assert any(len(c["items"]) == features_fixture.CONFIG.max_candidates for c in built["cases"])  # the cap is hit
