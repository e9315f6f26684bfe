"""A registered recs-light version's edge tables (`tables.json`) as SQL for D1 (edge/db/schema-recs.ts).

`recs.sql` replaces the store's user history and the version's derived rows (item stats, co-purchase and content
neighbours, MF vectors), then points `recs_current` at the version. `scripts/lib.sh load_d1` executes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..catalog import MAX_STATEMENT_BYTES, sql_literal


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
    tables: dict[str, Any], store: str, version: str, max_bytes: int = MAX_STATEMENT_BYTES
) -> Iterator[str]:
    s, v = sql_literal(store), sql_literal(version)
    yield f"DELETE FROM recs_history WHERE store = {s};"
    for t in ("recs_item_stats", "recs_neighbours", "recs_vectors"):
        yield f"DELETE FROM {t} WHERE store = {s} AND model_version = {v};"
    yield from _inserts(
        "recs_history",
        ("store", "user_id", "item_id", "n", "last_day", "qty"),
        ((store, user, item, n, last, qty) for user, rows in tables["history"].items() for item, n, last, qty in rows),
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
    yield (
        f"INSERT INTO recs_current (store, model_version) VALUES ({s}, {v}) "
        "ON CONFLICT(store) DO UPDATE SET model_version = excluded.model_version;"
    )


def write_tables_sql(version_dir: Path, store: str, version: str, out: Path) -> str:
    """Write `out` from `<version_dir>/tables.json`; return its sha256."""
    tables = json.loads((version_dir / "tables.json").read_text())
    out.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        for stmt in tables_sql_statements(tables, store, version):
            f.write(stmt + "\n")
            h.update((stmt + "\n").encode("utf-8"))
    return h.hexdigest()
