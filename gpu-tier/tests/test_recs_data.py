"""recs.data: cleaning of Online Retail invoice lines, the catalogue, time splits and returning-customer truth."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest
from vitrine_gpu.recs import data

HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]
# one invoice line per row, fields separated by "|" (HEADER order; a trailing space and empty fields are data)
ROWS = [
    line.split("|")
    for line in """
536365|85123A|WHITE HANGING HEART T-LIGHT HOLDER |6|2011-01-01 08:26:00|2.55|17850|United Kingdom
536365|85123A|WHITE HANGING HEART T-LIGHT HOLDER|2|2011-01-01 08:26:00|2.55|17850|United Kingdom
536365|71053|WHITE METAL LANTERN|6|2011-01-01 08:26:00|3.39|17850|United Kingdom
536366|POST|POSTAGE|1|2011-01-02 09:00:00|18.00|12583|France
536366|22633|HAND WARMER UNION JACK|6|2011-01-02 09:00:00|1.85|12583|France
C536367|22633|HAND WARMER UNION JACK|-6|2011-01-03 09:00:00|1.85|12583|France
536368|22633||3|2011-01-04 10:00:00|2.10||United Kingdom
536369|gift_0001_20|Dotcomgiftshop Gift Voucher|1|2011-01-04 10:00:00|17.02||United Kingdom
536370|DCGSSGIRL|GIRLS PARTY BAG|1|2011-01-04 10:00:00|3.29||United Kingdom
536371|85123a|WHITE HEART T-LIGHT HOLDER|1|2011-02-01 10:00:00|2.95|17850|United Kingdom
536372|71053|WHITE METAL LANTERN|0|2011-02-01 10:00:00|3.39|17850|United Kingdom
536373|71053|WHITE METAL LANTERN|1|2011-02-01 10:00:00|0|17850|United Kingdom
536374|84029G|KNITTED UNION FLAG HOT WATER BOTTLE|4|2011-02-02 10:00:00|3.39|13047|United Kingdom
536375|BANK CHARGES|Bank Charges|1|2011-02-02 10:00:00|15.00|13047|United Kingdom
""".strip("\n").splitlines()
]


def write(path: Path, rows: list[list[str]]) -> Path:
    with gzip.open(path, "wt", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(rows)
    return path


@pytest.fixture()
def inter(tmp_path: Path) -> data.Interactions:
    return data.load(write(tmp_path / "x.csv.gz", ROWS))


def test_product_codes() -> None:
    for ok in ("85123A", "71053", "85123a", "15056BL"):
        assert data.is_product_code(ok)
    for bad in (
        "POST",
        "DOT",
        "M",
        "m",
        "C2",
        "D",
        "S",
        "BANK CHARGES",
        "AMAZONFEE",
        "CRUK",
        "PADS",
        "B",
        "DCGS0003",
        "DCGSSGIRL",
        "gift_0001_20",
    ):
        assert not data.is_product_code(bad), bad


def test_cleaning_drops_cancellations_non_products_and_non_positive(inter: data.Interactions) -> None:
    assert inter.catalogue.codes == ("22633", "71053", "84029G", "85123A")
    cat = inter.catalogue.index()
    # 536365 (two merged 85123A lines + 71053), 536366 (22633; POST dropped), 536368 (guest), 536371, 536374
    assert len(inter) == 6
    assert sorted(inter.invoice.tolist()) == [536365, 536365, 536366, 536368, 536371, 536374]
    merged = (inter.invoice == 536365) & (inter.item == cat["85123A"])
    assert inter.qty[merged].tolist() == [8]
    guest = inter.invoice == 536368
    assert inter.customer[guest].tolist() == [-1]
    assert sorted(inter.users().tolist()) == [12583, 13047, 17850]
    assert np.all(np.diff(inter.ts) >= 0)


def test_catalogue_keeps_last_description_and_price(inter: data.Interactions) -> None:
    cat = inter.catalogue
    k = cat.index()
    assert cat.descriptions[k["85123A"]] == "WHITE HEART T-LIGHT HOLDER"  # the later, upper-cased code's line
    assert cat.descriptions[k["22633"]] == "HAND WARMER UNION JACK"  # the later empty description is skipped
    assert cat.prices[k["22633"]] == pytest.approx(2.10)
    assert data.prices_at(inter.before(data.end_of_day("2011-01-02")))[k["22633"]] == pytest.approx(1.85)


def test_time_split_and_returning_customers(inter: data.Interactions) -> None:
    cut = data.end_of_day("2011-01-31")
    hist, window = inter.before(cut), inter.select(inter.ts >= cut)
    assert hist.ts.max() < cut <= window.ts.min()
    truth = data.truth_sets(hist, window)
    k = inter.catalogue.index()
    assert truth == {17850: {k["85123A"]}}  # 13047 buys after the cut but has no history: not returning
    assert data.date_of(cut) == "2011-02-01"


def test_loading_is_deterministic_and_rejects_other_schemas(tmp_path: Path) -> None:
    a = data.load(write(tmp_path / "a.csv.gz", ROWS))
    b = data.load(write(tmp_path / "b.csv.gz", list(reversed(ROWS))))
    assert a.catalogue.codes == b.catalogue.codes
    for f in ("customer", "item", "invoice", "ts", "qty"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="Online Retail schema"):
        data.load(bad)
