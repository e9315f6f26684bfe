"""Candidate sources over tables the edge can hold in D1, and their merge into <= 300 candidates.

``fit_tables(train, cfg)`` builds, from interactions before the cut ``train.end``-ish time ``now``:
- per-user history rows (item, invoices containing it, last purchase time, recency-decayed count, quantity);
- per-item stats (popularity all-time / last 30 days, time-decayed trend, repeat rate, last price);
- item -> top-N co-purchase neighbours (cosine over invoice baskets, guests' baskets included);
- item -> top-N content neighbours (TF-IDF cosine over descriptions; the only signal for items nobody bought yet);
- implicit-ALS user and item vectors (Hu, Koren & Volinsky 2008; confidence 1 + alpha * log1p(count)).

Each source is a small pure function of those rows for one user (and optional context items: a product page or a
cart) returning ``(items, scores)``, highest first. ``candidates`` merges them (history first, then round-robin over
the other sources) into at most ``max_candidates`` items, keeping every source's score and rank for the ranker.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from .data import Interactions, prices_at

SOURCES = ("repeat", "recency", "copurchase", "mf", "trending", "content")


# a customer: its CustomerID (int) in the invoice log, its id string in D1 and the edge's view (edge_view.py)
UserKey = int | str


@dataclass(frozen=True)
class SourceConfig:
    recency_tau_days: float = 60.0  # history recency decay (TIFU-like)
    trend_tau_days: float = 14.0  # store trending decay
    popularity_days: float = 30.0
    neighbours: int = 50  # co-purchase top-N per item
    content_neighbours: int = 30
    mf_factors: int = 48
    mf_iterations: int = 12
    mf_reg: float = 0.1
    mf_alpha: float = 10.0
    mf_seed: int = 0
    per_source: int = 150  # top-N each non-history source proposes
    max_history: int = 200  # history items placed before the round-robin
    max_candidates: int = 300

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class UserHistory:
    items: np.ndarray  # int32 distinct items
    n: np.ndarray  # float32 number of invoices holding the item
    last: np.ndarray  # float64 time of the last purchase of the item
    decay: np.ndarray  # float32 sum over invoices of exp(-(now - t) / tau)
    qty: np.ndarray  # float32 total quantity
    n_invoices: int
    first_ts: float
    last_ts: float
    last_basket: np.ndarray  # int32 items of the latest invoice


@dataclass
class Tables:
    now: float
    n_items: int
    cfg: SourceConfig
    history: dict[UserKey, UserHistory]
    pop_all: np.ndarray  # float32 invoices holding the item
    pop_recent: np.ndarray  # float32 invoices in the last popularity_days
    trend: np.ndarray  # float32 time-decayed invoice count
    repeat_rate: np.ndarray  # float32 share of the item's customers who bought it on >= 2 invoices
    price: np.ndarray  # float32 last unit price
    nb_ids: np.ndarray  # int32 [n_items, N] co-purchase neighbours (-1 padded)
    nb_sims: np.ndarray  # float32 [n_items, N]
    ct_ids: np.ndarray  # int32 [n_items, M] content neighbours
    ct_sims: np.ndarray  # float32 [n_items, M]
    user_vecs: dict[UserKey, np.ndarray] = field(default_factory=dict)
    item_vecs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    sold: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # item was sold before ``now``


# ---------------------------------------------------------------- fitting


def _history(train: Interactions, now: float, tau: float) -> dict[UserKey, UserHistory]:
    m = train.customer >= 0
    cu, it, ts, q, inv = (
        train.customer[m],
        train.item[m],
        train.ts[m],
        train.qty[m].astype(np.float64),
        train.invoice[m],
    )
    out: dict[UserKey, UserHistory] = {}
    if cu.size == 0:
        return out
    order = np.lexsort((ts, it, cu))
    cu, it, ts, q, inv = cu[order], it[order], ts[order], q[order], inv[order]
    w = np.exp(-(now - ts) / tau)
    grp = np.ones(cu.size, bool)
    grp[1:] = (cu[1:] != cu[:-1]) | (it[1:] != it[:-1])
    st = np.flatnonzero(grp)
    g_cu, g_it = cu[st], it[st]
    g_n = np.diff(np.append(st, cu.size)).astype(np.float32)
    g_last = np.maximum.reduceat(ts, st)
    g_decay = np.add.reduceat(w, st).astype(np.float32)
    g_qty = np.add.reduceat(q, st).astype(np.float32)
    ubound = np.flatnonzero(np.r_[True, g_cu[1:] != g_cu[:-1]])
    uend = np.append(ubound[1:], g_cu.size)
    # invoices per user: (user, invoice, ts) distinct
    uo = np.lexsort((inv, ts, cu))
    cu2, ts2, inv2, it2 = cu[uo], ts[uo], inv[uo], it[uo]
    ubound2 = np.flatnonzero(np.r_[True, cu2[1:] != cu2[:-1]])
    uend2 = np.append(ubound2[1:], cu2.size)
    inv_info: dict[int, tuple[int, float, float, np.ndarray]] = {}
    for a, b in zip(ubound2, uend2):
        invs = inv2[a:b]
        last_inv = invs[-1]
        last_items = it2[a:b][invs == last_inv]
        inv_info[int(cu2[a])] = (
            int(np.unique(invs).size),
            float(ts2[a]),
            float(ts2[b - 1]),
            last_items.astype(np.int32),
        )
    for a, b in zip(ubound, uend):
        u = int(g_cu[a])
        n_inv, first, last, basket = inv_info[u]
        out[u] = UserHistory(
            g_it[a:b].astype(np.int32), g_n[a:b], g_last[a:b], g_decay[a:b], g_qty[a:b], n_inv, first, last, basket
        )
    return out


BLOCK_CELLS = 20_000_000
ALS_CHUNK_NNZ = 65_536  # padded (entries x factors) float64 per ALS chunk: 65,536 x 48 x 8 B = 25 MB


def _topn_sparse(m: sp.spmatrix, n: int, row0: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-n of a sparse block whose row k is item ``row0 + k`` (that item and non-positive entries
    excluded), -1 padded, sorted by value desc then id asc — vectorised: one sort of the block's nonzeros."""
    coo = m.tocoo()
    r, c, v = coo.row, coo.col, coo.data.astype(np.float32)
    keep = (v > 0) & (c != r + row0)
    r, c, v = r[keep], c[keep], v[keep]
    order = np.lexsort((c, -v, r))
    r, c, v = r[order], c[order], v[order]
    rank = np.arange(r.size) - np.searchsorted(r, r)  # position within its row
    top = rank < n
    idx = np.full((m.shape[0], n), -1, np.int32)
    vals = np.zeros((m.shape[0], n), np.float32)
    idx[r[top], rank[top]] = c[top]
    vals[r[top], rank[top]] = v[top]
    return idx, vals


def _topn_blocks(x: sp.csr_matrix, y: sp.csr_matrix, scale: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-n per row of (x @ y) scaled by ``scale[i] * scale[j]``, computed a block of rows at a time, so memory
    stays O(block x neighbours) instead of the dense items x items matrix."""
    n_rows = x.shape[0]
    n = min(n, max(y.shape[1] - 1, 1))
    ids, sims = np.full((n_rows, n), -1, np.int32), np.zeros((n_rows, n), np.float32)
    block = max(16, min(4096, BLOCK_CELLS // max(1, y.shape[1])))  # a block's product has ≤ block x columns entries
    for a in range(0, n_rows, block):
        prod = (x[a : a + block] @ y).tocoo()
        prod.data = (prod.data.astype(np.float32) / scale[prod.row + a]) / scale[prod.col]
        ids[a : a + block], sims[a : a + block] = _topn_sparse(prod, n, a)
    return ids, sims


def copurchase_neighbours(train: Interactions, n_items: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Cosine of the invoice x item incidence matrix, top-n per item (sparse: cost grows with the co-purchase pairs,
    not with items²)."""
    if len(train) == 0:
        return np.full((n_items, n), -1, np.int32), np.zeros((n_items, n), np.float32)
    _, inv_idx = np.unique(train.invoice, return_inverse=True)
    x = sp.csr_matrix((np.ones(len(train), np.float32), (inv_idx, train.item)), shape=(int(inv_idx.max()) + 1, n_items))
    return incidence_neighbours(x, n)


def incidence_neighbours(x: sp.csr_matrix, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-n items per item by the cosine of a basket x item incidence matrix's columns (entries set to 1)."""
    x = x.copy()
    x.data[:] = 1.0
    xt = x.T.tocsr()
    d = np.sqrt(np.maximum(np.asarray(xt.sum(axis=1)).ravel(), 1.0)).astype(np.float32)
    return _topn_blocks(xt, x, d, n)


_TOKEN = re.compile(r"[a-z]+")
_STOP = {"of", "and", "the", "in", "with", "set", "a", "for", "to", "s"}


def tokens(description: str) -> list[str]:
    return [t for t in _TOKEN.findall(description.lower()) if len(t) > 1 and t not in _STOP]


def content_neighbours(descriptions: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """TF-IDF (log tf, smooth idf, L2) cosine over description word tokens, top-n per item."""
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, d in enumerate(descriptions):
        for t in tokens(d):
            rows.append(i)
            cols.append(vocab.setdefault(t, len(vocab)))
    n_items = len(descriptions)
    if not vocab:
        return np.full((n_items, n), -1, np.int32), np.zeros((n_items, n), np.float32)
    x = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_items, len(vocab)))
    x.sum_duplicates()
    x.data = 1.0 + np.log(x.data)
    df = np.bincount(x.indices, minlength=len(vocab)).astype(np.float32)
    idf = np.log((1 + n_items) / (1 + df)) + 1.0
    x = x @ sp.diags(idf.astype(np.float32))
    norm = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel()).astype(np.float32)
    x = x.tocsr()
    return _topn_blocks(x, x.T.tocsr(), np.maximum(norm, np.float32(1e-9)), n)


def implicit_als(
    counts: sp.csr_matrix, factors: int, iterations: int, reg: float, alpha: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Implicit-feedback ALS: preferences p = [count > 0], confidence 1 + alpha * log1p(count). Returns (U, V)."""
    rng = np.random.default_rng(seed)
    n_u, n_i = counts.shape
    u = (rng.standard_normal((n_u, factors)) * 0.01).astype(np.float64)
    v = (rng.standard_normal((n_i, factors)) * 0.01).astype(np.float64)
    conf = counts.copy().astype(np.float64)
    conf.data = alpha * np.log1p(conf.data)  # c - 1
    conf_t = conf.T.tocsr()
    eye = reg * np.eye(factors)

    def solve(fixed: np.ndarray, c: sp.csr_matrix, out: np.ndarray) -> None:
        # every row's normal equations batched: rows grouped by their entry count rounded up to a power of two,
        # padded (a padded entry has confidence 0 and a zero vector), lhs = gram + Yᵀ diag(c) Y and rhs = Yᵀ (1 + c)
        # by batched matmul, then one batched solve per group (≤ ALS_CHUNK_NNZ padded entries at a time)
        gram = fixed.T @ fixed + eye
        lens = np.diff(c.indptr)
        out[lens == 0] = 0.0
        width = 1 << np.ceil(np.log2(np.maximum(lens, 1))).astype(np.int64)
        for w in np.unique(width[lens > 0]):
            rows = np.flatnonzero((width == w) & (lens > 0))
            for k in range(0, rows.size, max(1, ALS_CHUNK_NNZ // int(w))):
                chunk = rows[k : k + max(1, ALS_CHUNK_NNZ // int(w))]
                pos = c.indptr[chunk][:, None] + np.arange(w)[None, :]
                valid = pos < c.indptr[chunk + 1][:, None]
                pos = np.where(valid, pos, 0)
                y = fixed[c.indices[pos]] * valid[:, :, None]  # (rows, w, f)
                cm1 = np.where(valid, c.data[pos], 0.0)  # (rows, w)
                yt = y.transpose(0, 2, 1)
                lhs = gram + np.matmul(yt * cm1[:, None, :], y)
                rhs = np.matmul(yt, ((1.0 + cm1) * valid)[:, :, None])
                out[chunk] = np.linalg.solve(lhs, rhs)[:, :, 0]

    for _ in range(iterations):
        solve(v, conf, u)
        solve(u, conf_t, v)
    return u.astype(np.float32), v.astype(np.float32)


def fit_tables(train: Interactions, now: float, cfg: SourceConfig = SourceConfig()) -> Tables:
    """Every table the sources need, from interactions strictly before ``now``."""
    train = train.before(now)
    n_items = len(train.catalogue)
    hist = _history(train, now, cfg.recency_tau_days)
    # item stats over invoices (guests included)
    pop_all = np.bincount(train.item, minlength=n_items).astype(np.float32)
    recent = train.ts >= now - cfg.popularity_days
    pop_recent = np.bincount(train.item[recent], minlength=n_items).astype(np.float32)
    trend = np.bincount(train.item, weights=np.exp(-(now - train.ts) / cfg.trend_tau_days), minlength=n_items).astype(
        np.float32
    )
    buyers = np.zeros(n_items, np.float32)
    repeaters = np.zeros(n_items, np.float32)
    for h in hist.values():
        buyers[h.items] += 1
        repeaters[h.items[h.n >= 2]] += 1
    repeat_rate = repeaters / np.maximum(buyers, 1.0)
    nb_ids, nb_sims = copurchase_neighbours(train, n_items, cfg.neighbours)
    ct_ids, ct_sims = content_neighbours(train.catalogue.descriptions, cfg.content_neighbours)
    users = sorted(hist)
    uidx = {u: k for k, u in enumerate(users)}
    rows = np.concatenate([np.full(hist[u].items.size, uidx[u]) for u in users]) if users else np.zeros(0, int)
    cols = np.concatenate([hist[u].items for u in users]) if users else np.zeros(0, int)
    vals = np.concatenate([hist[u].n for u in users]) if users else np.zeros(0)
    counts = sp.csr_matrix((vals, (rows, cols)), shape=(len(users), n_items))
    if users:
        uv, iv = implicit_als(counts, cfg.mf_factors, cfg.mf_iterations, cfg.mf_reg, cfg.mf_alpha, cfg.mf_seed)
    else:
        uv, iv = np.zeros((0, cfg.mf_factors), np.float32), np.zeros((n_items, cfg.mf_factors), np.float32)
    sold = pop_all > 0
    return Tables(
        now,
        n_items,
        cfg,
        hist,
        pop_all,
        pop_recent,
        trend,
        repeat_rate.astype(np.float32),
        prices_at(train),
        nb_ids,
        nb_sims,
        ct_ids,
        ct_sims,
        {u: uv[uidx[u]] for u in users},
        iv,
        sold,
    )


# ---------------------------------------------------------------- sources: (tables, user, context) -> (items, scores)

Scored = tuple[np.ndarray, np.ndarray]
EMPTY: Scored = (np.zeros(0, np.int32), np.zeros(0, np.float32))


def _top(scores: np.ndarray, items: np.ndarray, k: int | None) -> Scored:
    o = np.argsort(-scores, kind="stable")
    if k is not None:
        o = o[:k]
    return items[o].astype(np.int32), scores[o].astype(np.float32)


def repeat_frequency(t: Tables, user: UserKey, k: int | None = None) -> Scored:
    """The user's items by number of invoices holding them (ties: the more recent first)."""
    h = t.history.get(user)
    if h is None:
        return EMPTY
    o = np.lexsort((-h.last, -h.n))[: k if k else None]
    return h.items[o].astype(np.int32), h.n[o].astype(np.float32)


def repeat_recency(t: Tables, user: UserKey, k: int | None = None) -> Scored:
    """The user's items by recency-decayed purchase count, sum exp(-(now - t) / tau) over invoices."""
    h = t.history.get(user)
    if h is None:
        return EMPTY
    return _top(h.decay.astype(np.float64), h.items, k)


def _neighbour_scores(
    ids: np.ndarray,
    sims: np.ndarray,
    seeds: np.ndarray,
    weights: np.ndarray,
    n_items: int,
    k: int | None,
    exclude_seeds: bool = False,
) -> Scored:
    if seeds.size == 0:
        return EMPTY
    nb, s = ids[seeds], sims[seeds] * weights[:, None]
    ok = nb >= 0
    acc = np.bincount(nb[ok], weights=s[ok], minlength=n_items)
    if exclude_seeds:
        acc[seeds] = 0.0
    items = np.flatnonzero(acc > 0)
    return _top(acc[items], items, k)


def _seeds(t: Tables, user: UserKey | None, context: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Seed items and weights: context items (a page or a cart) weigh 1 each, plus the user's normalised decay."""
    items: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    if context:
        items.append(np.asarray(context, np.int32))
        weights.append(np.ones(len(context), np.float32))
    h = t.history.get(user) if user is not None else None
    if h is not None:
        items.append(h.items)
        weights.append(h.decay / max(float(h.decay.max()), 1e-9))
    if not items:
        return np.zeros(0, np.int32), np.zeros(0, np.float32)
    return np.concatenate(items), np.concatenate(weights)


def copurchase(t: Tables, user: UserKey | None, context: Sequence[int] = (), k: int | None = None) -> Scored:
    """Item-kNN: sum over seed items of weight x co-purchase cosine to their top-N neighbours."""
    s, w = _seeds(t, user, context)
    return _neighbour_scores(t.nb_ids, t.nb_sims, s, w, t.n_items, k)


def content(t: Tables, user: UserKey | None, context: Sequence[int] = (), k: int | None = None) -> Scored:
    """Description similarity to the seed items (reaches items with no purchases)."""
    s, w = _seeds(t, user, context)
    return _neighbour_scores(t.ct_ids, t.ct_sims, s, w, t.n_items, k)


def user_vector(t: Tables, user: UserKey | None, context: Sequence[int] = ()) -> np.ndarray | None:
    """The ALS user vector; for users unknown at fit time, the mean item vector of the seed items."""
    if user is not None and user in t.user_vecs:
        return t.user_vecs[user]
    s, w = _seeds(t, user, context)
    if s.size == 0 or t.item_vecs.ndim != 2 or t.item_vecs.shape[1] == 0:
        return None  # no seeds, or tables without MF vectors (the edge's live tables): no MF source
    return (t.item_vecs[s] * w[:, None]).sum(axis=0) / max(float(w.sum()), 1e-9)


def embedding(t: Tables, user: UserKey | None, context: Sequence[int] = (), k: int | None = None) -> Scored:
    """Matrix factorisation: dot product of the user vector with every sold item's vector (a scan)."""
    v = user_vector(t, user, context)
    if v is None:
        return EMPTY
    items = np.flatnonzero(t.sold)
    return _top(t.item_vecs[items] @ v, items, k)


def trending(t: Tables, user: UserKey | None = None, context: Sequence[int] = (), k: int | None = None) -> Scored:
    """Store trending: time-decayed invoice count (same for everyone)."""
    items = np.flatnonzero(t.trend > 0)
    return _top(t.trend[items], items, k)


def popularity(t: Tables, user: UserKey | None = None, context: Sequence[int] = (), k: int | None = None) -> Scored:
    """Invoices in the last ``popularity_days`` (the popularity baseline)."""
    items = np.flatnonzero(t.pop_recent > 0)
    return _top(t.pop_recent[items], items, k)


# ---------------------------------------------------------------- merge


@dataclass
class Candidates:
    items: np.ndarray  # int32 [n]
    scores: dict[str, np.ndarray]  # source -> float32 [n] (0 when the source did not propose the item)
    ranks: dict[str, np.ndarray]  # source -> float32 [n] (1-based; 0 = not proposed)


SOURCE_FUNCS: dict[str, Callable[..., Scored]] = {
    "copurchase": copurchase,
    "mf": embedding,
    "content": content,
    "trending": trending,
}


def candidates(
    t: Tables, user: UserKey | None, context: Sequence[int] = (), max_candidates: int | None = None
) -> Candidates:
    """History (by recency decay) first, up to ``max_history``; then round-robin over co-purchase, MF, content and
    trending, skipping duplicates, until ``max_candidates``."""
    cfg = t.cfg
    cap = max_candidates or cfg.max_candidates
    lists: dict[str, Scored] = {
        "repeat": repeat_frequency(t, user) if user is not None else EMPTY,
        "recency": repeat_recency(t, user) if user is not None else EMPTY,
    }
    for name, f in SOURCE_FUNCS.items():
        lists[name] = f(t, user, context, k=cfg.per_source)
    chosen: list[int] = []
    seen: set[int] = set(int(c) for c in context)  # never recommend the page item / cart items themselves
    for i in lists["recency"][0][: cfg.max_history].tolist():
        if len(chosen) >= cap:
            break
        if i not in seen:
            seen.add(i)
            chosen.append(i)
    order = ["copurchase", "mf", "recency", "content", "trending"]
    pos = {n: 0 for n in order}
    while len(chosen) < cap and any(pos[n] < lists[n][0].size for n in order):
        for n in order:
            ids = lists[n][0]
            while pos[n] < ids.size:
                i = int(ids[pos[n]])
                pos[n] += 1
                if i not in seen:
                    seen.add(i)
                    chosen.append(i)
                    break
            if len(chosen) >= cap:
                break
    items = np.asarray(chosen, np.int32)
    where = {int(i): k for k, i in enumerate(chosen)}
    scores: dict[str, np.ndarray] = {}
    ranks: dict[str, np.ndarray] = {}
    for n in SOURCES:
        ids, sc = lists[n]
        s_arr = np.zeros(items.size, np.float32)
        r_arr = np.zeros(items.size, np.float32)
        for r, (i, v) in enumerate(zip(ids.tolist(), sc.tolist())):
            k = where.get(i)
            if k is not None:
                s_arr[k] = v
                r_arr[k] = r + 1
        scores[n], ranks[n] = s_arr, r_arr
    return Candidates(items, scores, ranks)


def candidate_recall(cands: dict[int, Candidates], truth: dict[int, set[int]]) -> np.ndarray:
    """Per user (sorted), |candidates ∩ truth| / |truth|."""
    return np.array(
        [len(set(cands[u].items.tolist()) & truth[u]) / len(truth[u]) if u in cands else 0.0 for u in sorted(truth)],
        np.float64,
    )


def log_or_zero(x: float) -> float:
    return math.log1p(max(x, 0.0))
