"""recs.sources on tiny hand-made stores: each candidate source, the merge, and the edge-style tables."""

from __future__ import annotations

import numpy as np
import pytest
from vitrine_gpu.recs import data
from vitrine_gpu.recs import sources as S

D = "2011-01-{:02d} 10:00:00"
# (invoice, code, description, day, customer)
LINES = [
    (1, "10001", "RED HEART MUG", 1, 1),
    (1, "10002", "RED HEART PLATE", 1, 1),
    (2, "10001", "RED HEART MUG", 5, 1),
    (2, "10003", "BLUE STAR LUNCH BAG", 5, 1),
    (3, "10001", "RED HEART MUG", 9, 1),
    (4, "10003", "BLUE STAR LUNCH BAG", 2, 2),
    (4, "10004", "BLUE STAR JUMBO BAG", 2, 2),
    (5, "10003", "BLUE STAR LUNCH BAG", 8, 2),
    (5, "10004", "BLUE STAR JUMBO BAG", 8, 2),
    (6, "10001", "RED HEART MUG", 9, -1),
    (6, "10002", "RED HEART PLATE", 9, -1),
    (7, "10005", "RED HEART CAKE STAND", 9, 3),
    (8, "10006", "GREEN OWL DOORMAT", 3, 3),
]
NOW = data.end_of_day("2011-01-10")


def make() -> data.Interactions:
    return data.from_lines(
        [l[0] for l in LINES],
        [l[1] for l in LINES],
        [l[2] for l in LINES],
        [1] * len(LINES),
        [D.format(l[3]).replace(" ", "T") for l in LINES],
        [1.0 + k for k in range(len(LINES))],
        [l[4] for l in LINES],
    )


@pytest.fixture(scope="module")
def tables() -> tuple[S.Tables, dict[str, int]]:
    inter = make()
    cfg = S.SourceConfig(
        neighbours=3,
        content_neighbours=3,
        mf_factors=4,
        mf_iterations=8,
        per_source=10,
        max_history=10,
        max_candidates=5,
    )
    return S.fit_tables(inter, NOW, cfg), inter.catalogue.index()


def test_history_rows(tables: tuple[S.Tables, dict[str, int]]) -> None:
    t, k = tables
    h = t.history[1]
    row = {int(i): j for j, i in enumerate(h.items)}
    assert h.n[row[k["10001"]]] == 3 and h.n[row[k["10002"]]] == 1
    assert h.n_invoices == 3
    assert h.last_basket.tolist() == [k["10001"]]
    assert -1 not in t.history  # guests are never users


def test_repeat_frequency_and_recency(tables: tuple[S.Tables, dict[str, int]]) -> None:
    t, k = tables
    items, scores = S.repeat_frequency(t, 1)
    assert items.tolist()[0] == k["10001"] and scores.tolist()[0] == 3
    # 10003 (day 5) beats 10002 (day 1) on the tie at one invoice
    assert items.tolist()[1:] == [k["10003"], k["10002"]]
    items, scores = S.repeat_recency(t, 1)
    assert items.tolist() == [k["10001"], k["10003"], k["10002"]]
    assert scores[1] > scores[2]
    assert S.repeat_frequency(t, 999)[0].size == 0


def test_copurchase_neighbours_include_guest_baskets(tables: tuple[S.Tables, dict[str, int]]) -> None:
    t, k = tables
    nb = t.nb_ids[k["10003"]].tolist()
    assert nb[0] == k["10004"]  # bought together twice
    assert k["10002"] in t.nb_ids[k["10001"]].tolist()
    items, _ = S.copurchase(t, None, context=[k["10001"]])
    assert items.tolist()[0] == k["10002"]
    assert k["10006"] not in items.tolist()  # never co-bought


def test_content_reaches_unsold_lookalikes(tables: tuple[S.Tables, dict[str, int]]) -> None:
    t, k = tables
    assert t.ct_ids[k["10003"]].tolist()[0] == k["10004"]  # BLUE STAR … BAG
    items, _ = S.content(t, None, context=[k["10001"]])
    assert set(items.tolist()[:2]) == {k["10002"], k["10005"]}  # RED HEART …


def test_mf_and_trending(tables: tuple[S.Tables, dict[str, int]]) -> None:
    t, k = tables
    items, scores = S.embedding(t, 2)
    assert set(items.tolist()[:2]) == {k["10003"], k["10004"]}
    assert np.all(np.diff(scores) <= 0)
    # an unknown user with a page item folds in from that item's vector
    assert S.embedding(t, None, context=[k["10003"]])[0].size > 0
    assert S.embedding(t, None)[0].size == 0
    items, scores = S.trending(t)
    assert items.tolist()[0] == k["10001"]  # 3 invoices, one on day 9
    assert scores[list(items).index(k["10006"])] < scores[list(items).index(k["10005"])]  # day 3 decays below day 9
    assert S.popularity(t)[0].tolist()[0] == k["10001"]


def test_candidates_merge(tables: tuple[S.Tables, dict[str, int]]) -> None:
    t, k = tables
    c = S.candidates(t, 1)
    assert c.items.size == 5 and len(set(c.items.tolist())) == 5
    assert c.items.tolist()[:3] == [k["10001"], k["10003"], k["10002"]]  # history first, by recency decay
    for s in S.SOURCES:
        assert c.scores[s].shape == c.ranks[s].shape == c.items.shape
    first = c.items.tolist().index(k["10001"])
    assert c.ranks["repeat"][first] == 1 and c.scores["repeat"][first] == 3
    page = S.candidates(t, None, context=[k["10001"]])
    assert k["10001"] not in page.items.tolist()  # never the page item itself
    cold = S.candidates(t, None)
    assert cold.items.tolist()[0] == k["10001"]  # cold start: trending
    rec = S.candidate_recall({1: c}, {1: {k["10001"], 99}, 2: {k["10003"]}})
    assert rec.tolist() == [0.5, 0.0]
