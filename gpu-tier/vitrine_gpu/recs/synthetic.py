"""A seeded synthetic store in the Online Retail schema (the fallback when ../shared/datasets is absent, and tests).

Products: giftware-like names ``<COLOUR> <MOTIF> <TYPE>`` in themes; customers have 1-3 favourite themes, a
repertoire of staple products they re-order (repeat purchases dominate, as in the real data) and occasionally try
products from their themes, often alongside a staple's co-purchase partner. Invoices arrive at a per-customer
rate; some lines are guests (no CustomerID), cancellations (``C`` invoices) and non-product codes (POST, DOT, M),
so the cleaning paths are exercised.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from pathlib import Path
from typing import Any

import numpy as np

COLOURS = ("RED", "BLUE", "PINK", "GREEN", "IVORY", "BLACK", "VINTAGE", "PAISLEY", "POLKADOT", "STRIPY")
MOTIFS = ("HEART", "STAR", "RETROSPOT", "BIRD", "ROSE", "CHRISTMAS", "SPACEBOY", "DOLLY", "OWL", "BUNTING")
TYPES = (
    ("LUNCH BAG", 1.65),
    ("MUG", 1.25),
    ("T-LIGHT HOLDER", 2.55),
    ("CAKE CASES", 0.55),
    ("JUMBO BAG", 2.08),
    ("NAPKINS", 0.85),
    ("WATER BOTTLE", 4.25),
    ("DOORMAT", 7.95),
    ("BUNTING", 4.95),
    ("ALARM CLOCK", 3.75),
)
HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]


def generate_rows(
    n_customers: int = 300, n_products: int = 400, start: str = "2010-12-01", days: int = 334, seed: int = 0
) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    n_themes = len(MOTIFS)
    prods = []
    for k in range(n_products):
        motif = k % n_themes
        colour = COLOURS[(k // n_themes) % len(COLOURS)]
        typ, price = TYPES[(k * 7 + k // 13) % len(TYPES)]
        code = f"{20000 + k * 7:05d}" + ("A" if k % 11 == 0 else "")
        prods.append((code, f"{colour} {MOTIFS[motif]} {typ}", price, motif))
    by_theme = [[k for k in range(n_products) if prods[k][3] == t] for t in range(n_themes)]
    partner = rng.integers(0, n_products, size=n_products)  # each product's usual co-purchase
    day0 = dt.datetime.fromisoformat(start)
    rows: list[list[str]] = []
    invoice = 536365
    events = []
    for c in range(n_customers):
        themes = rng.choice(n_themes, size=int(rng.integers(1, 4)), replace=False)
        pool = [k for t in themes for k in by_theme[t]]
        staples = rng.choice(pool, size=min(len(pool), int(rng.integers(4, 16))), replace=False)
        rate = rng.uniform(0.02, 0.12)  # invoices per day
        t = rng.uniform(0, 30)
        while t < days:
            events.append((t, c, staples, pool))
            t += rng.exponential(1.0 / rate)
    for _ in range(n_customers * 2):  # guest baskets
        t = rng.uniform(0, days)
        theme = int(rng.integers(0, n_themes))
        events.append((t, -1, np.asarray(by_theme[theme][:5]), by_theme[theme]))
    events.sort(key=lambda e: (e[0], e[1]))
    for t, c, staples, pool in events:
        invoice += 1
        when = (day0 + dt.timedelta(days=float(t))).replace(microsecond=0, second=0)
        items = set(rng.choice(staples, size=min(len(staples), int(rng.integers(2, 8))), replace=False).tolist())
        for _ in range(int(rng.integers(0, 3))):
            items.add(int(rng.choice(pool)))
        for k in list(items):
            if rng.random() < 0.3:
                items.add(int(partner[k]))
        cust = "" if c < 0 else str(12346 + c)
        for k in sorted(items):
            code, desc, price, _ = prods[k]
            rows.append(
                [
                    str(invoice),
                    code,
                    desc,
                    str(int(rng.integers(1, 25))),
                    when.strftime("%Y-%m-%d %H:%M:%S"),
                    f"{price:.2f}",
                    cust,
                    "United Kingdom",
                ]
            )
        if rng.random() < 0.1:
            rows.append(
                [str(invoice), "POST", "POSTAGE", "1", when.strftime("%Y-%m-%d %H:%M:%S"), "18.00", cust, "France"]
            )
        if c >= 0 and rng.random() < 0.03:
            code, desc, price, _ = prods[sorted(items)[0]]
            rows.append(
                [
                    f"C{invoice}",
                    code,
                    desc,
                    "-2",
                    when.strftime("%Y-%m-%d %H:%M:%S"),
                    f"{price:.2f}",
                    cust,
                    "United Kingdom",
                ]
            )
    return rows


def write(path: Path | str, **kwargs: int | str) -> Path:
    """Write the synthetic invoice lines as a gzip CSV in the Online Retail schema; deterministic for a seed."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    w.writerows(generate_rows(**kwargs))  # type: ignore[arg-type]
    with open(p, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(buf.getvalue().encode())
    return p


def store_rows(
    n_customers: int = 100, n_products: int = 300, days: int = 120, seed: int = 0, start: str = "2010-12-01"
) -> tuple[list[dict[str, Any]], list[tuple[str, str, int, float, int]]]:
    """A synthetic store as the catalogue API and POST /v1/events leave it in D1: its products ({id, title, price})
    and its ``recs_history`` rows (user, item, n purchases, last purchase day, quantity), aggregated from the
    generated invoices (guests, cancellations and non-product lines dropped by the cleaning)."""
    from .data import from_lines

    rows = [r for r in generate_rows(n_customers, n_products, start, days, seed) if r[6]]
    inv: list[int] = []
    code: list[str] = []
    desc: list[str] = []
    qty: list[int] = []
    ts: list[str] = []
    price: list[float] = []
    cust: list[int] = []
    for r in rows:
        if not r[0].isdigit() or not r[1][:5].isdigit() or int(r[3]) <= 0:
            continue
        inv.append(int(r[0]))
        code.append(r[1])
        desc.append(r[2])
        qty.append(int(r[3]))
        ts.append(r[4].replace(" ", "T"))
        price.append(float(r[5]))
        cust.append(int(r[6]))
    inter = from_lines(inv, code, desc, qty, ts, price, cust)
    cat = inter.catalogue
    products = [
        {"id": c, "title": d, "price": round(float(p), 2)} for c, d, p in zip(cat.codes, cat.descriptions, cat.prices)
    ]
    agg: dict[tuple[int, int], list[float]] = {}
    for u, i, t, q in zip(inter.customer.tolist(), inter.item.tolist(), inter.ts.tolist(), inter.qty.tolist()):
        a = agg.setdefault((u, i), [0, 0.0, 0])
        a[0] += 1
        a[1] = max(a[1], t)
        a[2] += q
    history = sorted((str(u), cat.codes[i], int(n), round(last, 5), int(q)) for (u, i), (n, last, q) in agg.items())
    return products, history


def store_sql(
    store: str, title: str, products: list[dict[str, Any]], history: list[tuple[str, str, int, float, int]]
) -> list[str]:
    """D1 statements that create ``store`` with these products (its full-text index included, as PUT
    /admin/stores does) and history rows: for a temp SQLite with the migrations applied, or `wrangler d1 execute`."""
    from ..search.catalog import catalog_sql_statements, product_row, sql_literal, store_index_statements
    from .d1 import ROWID_BASE

    s = sql_literal(store)
    purchases = sum(r[2] for r in history)
    out = [
        f"INSERT INTO stores (id, title, is_default, event_count) VALUES ({s}, {sql_literal(title)}, 0, {purchases}) "
        "ON CONFLICT(id) DO UPDATE SET title = excluded.title, event_count = excluded.event_count;",
        *store_index_statements(store),
    ]
    rows = [{**product_row(p), "rowid": 2 * ROWID_BASE + k} for k, p in enumerate(products)]
    out += list(catalog_sql_statements(rows, store=store))
    out.append(f"DELETE FROM recs_history WHERE store = {s};")
    for k in range(0, len(history), 200):
        values = ",\n".join("(" + ", ".join(sql_literal(v) for v in (store, *r)) + ")" for r in history[k : k + 200])
        out.append(f"INSERT INTO recs_history (store, user_id, item_id, n, last_day, qty) VALUES\n{values};")
    return out
