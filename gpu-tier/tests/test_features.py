"""CONTRACTS.md C1 catalog build and C2 features: tokenizer, match expressions, features from rows via the shared SQL."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from vitrine_gpu import paths
from vitrine_gpu.search import catalog, features_fixture, synthetic
from vitrine_gpu.search.features import (
    FEATURE_NAMES,
    NUM_FEATURES,
    compute_features,
    match_expression,
    token_columns,
    tokenize,
)

F = {n: i for i, n in enumerate(FEATURE_NAMES)}


@pytest.fixture(scope="module")
def cat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("catalog")
    synthetic.build_catalog(d, n_products=1200, n_queries=20, seed=3)
    return d


def test_tokenizer_normalises_and_splits_on_non_alphanumerics() -> None:
    assert tokenize("Café CRÈME brûlée") == ["cafe", "creme", "brulee"]
    assert tokenize("snake_case x-ray/4K") == ["snake", "case", "x", "ray", "4k"]
    assert tokenize("ﬁne ½") == ["fine", "1", "2"]
    assert tokenize("Ｆｕｌｌ ΣΟΦΟΣ") == ["full", "σοφος"]
    assert tokenize("") == [] and tokenize(None) == []


def test_match_expression_dedupes_quotes_and_caps() -> None:
    assert match_expression("Red red SHOES") == '"red" OR "shoes"'
    assert match_expression(" -- !! ") is None
    assert len(str(match_expression(" ".join(f"t{i}" for i in range(50)))).split(" OR ")) == 32


def test_feature_values_on_hand_written_rows() -> None:
    rows: list[dict[str, Any]] = [
        {
            "id": "a",
            "title": "Red Running Shoes",
            "brand": "Acme",
            "color": "Red",
            "bullets": "",
            "description": "",
            "category": "Shoes",
            "price": 10.0,
            "rating": 4.0,
            "rating_count": 9,
            "is_book": 0,
            "bm25": 8.0,
            "bm25_title": 4.0,
            "bm25_brand": 0,
            "bm25_color": 1.0,
            "bm25_bullets": 0,
            "bm25_description": 0,
        },
        {
            "id": "b",
            "title": "Shoe laces",
            "brand": None,
            "color": None,
            "bullets": None,
            "description": "red laces",
            "category": "",
            "price": None,
            "rating": None,
            "rating_count": None,
            "is_book": 1,
            "bm25": 0,
            "bm25_title": 0,
            "bm25_brand": 0,
            "bm25_color": 0,
            "bm25_bullets": 0,
            "bm25_description": 0,
        },
    ]
    x = compute_features("red running shoes", rows)
    assert x.shape == (2, NUM_FEATURES) and x.dtype == np.float32
    a, b = x
    assert a[F["bm25_norm_max"]] == 1 and a[F["bm25_rank_recip"]] == 1 and b[F["bm25_rank_recip"]] == 0.5
    assert a[F["cov_title"]] == 1 and a[F["phrase_in_title"]] == 1 and a[F["first_token_in_title"]] == 1
    assert a[F["color_in_query"]] == 1 and a[F["brand_in_query"]] == 0 and a[F["query_tokens"]] == 3
    assert b[F["cov_title"]] == 0 and b[F["cov_text"]] == pytest.approx(1 / 3)
    assert b[F["price_missing"]] == 1 and b[F["rating_missing"]] == 1 and b[F["rating_count_missing"]] == 1
    assert a[F["log_price"]] == pytest.approx(np.log1p(10)) and a[F["log_price_rel"]] == 0
    assert b[F["is_book"]] == 1 and a[F["is_book"]] == 0
    assert compute_features("x", []).shape == (0, NUM_FEATURES)


def test_catalog_sqlite_has_products_and_fts(cat: Path) -> None:
    src = json.loads((cat / "source.json").read_text())
    assert src["source"] == "synthetic" and src["products"] == 1200
    conn = sqlite3.connect(cat / "catalog.sqlite")
    assert conn.execute("SELECT count(*) FROM products").fetchone()[0] == 1200
    assert conn.execute("SELECT min(rowid), max(rowid) FROM products").fetchone() == (1, 1200)
    fts = catalog.fts_table(catalog.STORE)  # the store's own index (edge/catalog/store-index.sql)
    assert conn.execute(f"SELECT count(*) FROM {fts} WHERE {fts} MATCH 'shoes'").fetchone()[0] > 0


def test_catalog_sql_replays_into_a_migrated_database(cat: Path, tmp_path: Path) -> None:
    stmts = (cat / "catalog.sql").read_text().split(";\n")
    assert max(len(s.encode()) for s in stmts) < 100_000
    conn = sqlite3.connect(tmp_path / "d1.sqlite")
    for s in catalog.migration_statements():
        conn.execute(s)
    conn.executescript((cat / "catalog.sql").read_text())
    assert conn.execute("SELECT count(*) FROM products").fetchone()[0] == 1200
    cols = ", ".join(("id", "title", "price") + catalog.TOKEN_COLUMNS)
    a = sqlite3.connect(cat / "catalog.sqlite").execute(f"SELECT {cols} FROM products ORDER BY rowid").fetchall()
    assert conn.execute(f"SELECT {cols} FROM products ORDER BY rowid").fetchall() == a


def test_catalog_rows_carry_token_columns(cat: Path) -> None:
    conn = catalog.connect(cat / "catalog.sqlite")
    rows = [dict(r) for r in conn.execute("SELECT * FROM products ORDER BY rowid LIMIT 100")]
    for r in rows:
        assert {c: r[c] for c in catalog.TOKEN_COLUMNS} == token_columns(r)
    r = next(r for r in rows if r["bullets"] and r["description"])
    assert r["text_terms"].split(" ") == list(dict.fromkeys(tokenize(r["bullets"]) + tokenize(r["description"])))
    assert r["title_terms"].split(" ") == tokenize(r["title"]) and r["bullets_tokens"] == len(tokenize(r["bullets"]))
    assert set(catalog.retrieve(conn, "yoga mat", 1)[0]) >= set(catalog.TOKEN_COLUMNS)  # the shared SQL returns them
    with pytest.raises(ValueError, match="text_terms"):
        catalog.product_values({k: v for k, v in rows[0].items() if k != "text_terms"})


def test_features_from_retrieve_sql_rows(cat: Path) -> None:
    conn = catalog.connect(cat / "catalog.sqlite")
    rows = catalog.retrieve(conn, "black coffee maker", 50)
    assert 0 < len(rows) <= 50
    x = compute_features("black coffee maker", rows)
    assert np.all(np.isfinite(x))
    bm = np.array([r["bm25"] for r in rows])
    assert np.all(bm > 0) and np.all(np.diff(bm) <= 1e-9)  # best first, negated bm25
    np.testing.assert_allclose(x[:, F["bm25"]], bm, rtol=1e-6)
    assert x[0, F["bm25_rank_recip"]] == 1 and x[0, F["bm25_norm_max"]] == pytest.approx(1)
    assert x[:, F["cov_any"]].min() > 0  # every retrieved row matches at least one token


def test_candidates_sql_keeps_order_and_zeroes_unmatched(cat: Path) -> None:
    conn = catalog.connect(cat / "catalog.sqlite")
    hit = catalog.retrieve(conn, "yoga mat", 3)
    miss = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM products WHERE title NOT LIKE '%yoga%' AND title NOT LIKE '%mat%'"
            " AND bullets NOT LIKE '%mat%' AND description NOT LIKE '%mat%' LIMIT 2"
        )
    ]
    ids = [miss[0], hit[0]["id"], "NOPE", miss[1], hit[1]["id"]]
    rows = catalog.candidates(conn, "yoga mat", ids)
    assert [r["id"] for r in rows] == [miss[0], hit[0]["id"], miss[1], hit[1]["id"]]
    assert rows[0]["bm25"] == 0 and rows[2]["bm25"] == 0
    assert rows[1]["bm25"] == pytest.approx(hit[0]["bm25"])


def test_committed_parity_fixture_matches_python(tmp_path: Path) -> None:
    committed = paths.REPO / "test" / "fixtures" / "features-parity.json"
    fresh = features_fixture.build(tmp_path / "fx.json")
    old = json.loads(committed.read_text(encoding="utf-8"))
    assert old["feature_names"] == fresh["feature_names"]
    assert old["tokenizer"] == fresh["tokenizer"] and old["match"] == fresh["match"]
    for a, b in zip(old["cases"], fresh["cases"], strict=True):
        assert a["query"] == b["query"] and [r["id"] for r in a["rows"]] == [r["id"] for r in b["rows"]]
        np.testing.assert_allclose(a["features"], b["features"], atol=1e-6)
