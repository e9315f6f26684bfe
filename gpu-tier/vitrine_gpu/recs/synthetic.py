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
