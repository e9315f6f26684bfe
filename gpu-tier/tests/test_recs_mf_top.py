"""The MF top-N lists (vitrine_gpu.recs.mf_top): the first N of the edge's former scan (stable order, ties in
catalogue order), in blocks of any size, and loaded into D1's `recs_mf_top` by the version's SQL."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
from vitrine_gpu.recs.d1 import tables_sql_statements
from vitrine_gpu.recs.mf_top import mf_top_rows, top_n, vectorize_namespace, vectorize_ndjson
from vitrine_gpu.search import catalog


def scan(q: np.ndarray, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The edge's former scan for one query: float64 dot products, float32 scores, stable argsort descending."""
    s = (items.astype(np.float64) @ q.astype(np.float64)).astype(np.float32)
    order = np.argsort(-s, kind="stable")[:n]
    return order, s[order]


def test_top_n_is_the_scan_in_any_block_size() -> None:
    rng = np.random.default_rng(0)
    items = rng.normal(size=(300, 8)).astype(np.float32)
    items[10] = items[20] = items[5]  # exact ties: catalogue order
    queries = rng.normal(size=(37, 8)).astype(np.float32)
    queries[3] = items[5]
    for block in (300, 300 * 5, 1 << 20):
        got = {
            start + r: (i[r], v[r])
            for start, i, v in top_n(queries, items, 50, block_elems=block)
            for r in range(len(i))
        }
        assert sorted(got) == list(range(37))
        for k, q in enumerate(queries):
            ids, vals = scan(q, items, 50)
            np.testing.assert_array_equal(got[k][0], ids)
            np.testing.assert_array_equal(got[k][1], vals)
    first = list(next(top_n(queries[3:4], items, 50))[1][0])
    at = first.index(5)
    assert first[at : at + 3] == [5, 10, 20]  # three equal scores: catalogue order


def tables() -> dict:
    rng = np.random.default_rng(1)
    codes = [f"{20000 + i}" for i in range(40)]
    return {
        "config": {"per_source": 10},
        "item_vectors": {c: rng.normal(size=4).round(5).tolist() for c in codes[::-1]},  # any key order
        "user_vectors": {"u1": [0.1, 0.2, -0.3, 0.4], "u2": [0.0, 0.0, 1.0, 0.0]},
        "items": {c: {"pop_all": 1, "pop_recent": 0, "trend": 0, "repeat_rate": 0, "price": 1} for c in codes},
        "copurchase": {},
        "content": {},
    }


def test_rows_cover_users_and_sold_items_best_first() -> None:
    t = tables()
    rows = list(mf_top_rows(t, n=15))
    assert [(k, key) for k, key, _, _ in rows[:2]] == [("user", "u1"), ("user", "u2")]
    assert len(rows) == 2 + 40
    codes = sorted(t["item_vectors"])
    items = np.asarray([t["item_vectors"][c] for c in codes], np.float32)
    for kind, key, ids_json, scores_json in rows:
        q = np.asarray(t["user_vectors"][key] if kind == "user" else t["item_vectors"][key], np.float32)
        ids, vals = scan(q, items, 15)
        assert json.loads(ids_json) == [codes[i] for i in ids]
        np.testing.assert_allclose(json.loads(scores_json), vals, atol=1e-6)
    assert list(mf_top_rows({"item_vectors": {}, "user_vectors": {"u": [1.0]}})) == []


def test_the_version_sql_loads_the_lists() -> None:
    db = sqlite3.connect(":memory:")
    for s in catalog.migration_statements():
        db.execute(s)
    db.execute("INSERT INTO stores (id, title) VALUES ('s', 's')")
    t = {**tables(), "history": {}}
    db.executescript("\n".join(tables_sql_statements(t, "s", "v1", history=False)))
    db.executescript("\n".join(tables_sql_statements(t, "s", "v1", history=False)))  # a reload replaces
    counts = dict(
        db.execute("SELECT kind, count(*) FROM recs_mf_top WHERE store = 's' AND model_version = 'v1' GROUP BY kind")
    )
    assert counts == {"item": 40, "user": 2}
    (items,) = db.execute("SELECT items FROM recs_mf_top WHERE kind = 'user' AND key = 'u2'").fetchone()
    assert len(json.loads(items)) == 40  # MF_TOP_N (200) capped at the 40 sold items


def test_vectorize_vectors_use_the_edge_namespace() -> None:
    # the same value edge/recs/ann/vectorize.ts computes (test/edge/recs-ann.test.ts)
    assert vectorize_namespace("online-retail", "recs-light-x") == "39c8e4e52a023303"
    lines = [json.loads(line) for line in vectorize_ndjson(tables(), "s", "v1")]
    ns = vectorize_namespace("s", "v1")
    assert len(lines) == 40 and {v["namespace"] for v in lines} == {ns}
    assert lines[0]["id"] == f"{ns}:20000" and len(lines[0]["values"]) == 4
