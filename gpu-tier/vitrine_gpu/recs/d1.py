"""What the recommendation store loads into D1, as SQL: its products and a registered recs-light version's tables.

`products.sql` holds the Online Retail store's catalogue (`catalogue.json` of the prepare-recs step: StockCode →
last description, last unit price; non-product codes already dropped by `recs.data`) as `products` rows of store
`online-retail` (issue 14: stores): each is the catalogue API's product {id, title (the description), price} mapped
by ``search.catalog.product_row`` (the twin of the edge's productRow: one mapping for every product), and rowids
start at ``ROWID_BASE`` so they never meet the ESCI catalogue's (1..N). `DELETE FROM products WHERE store = …`
first, so reloading one store leaves the others. A product id is unique within its store (migration 0012);
StockCodes are 5 digits + optional letters (`recs.data.is_product_code`, checked here).

`recs.sql` (edge/db/schema-recs.ts) replaces the store's user history and the version's derived rows (item stats,
co-purchase and content neighbours, MF vectors, the MF top-N lists of ``recs.mf_top``), then points `recs_current` at the version. `scripts/lib.sh load_d1`
executes both. A store trained from its own D1 rows (`pipeline recs --store`, ``recs.store_train``) gets the same
statements without the history (D1's rows are the source) and without `recs_current` (its release promotes it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..search.catalog import MAX_STATEMENT_BYTES, catalog_sql_statements, product_row, sql_literal, write_sql
from .data import is_product_code
from .mf_top import mf_top_rows

ROWID_BASE = 100_000_000


def product_rows(catalogue: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """catalogue.json entries ({id, title, price}) → products rows (PRODUCT_COLUMNS)."""
    rows = []
    for i, c in enumerate(catalogue):
        code = str(c["id"])
        if not is_product_code(code):
            raise ValueError(f"{code!r} is not a StockCode: products of this store must be 5 digits + letters")
        product = {"id": code, "title": str(c["title"]), "price": c.get("price")}
        rows.append({**product_row(product), "rowid": ROWID_BASE + i})
    return rows


def write_products_sql(catalogue_json: Path, store: str, out: Path) -> dict[str, Any]:
    """Write `out` (the store's products) from `catalogue_json`; return {store, products, sha256}."""
    rows = product_rows(json.loads(catalogue_json.read_text()))
    return {"store": store, "products": len(rows), "sha256": write_sql(out, catalog_sql_statements(rows, store=store))}


def _inserts(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], max_bytes: int) -> Iterator[str]:
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES\n"
    batch: list[str] = []
    size = len(head)
    for r in rows:
        tup = "(" + ", ".join(sql_literal(v) for v in r) + ")"
        n = len(tup.encode("utf-8")) + 2
        if batch and size + n > max_bytes:
            yield head + ",\n".join(batch) + ";"
            batch, size = [], len(head)
        batch.append(tup)
        size += n
    if batch:
        yield head + ",\n".join(batch) + ";"


def tables_sql_statements(
    tables: dict[str, Any],
    store: str,
    version: str,
    max_bytes: int = MAX_STATEMENT_BYTES,
    history: bool = True,
    current: bool = True,
) -> Iterator[str]:
    """The version's rows for ``store``. ``history``: also replace the store's ``recs_history`` with the training
    history (the online-retail store, whose history is its transactions file); a store trained from its own D1 rows
    (``pipeline recs --store``) keeps its live history. ``current``: point ``recs_current`` at the version (a per-store
    version waits for its release: the edge's promotion points it)."""
    s, v = sql_literal(store), sql_literal(version)
    if history:
        yield f"DELETE FROM recs_history WHERE store = {s};"
    for t in ("recs_item_stats", "recs_neighbours", "recs_vectors", "recs_mf_top"):
        yield f"DELETE FROM {t} WHERE store = {s} AND model_version = {v};"
    if history:
        yield from _inserts(
            "recs_history",
            ("store", "user_id", "item_id", "n", "last_day", "qty"),
            (
                (store, user, item, n, last, qty)
                for user, rows in tables["history"].items()
                for item, n, last, qty in rows
            ),
            max_bytes,
        )
    yield from _inserts(
        "recs_item_stats",
        ("store", "model_version", "item_id", "pop_all", "pop_recent", "trend", "repeat_rate", "price"),
        (
            (store, version, item, st["pop_all"], st["pop_recent"], st["trend"], st["repeat_rate"], st["price"])
            for item, st in tables["items"].items()
        ),
        max_bytes,
    )
    yield from _inserts(
        "recs_neighbours",
        ("store", "model_version", "kind", "item_id", "rank", "neighbour_id", "score"),
        (
            (store, version, kind, item, rank, nb, score)
            for kind in ("copurchase", "content")
            for item, nbs in tables[kind].items()
            for rank, (nb, score) in enumerate(nbs)
        ),
        max_bytes,
    )
    yield from _inserts(
        "recs_vectors",
        ("store", "model_version", "kind", "key", "vector"),
        (
            (store, version, kind, key, json.dumps(vec, separators=(",", ":")))
            for kind, field in (("user", "user_vectors"), ("item", "item_vectors"))
            for key, vec in tables[field].items()
        ),
        max_bytes,
    )
    yield from _inserts(
        "recs_mf_top",
        ("store", "model_version", "kind", "key", "items", "scores"),
        ((store, version, *row) for row in mf_top_rows(tables)),
        max_bytes,
    )
    if current:
        yield (
            f"INSERT INTO recs_current (store, model_version) VALUES ({s}, {v}) "
            "ON CONFLICT(store) DO UPDATE SET model_version = excluded.model_version;"
        )


def write_tables_sql(
    version_dir: Path, store: str, version: str, out: Path, history: bool = True, current: bool = True
) -> str:
    """Write `out` from `<version_dir>/tables.json` (``history``, ``current``: see tables_sql_statements); return
    its sha256."""
    tables = json.loads((version_dir / "tables.json").read_text())
    return write_sql(out, tables_sql_statements(tables, store, version, history=history, current=current))
