"""The shipped store's (online-retail) purchase log for retraining from D1: its transactions file plus every purchase
D1 holds since (`npm run retrain -- --store online-retail`; README "Scheduled retraining").

**Why not the D1 rows alone.** The shipped store's ``recs_history`` is loaded from its transactions file (the
production version's ``tables.json`` history, ``recs.d1.tables_sql_statements``) and grows with every purchase
event. Rebuilding the whole log from those rows (``store_data.to_interactions``) would throw away what the file
knows exactly — each purchase's time and basket — and spread a customer's 2011 purchases over the years up to
their first purchase since. So the log is the file's lines as they are, plus the purchases since: per D1 row
(user, item) with ``n`` above the file's count of that pair and its last purchase after the file's last day, the
difference — the last one at the row's ``last_day``, earlier ones spread evenly between the user's first purchase
since and it (``to_interactions``' rule, applied to the purchases since only).

**One clock.** The file ends on 2011-10-31; purchase events are stamped with the time they arrive. Between the two
the store did not exist, and a time split across that gap would leave the ranker's label windows before the cut
empty. The purchases since are moved back by whole days (``shift_days``) so that the first of them falls on the day
after the file's last one: the log is continuous, the held-out window (the last ``WINDOW_DAYS`` of it) holds every
purchase since plus the file's last days when the purchases since span less, and the models are trained on what
precedes the cut only. The shift is reported (``StoreData.extra``) and recorded in the version's manifest.

**Nothing new.** No purchase since the file ends: ``NoNewPurchases`` — the production version was trained on the
same data, and a candidate would only differ by its time split.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import paths
from . import data as recs_data
from .data import Interactions, date_of, end_of_day
from .store_data import StoreData, StoreDataError, StoreExport, place_purchases, to_interactions

SHIPPED_STORE = "online-retail"  # the store whose models ship trained on its transactions file (current.json's)


class NoNewPurchases(StoreDataError):
    """D1 holds no purchase of the shipped store beyond its transactions file."""


def shipped_files() -> list[Path]:
    """The shipped store's transactions files, as the prepare-recs step recorded them (``<state>/recs/source.json``)."""
    src = paths.recs_dir() / "source.json"
    if not src.exists():
        raise StoreDataError(f"{src} missing: run the pipeline's prepare-recs step (npm run pipeline) first")
    return [Path(f) for f in json.loads(src.read_text())["files"]]


def _file_counts(inter: Interactions) -> dict[tuple[str, str], tuple[int, int]]:
    """(user id, item code) → (purchases, units) of the file, as its D1 history rows count them (one per invoice
    line of a known customer: ``sources._history``)."""
    m = inter.customer >= 0
    out: dict[tuple[str, str], tuple[int, int]] = {}
    codes = inter.catalogue.codes
    for c, i, q in zip(inter.customer[m].tolist(), inter.item[m].tolist(), inter.qty[m].tolist()):
        key = (str(c), codes[i])
        n, units = out.get(key, (0, 0))
        out[key] = (n + 1, units + int(q))
    return out


def since_rows(
    export: StoreExport, inter: Interactions, shipped_end: float
) -> tuple[list[tuple[str, str, int, float, int]], dict[str, int]]:
    """The purchases D1 holds beyond the file: (user, item, n since, last_day, units since) per row, and what was
    left out (rows whose extra purchases end before the file does; items the file's catalogue lacks)."""
    counts = _file_counts(inter)
    known = set(inter.catalogue.codes)
    out: list[tuple[str, str, int, float, int]] = []
    skipped = {"before_file_end": 0, "unknown_items": 0}
    for u, i, n, last, q in export.purchases():
        n0, q0 = counts.get((u, i), (0, 0))
        if n <= n0:
            continue
        if last < shipped_end:
            skipped["before_file_end"] += 1
        elif i not in known:
            skipped["unknown_items"] += 1
        else:
            out.append((u, i, n - n0, last, max(q - q0, n - n0)))
    return out, skipped


def shipped_interactions(export: StoreExport, files: Sequence[Path]) -> StoreData:
    """The shipped store's log: the file's lines plus the purchases since (moved back to follow the file's last day;
    module docstring). Raises NoNewPurchases when there are none."""
    inter = recs_data.load(files)
    shipped_end = end_of_day(date_of(inter.end))
    since, skipped = since_rows(export, inter, shipped_end)
    if not since:
        raise NoNewPurchases(
            f"store {export.store!r}: no purchase in D1 since its transactions file ends ({date_of(shipped_end - 1)}): "
            "the production models were trained on the same data"
        )
    first_since = min(r[3] for r in since)
    shift = max(0.0, math.floor(first_since) - shipped_end)
    users = tuple(
        sorted({str(c) for c in np.unique(inter.customer[inter.customer >= 0]).tolist()} | {r[0] for r in since})
    )
    uidx = {u: k for k, u in enumerate(users)}
    cidx = {c: k for k, c in enumerate(inter.catalogue.codes)}
    placed = place_purchases(since, uidx, cidx, int(inter.invoice.max()) + 1 if len(inter) else 1)
    item, inv, qty = placed.item, placed.invoice, placed.qty
    cust, ts = placed.cust, [t - shift for t in placed.ts]
    file_cust = np.array([uidx[str(c)] if c >= 0 else -1 for c in inter.customer.tolist()], np.int64)
    new_item = np.asarray(item, np.int32)
    all_item = np.concatenate([inter.item, new_item])
    all_inv = np.concatenate([inter.invoice, np.asarray(inv, np.int64)])
    all_ts = np.concatenate([inter.ts, np.asarray(ts, np.float64)])
    order = np.lexsort((all_item, all_inv, all_ts))
    merged = Interactions(
        np.concatenate([file_cust, np.asarray(cust, np.int64)])[order],
        all_item[order],
        all_inv[order],
        all_ts[order],
        np.concatenate([inter.qty, np.asarray(qty, inter.qty.dtype)])[order],
        np.concatenate([inter.price, inter.catalogue.prices[new_item].astype(inter.price.dtype)])[order],
        inter.catalogue,
    )
    end = end_of_day(date_of(float(merged.ts.max())))
    extra: dict[str, Any] = {
        "file_lines": len(inter),
        "file_until": date_of(shipped_end - 1),
        "purchases_since": int(sum(r[2] for r in since)),
        "rows_since": len(since),
        "since_from": date_of(first_since),
        "since_to": date_of(max(r[3] for r in since)),
        "shift_days": shift,
        "skipped_rows": skipped,
    }
    return StoreData(export, merged, users, end, placed.imputed, extra)


def store_interactions(export: StoreExport) -> StoreData:
    """A store's purchase log for training and the gate: the shipped store's file plus its purchases since, any
    other store's log rebuilt from its D1 rows."""
    if export.store == SHIPPED_STORE:
        return shipped_interactions(export, shipped_files())
    return to_interactions(export)
