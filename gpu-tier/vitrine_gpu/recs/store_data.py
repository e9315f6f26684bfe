"""One store's catalogue and purchase history, read from D1, as the recommendation pipeline's interactions; and the
way its tables go back into D1.

**Where the rows come from.**

- Locally: the SQLite file under which `wrangler dev` / `wrangler d1 execute --local` keep the ``vitrine`` database,
  ``<persist>/v3/d1/miniflare-D1DatabaseObject/<hash>.sqlite`` (``<persist>`` = ``.wrangler/state`` of the checkout
  unless ``--persist-to`` moved it). The file name is a hash of the database id, and stale files of other databases
  sit beside it, so ``find_local_d1`` opens every ``*.sqlite`` there (read-only) and takes the most recently written
  one whose ``stores`` table holds the store; ``--db PATH`` names a file instead. Reads go through SQLite's backup API
  (``snapshot``): a consistent copy even while ``wrangler dev`` writes the file (it runs in WAL mode).
- In production: a dump of the remote database, ``wrangler d1 export vitrine --remote --table stores --table products
  --table recs_history --output FILE.sql``; ``load_dump`` replays only those three tables' CREATE and INSERT
  statements into an in-memory SQLite. (A whole-database export is refused by D1 because of the stores' FTS5 tables:
  workers-sdk #6305; ``--table`` keeps the virtual tables out. Verified locally with ``--local``.)

**A sharded store** (README "Scale": its products in the ``CATALOG_SHARD_n`` databases, none in ``DB``): its
products are read from each shard as well. Locally, the other D1 files beside the database file that hold products
of the store (newest first; an id seen twice keeps the newest file's row); from a dump, the shards' own dumps beside
it, ``<dump stem>.shard1.sql``, ``.shard2.sql``, … (``wrangler d1 export <shard database> --remote --table products``;
the retrain's ``--remote`` writes them, ``release.retrain.export_remote``), each loaded on its own (rowids repeat
across databases).

**What the rows are.** ``recs_history`` holds one row per (user, item): ``n`` purchases, ``last_day`` the day of the
last one (days since the epoch, fractional), ``qty`` units; ``n = 0`` rows are add-to-carts, not purchases, and stay
out of training and evaluation (the edge still offers them as history candidates). The purchase log the models are
trained on is rebuilt from those rows (``to_interactions``): the last purchase at ``last_day`` exactly; the ``n - 1``
earlier ones — whose days D1 does not keep — spread evenly between the user's earliest ``last_day`` and this one (a
repeat item bought at a steady rate over the customer's observed life; all at ``last_day`` when that span is empty).
Purchases of one user on the same calendar day (UTC) at their ``last_day`` form one basket (the co-purchase
source's invoice); each imputed earlier purchase is a basket of its own, so co-purchase links come from observed
days only. Refitting the tables on this log at its end gives back every D1 row exactly (n, last day, quantity).

**Back into D1.** ``load_sql`` executes the store's ``recs.sql`` (``recs.d1.tables_sql_statements``): through
``wrangler d1 execute vitrine --local --persist-to <persist> --file`` when the target is a wrangler state file (the
same path as ``scripts/lib.sh load_d1``, safe while ``wrangler dev`` runs), with Python's sqlite3 for any other file
(tests), and reads the rows back to check they landed in that file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..settings import REPO
from .data import Catalogue, Interactions, date_of, end_of_day

D1_DIR = ("v3", "d1", "miniflare-D1DatabaseObject")  # under a wrangler persist directory
DATABASE = "vitrine"  # wrangler.toml's d1_databases.database_name
TABLES = ("stores", "products", "recs_history")  # what a store's training reads (and a dump needs)
WRANGLER_ENV = {
    "WRANGLER_SEND_METRICS": "false",
    "WRANGLER_HIDE_BANNER": "true",
    "CLOUDFLARE_CF_FETCH_ENABLED": "false",
    "WRANGLER_SEND_ERROR_REPORTS": "false",
}


class StoreDataError(RuntimeError):
    """The store's rows cannot be read (no such store, no database file, a malformed dump)."""


@dataclass(frozen=True)
class StoreExport:
    """A store's rows as D1 holds them: products and (user, item) history rows."""

    store: str
    title: str
    products: list[dict[str, Any]]  # id, title, brand, category, price, available
    history: list[tuple[str, str, int, float, int]]  # user_id, item_id, n, last_day, qty (sorted)
    source: str  # where the rows were read: "d1 <file>" or "export <file>"

    def purchases(self) -> list[tuple[str, str, int, float, int]]:
        return [r for r in self.history if r[2] > 0]

    def data_hash(self) -> str:
        """sha256 over the rows (not where they came from): two reads of the same data hash alike."""
        h = hashlib.sha256()
        h.update(json.dumps([self.store, self.products, self.history], sort_keys=True, default=str).encode())
        return h.hexdigest()

    def summary(self) -> dict[str, Any]:
        buys = self.purchases()
        days = [r[3] for r in buys]
        return {
            "store": self.store,
            "source": self.source,
            "products": len(self.products),
            "history_rows": len(self.history),
            "cart_rows": len(self.history) - len(buys),
            "purchases": int(sum(r[2] for r in buys)),
            "customers": len({r[0] for r in buys}),
            "first_day": date_of(min(days)) if days else None,
            "last_day": date_of(max(days)) if days else None,
        }


# ---------------------------------------------------------------- finding and reading the database


def wrangler_state_root(db_file: Path) -> Path | None:
    """The wrangler persist directory of a local D1 file (…/<persist>/v3/d1/miniflare-D1DatabaseObject/x.sqlite),
    None for any other file."""
    p = db_file.resolve()
    return p.parents[3] if len(p.parents) > 3 and p.parent.parts[-3:] == D1_DIR else None


def local_d1_files(roots: Iterable[Path] | None = None) -> list[Path]:
    """Every D1 SQLite file under the persist roots (default: the checkout's .wrangler/state)."""
    out: list[Path] = []
    for root in roots if roots is not None else [REPO / ".wrangler" / "state"]:
        d = Path(root).joinpath(*D1_DIR)
        if d.is_dir():
            out += sorted(p for p in d.glob("*.sqlite") if p.name != "metadata.sqlite")
    return out


def _mtime(p: Path) -> float:
    wal = p.with_name(p.name + "-wal")  # WAL mode: recent writes touch the -wal file
    return max(p.stat().st_mtime, wal.stat().st_mtime if wal.exists() else 0.0)


def _answers(p: Path, sql: str, args: tuple[Any, ...]) -> bool:
    """Whether the read-only query returns a row in file ``p`` (False for another database or not SQLite)."""
    try:
        conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        try:
            return conn.execute(sql, args).fetchone() is not None
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def _has_store(p: Path, store: str) -> bool:
    return _answers(p, "SELECT 1 FROM stores WHERE id = ?", (store,))


def find_local_d1(store: str, roots: Iterable[Path] | None = None) -> Path:
    """The local D1 file of the vitrine database holding ``store``: the most recently written of the candidates."""
    files = local_d1_files(roots)
    hits = sorted((f for f in files if _has_store(f, store)), key=_mtime, reverse=True)
    if not hits:
        where = ", ".join(str(Path(r).joinpath(*D1_DIR)) for r in (roots or [REPO / ".wrangler" / "state"]))
        seen = f"{len(files)} SQLite file(s) looked at" if files else "no SQLite file there"
        raise StoreDataError(
            f"no local D1 database with store {store!r} under {where} ({seen}): start the system (npm start) and "
            f"create the store (PUT /admin/stores/{store}), or pass --db FILE / --from-export FILE.sql"
        )
    return hits[0]


def snapshot(db_file: Path) -> sqlite3.Connection:
    """An in-memory copy of ``db_file`` taken with SQLite's backup API (consistent while another process writes)."""
    if not db_file.is_file():
        raise StoreDataError(f"{db_file}: no such database file")
    src = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    dst = sqlite3.connect(":memory:")
    try:
        src.backup(dst)
    finally:
        src.close()
    return dst


_CREATE = re.compile(r'^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?[`"\[]?(\w+)', re.I)
_INSERT = re.compile(r'^\s*INSERT\s+INTO\s+[`"\[]?(\w+)', re.I)


def _statements(lines: Iterable[str]) -> Iterable[str]:
    buf: list[str] = []
    for line in lines:
        buf.append(line)
        text = "".join(buf)
        if sqlite3.complete_statement(text):
            yield text
            buf = []
    if "".join(buf).strip():
        raise StoreDataError("the dump ends inside a statement (truncated file?)")


def load_dump(sql_file: Path, tables: Sequence[str] = TABLES) -> sqlite3.Connection:
    """A `wrangler d1 export` dump → an in-memory SQLite holding its ``tables`` (their CREATE TABLE and INSERT
    statements; everything else — other tables, indexes, triggers, PRAGMAs — is skipped)."""
    if not sql_file.is_file():
        raise StoreDataError(f"{sql_file}: no such dump")
    conn = sqlite3.connect(":memory:")
    wanted = set(tables)
    created: set[str] = set()
    with open(sql_file, encoding="utf-8") as f:
        for stmt in _statements(f):
            m = _CREATE.match(stmt) or _INSERT.match(stmt)
            if not m or m.group(1) not in wanted:
                continue
            if _CREATE.match(stmt):
                created.add(m.group(1))
            conn.execute(stmt)
    conn.commit()
    missing = wanted - created
    if missing:
        raise StoreDataError(
            f"{sql_file}: no CREATE TABLE for {sorted(missing)}: export them with "
            f"`wrangler d1 export {DATABASE} --remote {' '.join('--table ' + t for t in tables)} --output FILE.sql`"
        )
    return conn


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def _products(conn: sqlite3.Connection, store: str) -> list[dict[str, Any]]:
    cols = _columns(conn, "products")
    avail = "available" if "available" in cols else "1"
    return [
        {"id": r[0], "title": r[1] or "", "brand": r[2] or "", "category": r[3] or "", "price": r[4], "available": r[5]}
        for r in conn.execute(
            f"SELECT id, title, brand, category, price, {avail} FROM products WHERE store = ? ORDER BY id", (store,)
        )
    ]


_ANY_PRODUCT = "SELECT 1 FROM products WHERE store = ? LIMIT 1"


def _holds_products(p: Path, store: str) -> bool:
    return _answers(p, _ANY_PRODUCT, (store,))


def _no_products(conn: sqlite3.Connection, store: str) -> bool:
    return conn.execute(_ANY_PRODUCT, (store,)).fetchone() is None


def local_shard_files(store: str, main: Path) -> list[Path]:
    """The D1 files beside ``main`` (the store's database) holding products of the store: its shards, newest first."""
    d = main.parent
    others = (p for p in sorted(d.glob("*.sqlite")) if p.name != "metadata.sqlite" and p.resolve() != main.resolve())
    return sorted((p for p in others if _holds_products(p, store)), key=_mtime, reverse=True)


def shard_dumps(dump: Path) -> list[Path]:
    """The shards' dumps beside a dump of the store's database: ``<stem>.shard1.sql``, ``.shard2.sql``, … in order."""
    out: list[Path] = []
    while (p := dump.with_name(f"{dump.stem}.shard{len(out) + 1}.sql")).is_file():
        out.append(p)
    return out


def read_store(
    conn: sqlite3.Connection, store: str, source: str, shards: Sequence[sqlite3.Connection] = ()
) -> StoreExport:
    """The store's products and history rows from a connection holding TABLES, and the products of its shards
    (an id in several keeps the first one's row)."""
    try:
        row = conn.execute("SELECT id, title FROM stores WHERE id = ?", (store,)).fetchone()
    except sqlite3.Error as exc:
        raise StoreDataError(f"{source}: not a vitrine database ({exc})") from exc
    if row is None:
        known = [r[0] for r in conn.execute("SELECT id FROM stores ORDER BY id")]
        raise StoreDataError(f"{source}: no store {store!r} (stores: {', '.join(known) or 'none'})")
    by_id: dict[str, dict[str, Any]] = {}
    for c in (conn, *shards):
        for p in _products(c, store):
            by_id.setdefault(str(p["id"]), p)
    products = [by_id[k] for k in sorted(by_id)]
    history = [
        (str(u), str(i), int(n), float(d), int(q or 0))
        for u, i, n, d, q in conn.execute(
            "SELECT user_id, item_id, n, last_day, qty FROM recs_history WHERE store = ? ORDER BY user_id, item_id",
            (store,),
        )
    ]
    return StoreExport(store, str(row[1]), products, history, source)


def export_store(
    store: str, db: Path | None = None, from_export: Path | None = None, roots: Iterable[Path] | None = None
) -> tuple[StoreExport, Path | None]:
    """(the store's rows, the local database file they came from — None for a dump). A store with no product in its
    database is read from its shards too (module docstring)."""
    if from_export is not None:
        conn = load_dump(from_export)
        extra = shard_dumps(from_export) if _no_products(conn, store) else []
        shards = [load_dump(p, ("products",)) for p in extra]
        source = f"export {from_export}" + (f" + {len(extra)} shard dump(s)" if extra else "")
        try:
            return read_store(conn, store, source, shards), None
        finally:
            for c in (conn, *shards):
                c.close()
    path = db if db is not None else find_local_d1(store, roots)
    conn = snapshot(path)
    extra = local_shard_files(store, path) if _no_products(conn, store) else []
    shards = [snapshot(p) for p in extra]
    try:
        return read_store(conn, store, f"d1 {path}" + (f" + {len(extra)} shard file(s)" if extra else ""), shards), path
    finally:
        for c in (conn, *shards):
            c.close()


# ---------------------------------------------------------------- the purchase log rebuilt from the rows


@dataclass(frozen=True)
class StoreData:
    """A store's purchases as interactions (``customer`` indexes ``users``; items index the catalogue: every product
    of the store plus any history item no longer in it, sorted by id), and the end of its data."""

    export: StoreExport
    inter: Interactions
    users: tuple[str, ...]
    end: float  # the first instant after the last purchase day (as ``data.end_of_day``)
    imputed: int  # purchases placed by the even-spread rule (not at a row's last_day)
    extra: dict[str, Any] = field(default_factory=dict)


def _item_text(p: dict[str, Any]) -> str:
    return " ".join(str(p.get(k) or "") for k in ("title", "brand", "category")).strip()


@dataclass
class Placed:
    """Purchase lines placed from history rows (``place_purchases``), as parallel lists."""

    cust: list[int] = field(default_factory=list)
    item: list[int] = field(default_factory=list)
    invoice: list[int] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    qty: list[int] = field(default_factory=list)
    imputed: int = 0  # placed by the even-spread rule (not at a row's last_day)


def place_purchases(
    rows: Sequence[tuple[str, str, int, float, int]], uidx: dict[str, int], cidx: dict[str, int], first_invoice: int = 1
) -> Placed:
    """One line per purchase of each (user, item, n, last_day, qty) row: the last at ``last_day`` (one basket per
    user and day), the ``n - 1`` earlier ones — each a basket of its own — evenly between the user's earliest
    ``last_day`` among ``rows`` and this one (all at ``last_day`` when that span is empty); units split evenly."""
    first = {u: math.inf for u in {r[0] for r in rows}}
    for u, _, _, d, _ in rows:
        first[u] = min(first[u], d)
    out = Placed()
    baskets: dict[tuple[int, int], int] = {}
    next_inv = first_invoice
    for u, i, n, last, q in rows:
        k = uidx[u]
        base, span = q // n, last - first[u]
        for j in range(n):
            observed = j == n - 1
            t = last if observed or span <= 0 else first[u] + span * j / (n - 1)
            if observed:
                key = (k, math.floor(last))
                if key not in baskets:
                    baskets[key] = next_inv
                    next_inv += 1
                invoice = baskets[key]
            else:
                invoice, next_inv = next_inv, next_inv + 1
                out.imputed += 1
            out.cust.append(k)
            out.item.append(cidx[i])
            out.invoice.append(invoice)
            out.ts.append(t)
            out.qty.append(q - base * (n - 1) if observed else base)
    return out


def to_interactions(export: StoreExport) -> StoreData:
    buys = export.purchases()
    if not buys:
        raise StoreDataError(f"store {export.store!r} has no purchases in recs_history")
    by_id = {str(p["id"]): p for p in export.products}
    codes = tuple(sorted(set(by_id) | {r[1] for r in buys}))
    cidx = {c: i for i, c in enumerate(codes)}
    prices = np.array([float(by_id.get(c, {}).get("price") or 0.0) for c in codes], np.float32)
    cat = Catalogue(codes, tuple(_item_text(by_id.get(c, {})) for c in codes), prices)
    users = tuple(sorted({r[0] for r in buys}))
    uidx = {u: k for k, u in enumerate(users)}
    placed = place_purchases(buys, uidx, cidx)
    cust, item, inv, ts, qty, imputed = placed.cust, placed.item, placed.invoice, placed.ts, placed.qty, placed.imputed
    order = np.lexsort((np.asarray(item), np.asarray(inv), np.asarray(ts)))
    price = prices[np.asarray(item, np.int64)]
    inter = Interactions(
        np.asarray(cust, np.int64)[order],
        np.asarray(item, np.int32)[order],
        np.asarray(inv, np.int64)[order],
        np.asarray(ts, np.float64)[order],
        np.asarray(qty, np.int32)[order],
        price[order],
        cat,
    )
    end = end_of_day(date_of(max(r[3] for r in buys)))
    return StoreData(export, inter, users, end, imputed)


# ---------------------------------------------------------------- loading SQL back


def _wrangler() -> list[str]:
    local = REPO / "node_modules" / ".bin" / "wrangler"
    if local.exists():
        return [str(local)]
    if shutil.which("npx"):
        return ["npx", "--no-install", "wrangler"]
    raise StoreDataError("wrangler is not installed (npm ci): cannot load the tables into local D1")


def count_rows(db_file: Path, store: str, version: str) -> int:
    conn = snapshot(db_file)
    try:
        row = conn.execute(
            "SELECT count(*) FROM recs_item_stats WHERE store = ? AND model_version = ?", (store, version)
        ).fetchone()
        return int(row[0])
    finally:
        conn.close()


def load_sql(
    sql_file: Path,
    db_file: Path,
    store: str,
    version: str,
    expect_items: int,
    log: Callable[[str], None] = print,
    runner: Callable[..., Any] = subprocess.run,
) -> str:
    """Execute ``sql_file`` on the database ``db_file``; returns how ("wrangler" or "sqlite"). Raises StoreDataError
    when the version's item rows are not in that file afterwards."""
    root = wrangler_state_root(db_file)
    if root is not None:
        cmd = [*_wrangler(), "d1", "execute", DATABASE, "--local", "--persist-to", str(root), "--file", str(sql_file)]
        log(f"loading {sql_file.name} into local D1: {' '.join(cmd[-7:])}")
        res = runner(cmd, cwd=REPO, env={**os.environ, **WRANGLER_ENV}, capture_output=True, text=True)
        if res.returncode != 0:
            raise StoreDataError(f"wrangler d1 execute failed ({res.returncode}): {(res.stderr or res.stdout)[-2000:]}")
        how = "wrangler"
    else:
        conn = sqlite3.connect(db_file)
        try:
            conn.executescript(sql_file.read_text(encoding="utf-8"))
            conn.commit()
        finally:
            conn.close()
        how = "sqlite"
    got = count_rows(db_file, store, version)
    if got != expect_items:
        raise StoreDataError(
            f"{db_file}: {got} item rows of {version} after the load, {expect_items} expected "
            "(wrangler loaded another database file? pass --db with the file wrangler dev uses)"
        )
    return how
