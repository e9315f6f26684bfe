"""Per-(user, candidate) features the edge has at request time: source scores and ranks, history rows, item stats.

Every feature is a float32 from the D1-held tables (``Tables``) and the merged ``Candidates``; ranks are 1-based
with 0 meaning "not proposed by that source". Heavy-tailed counts go through log1p. The order of ``FEATURE_NAMES``
is the ONNX input order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .sources import SOURCES, Candidates, Tables, UserKey

FEATURE_NAMES: tuple[str, ...] = (
    *(f"score_{s}" for s in SOURCES),
    *(f"rank_{s}" for s in SOURCES),
    "in_history",
    "log_invoices_with_item",  # number of the user's invoices holding the item
    "share_of_invoices",  # that / the user's invoice count
    "log_qty",  # total quantity the user bought
    "log_days_since_item",  # days since the user last bought the item (0 if never)
    "overdue",  # days since last purchase / the user's mean gap between its purchases of the item
    "log_user_invoices",
    "log_user_items",
    "log_days_since_user_last",
    "log_user_mean_gap",  # the user's mean days between invoices
    "log_pop_all",
    "log_pop_recent",
    "log_trend",
    "repeat_rate",
    "log_price",
    "basket_cooc",  # co-purchase similarity to the user's last basket (or the given cart/page items)
    "item_sold",  # the item had a sale before the cut (0: cold item, content-only)
)
NUM_FEATURES = len(FEATURE_NAMES)


def features(t: Tables, user: UserKey | None, c: Candidates, context: Sequence[int] = ()) -> np.ndarray:
    n = c.items.size
    x = np.zeros((n, NUM_FEATURES), np.float32)
    if n == 0:
        return x
    col = 0
    for s in SOURCES:
        sc = c.scores[s]
        x[:, col] = np.log1p(sc) if s in ("repeat", "trending") else sc
        col += 1
    for s in SOURCES:
        r = c.ranks[s]
        x[:, col] = np.where(r > 0, 1.0 / np.log2(1.0 + np.maximum(r, 1.0)), 0.0)  # 0 = not proposed; rank 1 -> 1
        col += 1
    items = c.items
    h = t.history.get(user) if user is not None else None
    n_inv = np.zeros(n, np.float32)
    qty = np.zeros(n, np.float32)
    since = np.zeros(n, np.float32)
    overdue = np.zeros(n, np.float32)
    in_hist = np.zeros(n, np.float32)
    if h is not None:
        pos = {int(i): k for k, i in enumerate(h.items.tolist())}
        for k, i in enumerate(items.tolist()):
            j = pos.get(i)
            if j is None:
                continue
            in_hist[k] = 1.0
            n_inv[k] = h.n[j]
            qty[k] = h.qty[j]
            since[k] = max(t.now - float(h.last[j]), 0.0)
            span = max(float(h.last[j]) - h.first_ts, 0.0)
            gap = span / max(float(h.n[j]) - 1.0, 1.0) if h.n[j] > 1 else max(t.now - h.first_ts, 1.0)
            overdue[k] = min(since[k] / max(gap, 1.0), 20.0)
    x[:, col] = in_hist
    col += 1
    x[:, col] = np.log1p(n_inv)
    col += 1
    x[:, col] = n_inv / float(h.n_invoices) if h is not None else 0.0
    col += 1
    x[:, col] = np.log1p(qty)
    col += 1
    x[:, col] = np.log1p(since)
    col += 1
    x[:, col] = overdue
    col += 1
    if h is not None:
        user_gap = (h.last_ts - h.first_ts) / max(h.n_invoices - 1, 1) if h.n_invoices > 1 else 365.0
        x[:, col] = np.log1p(h.n_invoices)
        x[:, col + 1] = np.log1p(h.items.size)
        x[:, col + 2] = np.log1p(max(t.now - h.last_ts, 0.0))
        x[:, col + 3] = np.log1p(user_gap)
    col += 4
    x[:, col] = np.log1p(t.pop_all[items])
    col += 1
    x[:, col] = np.log1p(t.pop_recent[items])
    col += 1
    x[:, col] = np.log1p(t.trend[items])
    col += 1
    x[:, col] = t.repeat_rate[items]
    col += 1
    x[:, col] = np.log1p(t.price[items])
    col += 1
    basket = (
        np.asarray(context, np.int32) if len(context) else (h.last_basket if h is not None else np.zeros(0, np.int32))
    )
    if basket.size:
        acc = np.zeros(t.n_items, np.float32)
        nb, sims = t.nb_ids[basket], t.nb_sims[basket]
        ok = nb >= 0
        np.add.at(acc, nb[ok], sims[ok])
        x[:, col] = acc[items]
    col += 1
    x[:, col] = t.sold[items].astype(np.float32)
    col += 1
    assert col == NUM_FEATURES
    return x
