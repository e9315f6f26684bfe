"""The online-retail store's products as D1 SQL (vitrine_gpu.recs.d1), and the scoped catalogue statements:
each store's SQL replaces only that store's products, in a real sqlite with the D1 migrations applied."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from vitrine_gpu import paths
from vitrine_gpu.recs.d1 import ROWID_BASE, product_rows, write_products_sql
from vitrine_gpu.search import catalog
from vitrine_gpu.search.features import match_expression

CATALOGUE = [
    {"id": "85123A", "title": "WHITE HANGING HEART T-LIGHT HOLDER", "price": 2.55},
    {"id": "22382", "title": "LUNCH BAG SPACEBOY DESIGN", "price": 1.65},
]


def test_rows_are_stockcodes_with_token_columns() -> None:
    rows = product_rows(CATALOGUE)
    assert [r["rowid"] for r in rows] == [ROWID_BASE, ROWID_BASE + 1]
    assert rows[1]["title_terms"] == "lunch bag spaceboy design" and rows[1]["price"] == 1.65
    with pytest.raises(ValueError, match="not a StockCode"):
        product_rows([{"id": "B07XJ8C8F5", "title": "an ASIN", "price": 1.0}])


def test_each_store_replaces_only_its_products(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "d1.sqlite")
    for s in catalog.migration_statements():
        db.execute(s)
    esci = [
        {**catalog.product_row({"id": f"B0TEST000{i}", "title": f"lunch box {i}", "price": 9.0}), "rowid": i + 1}
        for i in range(3)
    ]
    (tmp_path / "catalogue.json").write_text(json.dumps(CATALOGUE))
    meta = write_products_sql(tmp_path / "catalogue.json", "online-retail", tmp_path / "products.sql")
    assert meta["products"] == 2
    db.executescript("\n".join(catalog.catalog_sql_statements(esci)))
    db.executescript((tmp_path / "products.sql").read_text())
    db.executescript("\n".join(catalog.catalog_sql_statements(esci[:1])))  # reload the esci store, smaller
    counts = dict(db.execute("SELECT store, count(*) FROM products GROUP BY store").fetchall())
    assert counts == {"esci": 1, "online-retail": 2}
    retrieve = catalog.with_store_index(paths.RETRIEVE_SQL.read_text(), "online-retail")
    hits = db.execute(retrieve, (match_expression("lunch"), 10, "online-retail")).fetchall()
    assert [h[1] for h in hits] == ["22382"]  # retrieval stays inside the store
