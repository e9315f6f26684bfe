"""The store at scale: the streamed synthetic store (search/synthetic_store.py), the sparse neighbour tables and the
batched ALS that replace the dense items x items matrices and the per-row loop (recs/sources.py), and the pipeline
timing on a D1-shaped SQLite (recs/scale.py)."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from vitrine_gpu import paths
from vitrine_gpu.recs import sources as S
from vitrine_gpu.recs.scale import build_db, load_events, time_store
from vitrine_gpu.search import synthetic_store as ss

NOW_MS = 1_790_000_000_000
API_FIELDS = {"id", "title", "brand", "color", "description", "category", "price", "rating", "ratingCount"}


def test_products_are_api_products_deterministic_and_streamed() -> None:
    spec = ss.StoreSpec(2_000, seed=3)
    first = list(itertools.islice(ss.products(spec), 5))
    assert first == list(itertools.islice(ss.products(spec), 5))
    rows = list(ss.products(spec))
    assert len(rows) == 2_000 and len({p["id"] for p in rows}) == 2_000
    assert all(set(p) == API_FIELDS for p in rows)
    lengths = [len(p["description"].split()) for p in rows]
    assert min(lengths) >= 40 and np.median(lengths) > 60  # long descriptions
    assert len({p["brand"] for p in rows}) > 10 and len({" > ".join(p["category"]) for p in rows}) > 20


def test_vocabulary_follows_zipf() -> None:
    words = Counter(w for p in ss.products(ss.StoreSpec(1_000)) for w in p["description"].split())
    ranked = [c for _, c in words.most_common(200)]
    # frequency ∝ rank^-s: the log-log slope of the top ranks is close to -ZIPF_S
    slope = np.polyfit(np.log(np.arange(10, 200)), np.log(ranked[9:199]), 1)[0]
    assert -1.4 < slope < -0.7, slope


def test_events_count_power_law_and_timestamps() -> None:
    spec = ss.StoreSpec(500, now_ms=NOW_MS, seed=5)
    evs = list(ss.events(spec, "shop"))
    assert len(evs) == spec.n_events == 5_000
    assert all(e["type"] == "purchase" and e["store"] == "shop" for e in evs)
    assert len({e["eventId"] for e in evs}) == len(evs)
    assert all(NOW_MS - spec.days * 86_400_000 - 3_600_000 <= e["ts"] < NOW_MS for e in evs)
    per_user = sorted(Counter(e["user"] for e in evs).values(), reverse=True)
    per_item = sorted(Counter(e["productId"] for e in evs).values(), reverse=True)
    assert per_user[0] > 10 * np.median(per_user) and per_item[0] > 10 * np.median(per_item)
    with pytest.raises(ValueError):
        next(ss.events(ss.StoreSpec(10), "shop"))


def test_query_mix_has_three_classes() -> None:
    q = ss.queries(ss.StoreSpec(1_000))
    assert set(q) == {"head", "torso", "tail"} and all(len(v) == 10 for v in q.values())
    assert q == ss.queries(ss.StoreSpec(1_000))


def test_cli_writes_the_store_bench_retrieval_loads(tmp_path: Path) -> None:
    # scripts/bench-retrieval.mjs: `recs synthetic-scale DIR --products N --events 0` → products and queries, no events
    from vitrine_gpu import cli

    argv = ["recs", "synthetic-scale", str(tmp_path), "--products", "300", "--events", "0", "--seed", "4"]
    assert cli.main([*argv, "--now-ms", str(NOW_MS)]) == 0
    spec = ss.StoreSpec(300, seed=4)
    lines = (tmp_path / "products.ndjson").read_text().splitlines()
    assert [json.loads(line) for line in lines] == list(ss.products(spec))
    assert (tmp_path / "events.ndjson").read_text() == ""
    assert json.loads((tmp_path / "queries.json").read_text()) == ss.queries(spec)


def _dense_topn(m: np.ndarray, n: int) -> np.ndarray:
    """Reference: each row's top-n values (diagonal, non-positive excluded), sorted desc, 0-padded."""
    m = m.copy()
    np.fill_diagonal(m, 0.0)
    top = -np.sort(-np.where(m > 0, m, 0.0), axis=1)[:, :n]
    return top.astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_incidence_neighbours_equal_the_dense_cosine(seed: int) -> None:
    x = sp.random(400, 150, density=0.03, random_state=seed, format="csr", dtype=np.float32)
    x.data[:] = 1.0
    c = (x.T @ x).toarray()
    d = np.sqrt(np.maximum(np.diag(c), 1.0))
    sim = (c / d[:, None] / d[None, :]).astype(np.float32)
    ids, vals = S.incidence_neighbours(x, 8)
    np.testing.assert_allclose(vals, _dense_topn(sim, 8), rtol=1e-6)
    for r in range(150):  # every id names an entry with that similarity, never the item itself
        k = ids[r] >= 0
        assert r not in ids[r][k]
        np.testing.assert_allclose(sim[r, ids[r][k]], vals[r][k], rtol=1e-6)
        assert (np.diff(vals[r][k]) <= 0).all()


def test_neighbour_blocks_match_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    x = sp.random(600, 300, density=0.02, random_state=4, format="csr", dtype=np.float32)
    whole = S.incidence_neighbours(x, 10)
    monkeypatch.setattr(S, "BLOCK_CELLS", 300 * 16)  # 16-row blocks
    blocked = S.incidence_neighbours(x, 10)
    np.testing.assert_array_equal(whole[0], blocked[0])
    np.testing.assert_array_equal(whole[1], blocked[1])


def test_content_neighbours_equal_the_dense_tfidf_cosine() -> None:
    docs = [f"red mug {w}" for w in ("oak", "oak tea", "tea", "linen", "linen oak")] + ["", "blue lamp"]
    ids, vals = S.content_neighbours(docs, 3)
    assert ids.shape == (7, 3)
    assert (ids[5] == -1).all()  # an empty text has no neighbours
    assert ids[0][0] in (1, 4) and vals[0][0] > vals[0][2] > 0


def _als_per_row(counts: sp.csr_matrix, f: int, iters: int, reg: float, alpha: float, seed: int) -> np.ndarray:
    """Reference: implicit ALS solved one row at a time (the loop the batched solve replaced)."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((counts.shape[0], f)) * 0.01
    v = rng.standard_normal((counts.shape[1], f)) * 0.01
    conf = counts.astype(np.float64)
    conf.data = alpha * np.log1p(conf.data)
    conf_t = conf.T.tocsr()

    def solve(fixed: np.ndarray, c: sp.csr_matrix, out: np.ndarray) -> None:
        gram = fixed.T @ fixed + reg * np.eye(f)
        for r in range(c.shape[0]):
            a, b = c.indptr[r], c.indptr[r + 1]
            y, cm1 = fixed[c.indices[a:b]], c.data[a:b]
            out[r] = 0.0 if a == b else np.linalg.solve(gram + (y.T * cm1) @ y, (y.T * (1.0 + cm1)).sum(axis=1))

    for _ in range(iters):
        solve(v, conf, u)
        solve(u, conf_t, v)
    return u


def test_batched_als_equals_the_per_row_solve() -> None:
    counts = sp.random(500, 200, density=0.02, random_state=7, format="lil")
    counts[3, :] = 0  # a user with no entries gets a zero vector
    counts = sp.csr_matrix(counts)
    counts.data = np.ceil(counts.data * 4)
    u, _ = S.implicit_als(counts, 12, 3, 0.1, 10.0, 0)
    np.testing.assert_allclose(u, _als_per_row(counts, 12, 3, 0.1, 10.0, 0).astype(np.float32), rtol=1e-4, atol=1e-6)
    assert not u[3].any()


def test_build_db_aggregates_events_like_the_edge(tmp_path: Path) -> None:
    spec = ss.StoreSpec(200, events=2_000, now_ms=NOW_MS, seed=2)
    res = build_db(spec, "shop", tmp_path / "d1.sqlite")
    conn = sqlite3.connect(tmp_path / "d1.sqlite")
    assert conn.execute("SELECT count(*) FROM products WHERE store = 'shop'").fetchone()[0] == 200
    n, rows = conn.execute("SELECT sum(n), count(*) FROM recs_history WHERE store = 'shop'").fetchone()
    assert n == 2_000 and rows == res["history_rows"]
    evs = Counter((e["user"], e["productId"]) for e in ss.events(spec, "shop"))
    u, i = next(iter(evs))
    assert (
        conn.execute("SELECT n FROM recs_history WHERE user_id = ? AND item_id = ?", (u, i)).fetchone()[0]
        == evs[(u, i)]
    )


def test_load_events_writes_what_the_events_route_leaves(tmp_path: Path) -> None:
    """bench:scale's bulk load: the rest of a file's events, into a migrated D1 file, as /v1/events upserts them."""
    db = tmp_path / "d1.sqlite"
    conn = sqlite3.connect(db)
    for m in sorted(paths.MIGRATIONS.glob("*.sql")):
        conn.executescript(m.read_text())
    conn.execute("INSERT INTO stores (id, title) VALUES ('shop', 'shop')")
    conn.commit()
    spec = ss.StoreSpec(100, events=600, now_ms=NOW_MS, seed=3)
    evs = list(ss.events(spec, "shop"))
    with (tmp_path / "events.ndjson").open("w") as f:
        ss.write_ndjson(iter(evs), f)
    # the first 100 as the API would have left them: one history row (n 1) per event, already recorded
    for e in evs[:100]:
        conn.execute(
            "INSERT INTO event_ids (store, event_id, seen_at, payload_id, user_id) VALUES ('shop', ?, 0, 'api', ?)",
            (e["eventId"], e["user"]),
        )
        conn.execute(
            "INSERT INTO recs_history (store, user_id, item_id, n, last_day, qty) VALUES ('shop', ?, ?, 1, ?, 1) "
            "ON CONFLICT (store, user_id, item_id) DO UPDATE SET n = n + 1, qty = qty + 1, "
            "last_day = max(last_day, excluded.last_day)",
            (e["user"], e["productId"], e["ts"] / 86_400_000),
        )
    conn.execute("UPDATE stores SET event_count = 100")
    conn.commit()
    out = load_events(db, "shop", tmp_path / "events.ndjson", skip=100)
    assert out["events"] == 500
    counts = Counter((e["user"], e["productId"]) for e in evs)
    last: dict[tuple[str, str], int] = {}
    for e in evs:
        last[(e["user"], e["productId"])] = max(last.get((e["user"], e["productId"]), 0), e["ts"])
    rows = conn.execute("SELECT user_id, item_id, n, qty, last_day FROM recs_history WHERE store = 'shop'").fetchall()
    assert len(rows) == len(counts) == out["history_rows"]
    for u, i, n, qty, day in rows:
        assert n == qty == counts[(u, i)]
        assert day == pytest.approx(last[(u, i)] / 86_400_000)
    assert conn.execute("SELECT count(*) FROM event_ids WHERE store = 'shop'").fetchone()[0] == 600
    assert conn.execute("SELECT event_count FROM stores WHERE id = 'shop'").fetchone()[0] == 600
    # ids already recorded are refused whole: nothing written
    with pytest.raises(ValueError, match="already recorded"):
        load_events(db, "shop", tmp_path / "events.ndjson", skip=50)
    assert conn.execute("SELECT event_count FROM stores WHERE id = 'shop'").fetchone()[0] == 600
    conn.close()


def test_time_store_times_every_step(tmp_path: Path) -> None:
    spec = ss.StoreSpec(300, events=6_000, users=400, now_ms=NOW_MS, seed=1)
    build_db(spec, "shop", tmp_path / "d1.sqlite")
    lines: list[str] = []
    out = time_store(tmp_path / "d1.sqlite", "shop", reduced=True, log=lines.append)
    assert json.loads(lines[-1]) == out
    assert [s["step"] for s in out["steps"]] == [
        "read D1 rows",
        "interactions",
        "ranker lists (sources per label window)",
        "ranker fit",
        "tables (co-purchase, content, ALS)",
        "sequence model",
    ]
    assert all(s["wall_s"] >= 0 and s["peak_rss_mb"] > 0 for s in out["steps"])
    assert out["purchases"] == 6_000 and out["peak_rss_mb"] >= max(s["peak_rss_mb"] for s in out["steps"]) * 0.9
