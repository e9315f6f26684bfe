"""The sources' tables as the edge sees them: rebuilt from the D1 rows only (``tables.json`` = ``recs.sql``).

D1 keeps, per user and item, the number of invoices holding the item, the day of its last purchase and the quantity
(``recs_history``; purchase events update it in real time). What ``fit_tables`` derives from the full invoice log
is reconstructed from those rows, the same way in Python (here) and TypeScript (edge/recs/history.ts):

- ``decay`` (recency-decayed count) = n x exp(-(now - last) / tau)  (every invoice counted at the last one's age);
- the user's invoice count = max(largest n, distinct last-purchase days), the first purchase = the earliest
  ``last_day``, the latest basket = the items whose ``last_day`` is the latest.

Everything else (item stats, neighbours, MF vectors) is the D1 rows as they are. ``features`` and ``candidates``
run unchanged on the view, so the parity fixture (``features_fixture``) checks the TypeScript port against them.

``served(t)`` applies the same reconstruction to tables fitted from the log, so the light ranker is trained and
evaluated on the features the edge computes, not on ones only the full log can give (no training/serving skew).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from .sources import SourceConfig, Tables, UserHistory, UserKey


def user_history(rows: list[list[Any]], index: dict[str, int], now: float, tau: float) -> UserHistory | None:
    """One user's D1 rows ``[item, n, last_day, qty]`` (items outside ``index`` dropped), sorted by item index."""
    known = sorted((index[r[0]], float(r[1]), float(r[2]), float(r[3])) for r in rows if r[0] in index)
    if not known:
        return None
    return history_from_rows(
        np.array([r[0] for r in known], np.int32),
        np.array([r[1] for r in known], np.float32),
        np.array([r[2] for r in known], np.float64),
        np.array([r[3] for r in known], np.float32),
        now,
        tau,
    )


def history_from_rows(
    items: np.ndarray, n: np.ndarray, last: np.ndarray, qty: np.ndarray, now: float, tau: float
) -> UserHistory:
    """The view of one user's rows (``items`` ascending, non-empty): what D1's per-item rows can tell."""
    decay = (n.astype(np.float64) * np.exp(-(now - last) / tau)).astype(np.float32)
    last_ts = float(last.max())
    n_inv = max(int(n.max()), int(np.unique(last).size))
    return UserHistory(items, n, last, decay, qty, n_inv, float(last.min()), last_ts, items[last == last_ts])


LAST_DAY_DECIMALS = 5  # recs_history.last_day as the pipeline exports it (train.py ``tables_json``)


def served(t: Tables) -> Tables:
    """``t`` with every user's history replaced by the edge's view of the rows D1 gets from it (same items, counts,
    quantities and last days to the exported precision)."""
    history: dict[UserKey, UserHistory] = {}
    for u, h in t.history.items():
        o = np.argsort(h.items, kind="stable")
        last = np.round(h.last[o].astype(np.float64), LAST_DAY_DECIMALS)
        history[u] = history_from_rows(
            h.items[o].astype(np.int32),
            np.trunc(h.n[o]).astype(np.float32),
            last,
            np.trunc(h.qty[o]).astype(np.float32),
            t.now,
            t.cfg.recency_tau_days,
        )
    return replace(t, history=history)


def _neighbours(table: dict[str, list[list[Any]]], index: dict[str, int], width: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.full((len(index), max(width, 1)), -1, np.int32)
    sims = np.zeros((len(index), max(width, 1)), np.float32)
    for item, nbs in table.items():
        if item not in index:
            continue
        row = [(index[j], s) for j, s in nbs if j in index][:width]
        for r, (j, s) in enumerate(row):
            ids[index[item], r], sims[index[item], r] = j, s
    return ids, sims


def tables_from_json(tj: dict[str, Any]) -> tuple[Tables, tuple[str, ...]]:
    """``tables.json`` (the D1 rows of one recs-light version) -> (the edge's ``Tables``, item codes by index).
    Users are keyed by their id string, as in D1."""
    cfg = SourceConfig(**tj["config"])
    now = float(tj["now"])
    codes = tuple(sorted(tj["items"]))
    index = {c: i for i, c in enumerate(codes)}
    stats = [tj["items"][c] for c in codes]

    def col(name: str) -> np.ndarray:
        return np.array([s[name] for s in stats], np.float32)

    history: dict[UserKey, UserHistory] = {}
    for user, rows in tj["history"].items():
        h = user_history(rows, index, now, cfg.recency_tau_days)
        if h is not None:
            history[str(user)] = h
    nb_ids, nb_sims = _neighbours(tj["copurchase"], index, cfg.neighbours)
    ct_ids, ct_sims = _neighbours(tj["content"], index, cfg.content_neighbours)
    item_vecs = np.zeros((len(codes), cfg.mf_factors), np.float32)
    for c, v in tj["item_vectors"].items():
        if c in index:
            item_vecs[index[c]] = v
    pop_all = col("pop_all")
    t = Tables(
        now,
        len(codes),
        cfg,
        history,
        pop_all,
        col("pop_recent"),
        col("trend"),
        col("repeat_rate"),
        col("price"),
        nb_ids,
        nb_sims,
        ct_ids,
        ct_sims,
        {str(u): np.asarray(v, np.float32) for u, v in tj["user_vectors"].items()},
        item_vecs,
        pop_all > 0,
    )
    return t, codes
