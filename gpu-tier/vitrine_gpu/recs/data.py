"""Online Retail invoice lines -> a clean store catalogue and purchase interactions, plus time-split helpers.

Cleaning (deterministic, no file special-cased):
- cancellations (InvoiceNo starting with ``C``), lines with Quantity <= 0 or UnitPrice <= 0 are dropped;
- non-product stock codes are dropped: a product code is 5 digits plus an optional letter suffix
  (``85123A``); ``POST``, ``DOT``, ``M``, ``C2``, ``D``, ``S``, ``BANK CHARGES``, ``AMAZONFEE``, ``CRUK``, ``PADS``,
  ``B``, ``DCGS…`` and ``gift_0001_…`` fail that pattern. Codes are upper-cased (``85123a`` == ``85123A``);
- lines of the same (invoice, product) are merged (quantities summed);
- guest lines (empty CustomerID) are kept with ``customer == -1``: they count for co-purchase and popularity,
  never as a user.

Catalogue: StockCode -> last non-empty description (stripped) and last unit price, over the lines given.
Times are float days since 1970-01-01 (UK local time as written; the file has no zone).
"""

from __future__ import annotations

import csv
import datetime as _dt
import gzip
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import paths
from ..registry import sha256_file

PRODUCT_CODE = re.compile(r"^\d{5}[A-Z]{0,3}$")
COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country")
SECONDS_PER_DAY = 86400.0
SHARED_FILE = "online_retail_before_2011-11-01.csv.gz"


def is_product_code(code: str) -> bool:
    return bool(PRODUCT_CODE.match(code.strip().upper()))


def default_transactions() -> Path | None:
    """../shared/datasets/online_retail/online_retail_before_2011-11-01.csv.gz when present."""
    s = paths.shared_dir()
    if s is None:
        return None
    d = s / "datasets" / "online_retail"
    if (d / SHARED_FILE).exists():
        return d / SHARED_FILE
    files = sorted(d.glob("online_retail*.csv.gz")) if d.is_dir() else []
    return files[0] if files else None


def day_of(date: str) -> float:
    """'YYYY-MM-DD' (or 'YYYY-MM-DD HH:MM:SS') -> float days since the epoch."""
    return float(np.datetime64(date.strip().replace(" ", "T"), "s").astype(np.int64)) / SECONDS_PER_DAY


def end_of_day(date: str) -> float:
    """The first instant after 'YYYY-MM-DD' (so ``ts < end_of_day(d)`` means 'on or before d')."""
    return day_of(date[:10]) + 1.0


def date_of(day: float) -> str:
    return str(np.datetime64(int(round(day * SECONDS_PER_DAY)), "s"))[:10]


@dataclass(frozen=True)
class Catalogue:
    codes: tuple[str, ...]  # item index -> StockCode
    descriptions: tuple[str, ...]  # item index -> last non-empty description ("" if none)
    prices: np.ndarray  # item index -> last unit price (float32)

    def index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.codes)}

    def __len__(self) -> int:
        return len(self.codes)


@dataclass(frozen=True)
class Interactions:
    """One row per (invoice, product) purchase line, sorted by (ts, invoice, item). ``item`` indexes ``catalogue``."""

    customer: np.ndarray  # int64, -1 for guests
    item: np.ndarray  # int32
    invoice: np.ndarray  # int64 invoice number
    ts: np.ndarray  # float64 days since epoch
    qty: np.ndarray  # int32 (summed per invoice line)
    price: np.ndarray  # float32 unit price on that line
    catalogue: Catalogue

    def __len__(self) -> int:
        return int(self.item.size)

    def select(self, mask: np.ndarray) -> Interactions:
        return Interactions(
            self.customer[mask],
            self.item[mask],
            self.invoice[mask],
            self.ts[mask],
            self.qty[mask],
            self.price[mask],
            self.catalogue,
        )

    def before(self, t: float) -> Interactions:
        return self.select(self.ts < t)

    def between(self, t0: float, t1: float) -> Interactions:
        return self.select((self.ts >= t0) & (self.ts < t1))

    def users(self) -> np.ndarray:
        u = np.unique(self.customer)
        return u[u >= 0]

    @property
    def end(self) -> float:
        return float(self.ts.max()) if len(self) else float("nan")

    def items_seen(self) -> np.ndarray:
        return np.unique(self.item)


def _open_text(path: Path) -> io.TextIOBase:
    p = Path(path)
    if p.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8", newline="")
    return open(p, encoding="utf-8", newline="")


@dataclass
class _Raw:
    invoice: list[int]
    code: list[str]
    desc: list[str]
    qty: list[int]
    ts: list[str]
    price: list[float]
    customer: list[int]


def read_lines(files: Sequence[Path | str]) -> _Raw:
    """The kept (clean) lines of one or more files in the Online Retail schema, in file order."""
    raw = _Raw([], [], [], [], [], [], [])
    for f in files:
        with _open_text(Path(f)) as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in COLUMNS[:7] if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{f}: not in the Online Retail schema (missing columns {missing})")
            for r in reader:
                inv = r["InvoiceNo"].strip()
                code = r["StockCode"].strip().upper()
                if not inv or not inv.isdigit() or not PRODUCT_CODE.match(code):
                    continue  # cancellations ("C…"), adjustments ("A…") and non-product codes
                try:
                    qty = int(r["Quantity"])
                    price = float(r["UnitPrice"])
                except ValueError:
                    continue
                if qty <= 0 or price <= 0:
                    continue
                cid = r["CustomerID"].strip()
                raw.invoice.append(int(inv))
                raw.code.append(code)
                raw.desc.append((r["Description"] or "").strip())
                raw.qty.append(qty)
                raw.ts.append(r["InvoiceDate"].strip().replace(" ", "T"))
                raw.price.append(price)
                raw.customer.append(int(float(cid)) if cid else -1)
    return raw


def load(files: Sequence[Path | str] | Path | str) -> Interactions:
    """Clean interactions (with their catalogue) from one or more Online Retail files. Deterministic."""
    if isinstance(files, (str, Path)):
        files = [files]
    raw = read_lines(files)
    return from_lines(raw.invoice, raw.code, raw.desc, raw.qty, raw.ts, raw.price, raw.customer)


def from_lines(
    invoice: Sequence[int],
    code: Sequence[str],
    desc: Sequence[str],
    qty: Sequence[int],
    ts: Sequence[str],
    price: Sequence[float],
    customer: Sequence[int],
) -> Interactions:
    n = len(code)
    t = np.array(ts, dtype="datetime64[s]").astype(np.int64).astype(np.float64) / SECONDS_PER_DAY if n else np.zeros(0)
    codes = sorted(set(code))
    cidx = {c: i for i, c in enumerate(codes)}
    item = np.fromiter((cidx[c] for c in code), dtype=np.int32, count=n)
    inv = np.asarray(invoice, dtype=np.int64)
    cust = np.asarray(customer, dtype=np.int64)
    q = np.asarray(qty, dtype=np.int64)
    pr = np.asarray(price, dtype=np.float64)
    # catalogue: last (by time, then file order) non-empty description and last price per code
    order = np.lexsort((np.arange(n), t))
    descriptions = [""] * len(codes)
    prices = np.zeros(len(codes), dtype=np.float32)
    for i in order:
        j = item[i]
        prices[j] = pr[i]
        if desc[i]:
            descriptions[j] = desc[i]
    cat = Catalogue(tuple(codes), tuple(descriptions), prices)
    if n == 0:
        z = np.zeros(0)
        return Interactions(
            z.astype(np.int64), z.astype(np.int32), z.astype(np.int64), z, z.astype(np.int32), z.astype(np.float32), cat
        )
    # merge lines of the same (invoice, item): keyed sort, then reduce
    key_order = np.lexsort((item, inv, t))
    inv_s, item_s = inv[key_order], item[key_order]
    first = np.ones(n, dtype=bool)
    first[1:] = (inv_s[1:] != inv_s[:-1]) | (item_s[1:] != item_s[:-1])
    starts = np.flatnonzero(first)
    qsum = np.add.reduceat(q[key_order], starts)
    sel = key_order[starts]
    return Interactions(cust[sel], item[sel], inv[sel], t[sel], qsum.astype(np.int32), pr[sel].astype(np.float32), cat)


def catalogue_until(inter: Interactions, t: float) -> np.ndarray:
    """Item indices sold before time t (the catalogue a model trained up to t may know)."""
    return np.unique(inter.item[inter.ts < t])


def prices_at(inter: Interactions) -> np.ndarray:
    """item index -> last unit price among ``inter``'s lines (0 for items not sold there)."""
    out = np.zeros(len(inter.catalogue), dtype=np.float32)
    out[inter.item] = inter.price  # rows are time-sorted, so the last write is the latest price
    return out


def truth_sets(history: Interactions, window: Interactions) -> dict[int, set[int]]:
    """Returning customers -> set of items they bought in ``window``.

    A returning customer has at least one purchase in ``history`` and at least one in ``window``.
    """
    known = set(history.users().tolist())
    out: dict[int, set[int]] = {}
    for u, i in zip(window.customer.tolist(), window.item.tolist()):
        if u >= 0 and u in known:
            out.setdefault(u, set()).add(i)
    return out


def invoices_by_user(inter: Interactions) -> dict[int, list[tuple[float, list[int]]]]:
    """customer -> [(ts, [items…]) per invoice] in time order (guests excluded)."""
    out: dict[int, dict[int, tuple[float, list[int]]]] = {}
    for u, inv, t, i in zip(inter.customer.tolist(), inter.invoice.tolist(), inter.ts.tolist(), inter.item.tolist()):
        if u < 0:
            continue
        d = out.setdefault(u, {})
        if inv not in d:
            d[inv] = (t, [])
        d[inv][1].append(i)
    return {u: sorted(d.values(), key=lambda x: x[0]) for u, d in out.items()}


def data_hash(files: Iterable[Path | str]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(sha256_file(Path(f)).encode())
    return h.hexdigest()


def parse_date(s: str) -> str:
    """Validate 'YYYY-MM-DD' and return it."""
    _dt.date.fromisoformat(s)
    return s
