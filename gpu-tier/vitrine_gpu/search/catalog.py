"""Catalog (CONTRACTS.md C1): ESCI (or synthetic) products -> catalog.sqlite (the D1 migrations applied) + catalog.sql.

Each product row also carries the token columns of ``features.token_columns`` (TOKEN_COLUMNS), computed here once
from the clipped text (``catalog_row``) so the edge does not tokenise product text per request; every writer below
requires them.

Also the shared retrieval helpers: `retrieve` runs edge/search/retrieve.sql and `candidates` runs
edge/search/candidates.sql verbatim on the sqlite copy, so offline features are the ones the edge computes.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import paths
from .features import match_expression, token_columns

TOKEN_COLUMNS = (
    "title_terms",
    "brand_terms",
    "color_terms",
    "category_terms",
    "text_terms",
    "title_unique_tokens",
    "bullets_tokens",
    "description_tokens",
)  # derived from the text: see catalog_row
PRODUCT_COLUMNS = (
    "rowid",
    "id",
    "title",
    "brand",
    "color",
    "bullets",
    "description",
    "category",
    "price",
    "rating",
    "rating_count",
    "is_book",
    "available",
) + TOKEN_COLUMNS
MAX_STATEMENT_BYTES = 48_000  # D1 caps a statement at 100 KB
STORE = "esci"  # the D1 store (stores.id) this catalogue loads into: products.store
BREAKPOINT = "--> statement-breakpoint"


@dataclass(frozen=True)
class Dataset:
    """Where the products, queries and labels (esci_us_150q schema) of a catalog live."""

    source: str  # "esci" | "synthetic"
    products: Path
    queries: Path
    labels: Path


def find_dataset(allow_esci: bool = True) -> Dataset | None:
    d = paths.esci_dir() if allow_esci else None
    if d is None:
        return None
    return Dataset("esci", d / "products.jsonl.gz", d / "queries.csv.gz", d / "labels.csv.gz")


# ---------------------------------------------------------------- reading the esci_us_150q schema


def read_products_jsonl(path: Path) -> list[dict[str, Any]]:
    """ESCI product records mapped to the `products` columns, sorted by id, rowid = 1..N."""
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(esci_to_row(json.loads(line)))
    out.sort(key=lambda r: r["id"])
    for i, r in enumerate(out, start=1):
        r["rowid"] = i
    return out


# ---------------------------------------------------------------- the catalogue API's product and its row
# The twins of edge/catalog/product.ts: every product reaches D1 as productRow(product) there or product_row(product)
# here (test/edge/features-parity.test.ts checks the two on this package's fixture).

STORE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
CATEGORY_SEPARATOR = " > "
BOOKISH = re.compile(r"\b(?:e|audio)?books?\b", re.IGNORECASE | re.ASCII)


def is_book_category(path: Sequence[str]) -> bool:
    """Whether a category path names books: some level holds the word book(s), ebook(s) or audiobook(s)."""
    return any(BOOKISH.search(level) for level in path)


def esci_to_product(p: dict[str, Any]) -> dict[str, Any]:
    """An ESCI record as the catalogue API's product ({id, title, brand?, …, category: [...], price, …})."""
    cat = p.get("category") or []
    out: dict[str, Any] = {"id": str(p["product_id"]), "title": p.get("title") or ""}
    for field, key in (("brand", "brand"), ("color", "color"), ("description", "description")):
        if p.get(key):
            out[field] = p[key]
    if p.get("bullet_points"):
        out["bullets"] = p["bullet_points"]
    out["category"] = list(cat) if isinstance(cat, list) else [str(cat)]
    out["price"] = _float_or_none(p.get("price"))
    out["rating"] = _float_or_none(p.get("rating"))
    out["ratingCount"] = int(p["rating_count"]) if p.get("rating_count") is not None else None
    out["available"] = True
    return out


def product_base(product: dict[str, Any]) -> dict[str, Any]:
    """A catalogue API product's row before clipping and tokens (rowid None: the writer's)."""
    path = product.get("category") or []
    return {
        "rowid": None,
        "id": str(product["id"]).strip(),
        "title": product["title"],
        "brand": product.get("brand") or "",
        "color": product.get("color") or "",
        "bullets": product.get("bullets") or "",
        "description": product.get("description") or "",
        "category": CATEGORY_SEPARATOR.join(path),
        "price": product.get("price"),
        "rating": product.get("rating"),
        "rating_count": product.get("ratingCount"),
        "is_book": 1 if is_book_category(path) else 0,
        "available": 0 if product.get("available") is False else 1,
    }


def product_row(product: dict[str, Any]) -> dict[str, Any]:
    """The row of a catalogue API product, as edge/catalog/product.ts productRow writes it (clipped, tokenised)."""
    return catalog_row(product_base(product))


def esci_to_row(p: dict[str, Any]) -> dict[str, Any]:
    return product_base(esci_to_product(p))


def _float_or_none(v: Any) -> float | None:
    return None if v is None else float(v)


def read_queries(path: Path) -> dict[str, str]:
    """query_id (as str) -> query text, file order."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        return {row["query_id"]: row["query"] for row in csv.DictReader(f)}


def read_labels(path: Path) -> dict[str, dict[str, float]]:
    """query_id -> {product_id: gain}, file order."""
    out: dict[str, dict[str, float]] = {}
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["query_id"], {})[row["product_id"]] = float(row["gain"])
    return out


def write_csv_gz(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename="") as g:
        g.write(buf.getvalue().encode("utf-8"))


def write_jsonl_gz(path: Path, records: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename="") as g:
        for r in records:
            g.write((json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))


# ---------------------------------------------------------------- building the catalog


def migration_statements(migrations_dir: Path = paths.MIGRATIONS) -> list[str]:
    stmts = []
    for f in sorted(migrations_dir.glob("*.sql")):
        for part in f.read_text(encoding="utf-8").split(BREAKPOINT):
            if part.strip():
                stmts.append(part.strip())
    return stmts


def build_sqlite(rows: Sequence[dict[str, Any]], db_path: Path) -> None:
    """A fresh sqlite file with the migrations applied and the products inserted (the FTS triggers index them)."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = db_path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    try:
        for s in migration_statements() + store_index_statements(STORE):
            conn.execute(s)
        conn.executemany(
            f"INSERT INTO products ({', '.join(PRODUCT_COLUMNS)}) VALUES ({', '.join('?' * len(PRODUCT_COLUMNS))})",
            [product_values(r) for r in rows],
        )
        conn.commit()
        fts = fts_table(STORE)
        conn.execute(f"INSERT INTO {fts}({fts}) VALUES ('optimize')")
        conn.commit()
    finally:
        conn.close()
    tmp.replace(db_path)


def sql_literal(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    s = str(v).replace("\x00", "")
    return "'" + s.replace("'", "''") + "'"


def catalog_sql_statements(
    rows: Sequence[dict[str, Any]], max_bytes: int = MAX_STATEMENT_BYTES, store: str = STORE
) -> Iterator[str]:
    """`DELETE FROM products WHERE store = <store>;` (the other stores' products stay) then multi-row INSERTs into
    that store, each statement under ``max_bytes`` (UTF-8)."""
    yield f"DELETE FROM products WHERE store = {sql_literal(store)};"
    head = f"INSERT INTO products ({', '.join(PRODUCT_COLUMNS)}, store) VALUES\n"
    batch: list[str] = []
    size = len(head)
    for r in rows:
        tup = "(" + ", ".join(sql_literal(v) for v in (*product_values(r), store)) + ")"
        n = len(tup.encode("utf-8")) + 2
        if batch and size + n > max_bytes:
            yield head + ",\n".join(batch) + ";"
            batch, size = [], len(head)
        if len(head) + n > max_bytes:  # one oversized product: shorten its longest text fields
            raise ValueError(f"product {r['id']} alone exceeds {max_bytes} bytes of SQL")
        batch.append(tup)
        size += n
    if batch:
        yield head + ",\n".join(batch) + ";"


def write_sql(path: Path, statements: Iterable[str]) -> str:
    """Write one statement per line to ``path`` (UTF-8, \\n); return the file's sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for s in statements:
            data = s + "\n"
            f.write(data)
            h.update(data.encode("utf-8"))
    return h.hexdigest()


def write_catalog_sql(rows: Sequence[dict[str, Any]], path: Path) -> str:
    """Write catalog.sql; return its sha256."""
    return write_sql(path, catalog_sql_statements(rows))


def clip_row(r: dict[str, Any], max_field_bytes: int = 12_000) -> dict[str, Any]:
    """Trim very long text fields so one product fits in a D1 statement (ESCI has a few huge descriptions)."""
    out = dict(r)
    for c in ("title", "bullets", "description"):
        b = out[c].encode("utf-8")
        if len(b) > max_field_bytes:
            out[c] = b[:max_field_bytes].decode("utf-8", errors="ignore")
    return out


def catalog_row(r: dict[str, Any]) -> dict[str, Any]:
    """The row as loaded: ``clip_row``, then the token columns (features.token_columns) of the clipped text."""
    out = clip_row(r)
    out.update(token_columns(out))
    return out


def product_values(r: dict[str, Any]) -> tuple[Any, ...]:
    """``r`` as a PRODUCT_COLUMNS tuple; a row without the token columns is an error, not a silent NULL."""
    missing = [c for c in TOKEN_COLUMNS if c not in r]
    if missing:
        raise ValueError(f"product {r.get('id')} lacks {', '.join(missing)}: build rows with catalog_row()")
    return tuple(r[c] for c in PRODUCT_COLUMNS)


def prepare(dataset: Dataset, out_dir: Path = paths.CATALOG) -> dict[str, Any]:
    """Build catalog.sqlite, catalog.sql and source.json in ``out_dir`` from ``dataset``; return source.json."""
    rows = [catalog_row(r) for r in read_products_jsonl(dataset.products)]
    out_dir.mkdir(parents=True, exist_ok=True)
    digest = write_catalog_sql(rows, out_dir / "catalog.sql")
    build_sqlite(rows, out_dir / "catalog.sqlite")
    source = {
        "source": dataset.source,
        "products": len(rows),
        "sha256": digest,
        "queries": str(dataset.queries),
        "labels": str(dataset.labels),
        "products_file": str(dataset.products),
    }
    (out_dir / "source.json").write_text(json.dumps(source, indent=2) + "\n")
    return source


def read_source(catalog_dir: Path = paths.CATALOG) -> dict[str, Any]:
    p = catalog_dir / "source.json"
    if not p.exists():
        raise FileNotFoundError(f"{p} missing: run `python -m vitrine_gpu pipeline prepare` first")
    return json.loads(p.read_text())


def dataset_from_source(catalog_dir: Path = paths.CATALOG) -> Dataset:
    s = read_source(catalog_dir)
    return Dataset(s["source"], Path(s["products_file"]), Path(s["queries"]), Path(s["labels"]))


# ---------------------------------------------------------------- retrieval on the sqlite copy


def connect(db_path: Path | None = None) -> sqlite3.Connection:
    p = db_path or paths.CATALOG / "catalog.sqlite"
    if not p.exists():
        raise FileNotFoundError(f"{p} missing: run `python -m vitrine_gpu pipeline prepare` first")
    conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


def fts_table(store: str) -> str:
    """The store's FTS5 table (edge/catalog/store-index.ts ftsTable): products_fts_<id with "-" as "__">."""
    if not STORE_ID.match(store):
        raise ValueError(f"not a store id: {store!r}")
    return "products_fts_" + store.replace("-", "__")


def with_store_index(sql: str, store: str) -> str:
    """``sql`` with the store's FTS5 table in place of {{fts}} (edge/search/*.sql)."""
    return sql.replace("{{fts}}", fts_table(store))


def store_index_statements(store: str) -> list[str]:
    """edge/catalog/store-index.sql for ``store``: its FTS5 table and triggers (each statement idempotent)."""
    out = []
    for part in paths.STORE_INDEX_SQL.read_text(encoding="utf-8").split(BREAKPOINT):
        stmt = re.sub(r"^--.*$", "", part, flags=re.M).strip()
        if stmt:
            out.append(stmt.replace("{{fts}}", fts_table(store)).replace("{{store}}", store))
    return out


_SQL_CACHE: dict[tuple[Path, str], str] = {}


def _sql(path: Path, store: str = STORE) -> str:
    if (path, store) not in _SQL_CACHE:
        _SQL_CACHE[(path, store)] = with_store_index(path.read_text(encoding="utf-8"), store)
    return _SQL_CACHE[(path, store)]


def retrieve(conn: sqlite3.Connection, query: str, n: int = 200, store: str = STORE) -> list[dict[str, Any]]:
    """edge/search/retrieve.sql: the store's top-n FTS5 matches, best bm25 first ([] when the query has no token)."""
    expr = match_expression(query)
    if expr is None:
        return []
    return [dict(r) for r in conn.execute(_sql(paths.RETRIEVE_SQL, store), (expr, n, store))]


def candidates(conn: sqlite3.Connection, query: str, ids: Sequence[str], store: str = STORE) -> list[dict[str, Any]]:
    """edge/search/candidates.sql for a caller-given id list; rows in ``ids`` order, unknown ids dropped."""
    expr = match_expression(query)
    if expr is None:
        raise ValueError(f"query {query!r} has no token")
    sql = _sql(paths.CANDIDATES_SQL, store)
    got = {r["id"]: dict(r) for r in conn.execute(sql, (expr, json.dumps(list(ids))))}
    return [got[i] for i in ids if i in got]


def product_ids(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT id FROM products")}
