"""Rankings on a store's held-out window, shared by the per-store pipeline (its manifest's figures) and the release
gate (``release/recs_gate.py``): a registered ranker as the edge runs it (its ONNX graph over the features of
``edge_view.served`` tables), the light → heavy cascade, and the baseline a store gets without a trained model.

**The live-table baseline** (``live_tables`` + ``merge_order``). A store without a trained version is served from its
live tables (edge/recs/live.ts, rebuilt every minute from ``recs_history``): per item popularity (all time, and the
purchases of rows last bought in the last 30 days), trend (n × exp(−age/14 d) per row), repeat rate, price, and the
top-50 co-purchase neighbours by cosine over the users who bought both (users with at most 200 items); no MF vectors,
no content neighbours. The baseline ranks those sources without a model: the candidate merge order itself (the
user's history by recency-decayed count, then round-robin co-purchase → recency → trending), top k. It is what the
tables alone give; the bundled default ranker of another store is not a baseline of this store's.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import scipy.sparse as sp

from .. import metrics as M
from . import sources as S
from .data import Interactions, truth_sets
from .edge_view import served
from .evaluate import CascadeConfig, cascade_rank
from .features import FEATURE_NAMES, features

K = 20
LIVE_POPULARITY_DAYS = 30.0  # edge/recs/live.ts POPULARITY_DAYS
LIVE_TREND_TAU_DAYS = 14.0  # TREND_TAU_DAYS
LIVE_NEIGHBOURS = 50  # NEIGHBOURS
LIVE_MAX_BASKET = 200  # MAX_BASKET
LIVE_ROW = "live tables, no trained model (merge order)"

Scorer = Callable[[np.ndarray], np.ndarray]
HeavyFn = Callable[[int, np.ndarray], np.ndarray]


def window_truth(inter: Interactions, cut: float, end: float) -> dict[int, set[int]]:
    """Returning customers (a purchase before ``cut``) -> the items they bought in [cut, end)."""
    return truth_sets(inter.before(cut), inter.between(cut, end))


def live_tables(t: S.Tables) -> S.Tables:
    """``t`` (fitted at the cut) reduced to what the edge's live tables hold, computed the way live.ts computes them
    from the history rows (n, last day) as of the cut."""
    n_items = t.n_items
    pop_all = np.zeros(n_items, np.float64)
    pop_recent = np.zeros(n_items, np.float64)
    trend = np.zeros(n_items, np.float64)
    buyers = np.zeros(n_items, np.float64)
    repeaters = np.zeros(n_items, np.float64)
    rows: list[np.ndarray] = []
    for h in t.history.values():
        n = np.trunc(h.n).astype(np.float64)
        last = h.last.astype(np.float64)
        np.add.at(pop_all, h.items, n)
        recent = last >= t.now - LIVE_POPULARITY_DAYS
        np.add.at(pop_recent, h.items[recent], n[recent])
        np.add.at(trend, h.items, n * np.exp(-(t.now - last) / LIVE_TREND_TAU_DAYS))
        np.add.at(buyers, h.items[n >= 1], 1.0)
        np.add.at(repeaters, h.items[n >= 2], 1.0)
        if h.items.size <= LIVE_MAX_BASKET:
            rows.append(h.items)
    if rows:
        r = np.concatenate([np.full(x.size, k) for k, x in enumerate(rows)])
        x = sp.csr_matrix((np.ones(r.size, np.float32), (r, np.concatenate(rows))), shape=(len(rows), n_items))
        nb_ids, nb_sims = S.incidence_neighbours(x, LIVE_NEIGHBOURS)
    else:
        nb_ids, nb_sims = np.full((n_items, 1), -1, np.int32), np.zeros((n_items, 1), np.float32)
    return replace(
        t,
        pop_all=pop_all.astype(np.float32),
        pop_recent=pop_recent.astype(np.float32),
        trend=trend.astype(np.float32),
        repeat_rate=(repeaters / np.maximum(buyers, 1.0)).astype(np.float32),
        nb_ids=nb_ids,
        nb_sims=nb_sims,
        ct_ids=np.full_like(t.ct_ids, -1),
        ct_sims=np.zeros_like(t.ct_sims),
        user_vecs={},
        item_vecs=np.zeros((n_items, 0), np.float32),
        sold=pop_all > 0,
    )


def merge_order(t: S.Tables, users: Sequence[int], k: int = K) -> dict[int, list[int]]:
    """The candidate sources in their merge order (no model), top k, on the edge's view of ``t``."""
    edge = served(t)
    return {u: S.candidates(edge, u).items[:k].tolist() for u in users}


def onnx_scorer(version_dir: Path) -> Scorer:
    """A recs-light version's ONNX graph (what the edge runs) over its manifest's features."""
    man_file = version_dir / "manifest.json"  # absent while a version is being built (its scratch directory)
    feats = json.loads(man_file.read_text()).get("features", FEATURE_NAMES) if man_file.exists() else FEATURE_NAMES
    sess = ort.InferenceSession(str(version_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    cols = [FEATURE_NAMES.index(f) for f in feats]
    name = sess.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        if not len(x):
            return np.zeros(0, np.float32)
        out = np.asarray(sess.run(None, {name: np.ascontiguousarray(x[:, cols], dtype=np.float32)})[0]).reshape(-1)
        if not np.all(np.isfinite(out)):
            raise ValueError(f"{version_dir.name}: non-finite scores")
        return out

    return run


def ranked(
    t: S.Tables,
    users: Sequence[int],
    scorer: Scorer,
    heavy_fn: HeavyFn | None = None,
    cc: CascadeConfig | None = None,
    k: int = K,
) -> dict[int, list[int]]:
    """Each user's candidates on the edge's view of ``t`` ranked by ``scorer`` (the light order), or with
    ``heavy_fn`` by the cascade (light top M re-ranked by light + w × heavy); top k."""
    edge = served(t)
    cc = cc or CascadeConfig()
    out: dict[int, list[int]] = {}
    for u in users:
        c = S.candidates(edge, u)
        if not c.items.size:
            out[u] = []
            continue
        s = scorer(features(edge, u, c))
        if heavy_fn is not None:
            out[u] = cascade_rank(c.items, s, functools.partial(heavy_fn, u), cc)[1][:k].tolist()
        else:
            out[u] = c.items[np.argsort(-s, kind="stable")][:k].tolist()
    return out


def rows_json(per: Mapping[str, M.PerUser]) -> list[dict[str, Any]]:
    """[{method, recall: {mean, lo, hi}, ndcg: {…}, users}] with 95% bootstrap CIs."""
    out = []
    for name, p in per.items():
        row = M.summarise(name, p)
        out.append(
            {
                "method": name,
                "recall": {"mean": row.recall.mean, "lo": row.recall.lo, "hi": row.recall.hi},
                "ndcg": {"mean": row.ndcg.mean, "lo": row.ndcg.lo, "hi": row.ndcg.hi},
                "users": row.recall.n,
            }
        )
    return out
