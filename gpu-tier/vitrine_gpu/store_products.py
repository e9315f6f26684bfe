"""The products of a store other than the ESCI search catalogue, as SQL for D1 (issue 14: stores).

`products.sql` holds the Online Retail store's catalogue (`catalogue.json` of the prepare-recs step: StockCode →
last description, last unit price; non-product codes already dropped by `recs.data`) as `products` rows of store
`online-retail`: the description is the title, the token columns are computed as for the ESCI catalogue, and rowids
start at ``ROWID_BASE`` so they never meet the ESCI catalogue's (1..N). `DELETE FROM products WHERE store = …`
first, so reloading one store leaves the others. Product ids are unique across stores (`products.id` is UNIQUE):
StockCodes are 5 digits + optional letters (`recs.data.is_product_code`, checked here), ESCI ids are 10-character
ASINs / ISBNs, so they cannot collide, and a collision would fail the load rather than pass silently.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .catalog import catalog_sql_statements
from .features import token_columns
from .recs.data import is_product_code

ROWID_BASE = 100_000_000


def product_rows(catalogue: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """catalogue.json entries ({id, title, price}) → products rows (PRODUCT_COLUMNS)."""
    rows = []
    for i, c in enumerate(catalogue):
        code = str(c["id"])
        if not is_product_code(code):
            raise ValueError(f"{code!r} is not a StockCode: products of this store must be 5 digits + letters")
        r: dict[str, Any] = {
            "rowid": ROWID_BASE + i,
            "id": code,
            "title": str(c["title"]),
            "brand": "",
            "color": "",
            "bullets": "",
            "description": "",
            "category": "",
            "price": c.get("price"),
            "rating": None,
            "rating_count": None,
            "is_book": 0,
        }
        rows.append({**r, **token_columns(r)})
    return rows


def write_products_sql(catalogue_json: Path, store: str, out: Path) -> dict[str, Any]:
    """Write `out` (the store's products) from `catalogue_json`; return {store, products, sha256}."""
    rows = product_rows(json.loads(catalogue_json.read_text()))
    out.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        for stmt in catalog_sql_statements(rows, store=store):
            f.write(stmt + "\n")
            h.update((stmt + "\n").encode("utf-8"))
    return {"store": store, "products": len(rows), "sha256": h.hexdigest()}
