"""The ranking metrics of both surfaces, with bootstrap CIs (every evaluation, gate and training report uses these).

Search, over judged pools: ``ndcg(scores, gains, k=None)``, nDCG with ESCI gains (E=1, S=0.1, C=0.01, I=0) of the
ranking induced by ``scores`` (higher first) over the judged pool; the ideal DCG is computed over the same pool, so
k=None is "nDCG over the full judged pool" and k=10 is nDCG@10. Ties in scores are broken pessimistically (lower gain
first) so that constant scorers get no credit. ``markdown_table`` prints per-ranker rows.

Recommendations, top-k over per-user truth sets: ``recall_at_k(ranked, truth, k)`` = |top-k ∩ truth| / |truth|;
``ndcg_at_k(ranked, truth, k)``: binary gains, the ideal DCG is the DCG of min(|truth|, k) hits at the top. A ranked
list may hold duplicates only once (later repeats are ignored); users with an empty truth set are an error.
``per_user`` → ``summarise`` (a ``Row``), ``paired`` and ``table``.

Both: ``bootstrap_ci`` (percentile bootstrap over queries or users) and ``paired_bootstrap_diff``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# per-item or per-query values: a list or a numpy vector
Values = Sequence[float] | np.ndarray

ESCI_GAINS: dict[str, float] = {"E": 1.0, "S": 0.1, "C": 0.01, "I": 0.0}
ESCI_GRADES: dict[str, int] = {"E": 3, "S": 2, "C": 1, "I": 0}


def dcg(gains_in_rank_order: Values, k: int | None = None) -> float:
    g = list(gains_in_rank_order)[: k if k else None]
    return float(sum(x / math.log2(i + 2) for i, x in enumerate(g)))


def ndcg(scores: Values, gains: Values, k: int | None = None) -> float:
    s = np.asarray(scores, dtype=np.float64)
    g = np.asarray(gains, dtype=np.float64)
    if s.shape != g.shape:
        raise ValueError("scores and gains differ in length")
    ideal = dcg(sorted(g, reverse=True), k)
    if ideal <= 0:
        return 0.0
    order = np.lexsort((g, -s))  # primary: score desc; ties: gain asc (pessimistic)
    return dcg(g[order], k) / ideal


@dataclass(frozen=True)
class CI:
    mean: float
    lo: float
    hi: float
    n: int

    def fmt(self, digits: int = 4) -> str:
        return f"{self.mean:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"


def bootstrap_ci(values: Values, n_boot: int = 2000, alpha: float = 0.05, seed: int = 0) -> CI:
    """Percentile bootstrap CI of the mean of per-query values (queries resampled with replacement)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return CI(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    means = v[idx].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return CI(float(v.mean()), float(lo), float(hi), int(v.size))


def paired_bootstrap_diff(a: Values, b: Values, n_boot: int = 2000, alpha: float = 0.05, seed: int = 0) -> CI:
    """CI of mean(a - b) over the same queries."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return bootstrap_ci(d, n_boot, alpha, seed)


def per_query_ndcg(
    rankers: Mapping[str, Callable[[str], Sequence[float]]], pools: Mapping[str, Sequence[float]], k: int | None = None
) -> dict[str, list[float]]:
    """For each ranker (query_id -> scores aligned with the pool), the per-query nDCG list over ``pools`` order."""
    return {name: [ndcg(f(qid), pools[qid], k) for qid in pools] for name, f in rankers.items()}


def markdown_table(
    rows: Sequence[tuple[str, Values, Values]],
    extra_cols: Mapping[str, Sequence[str]] | None = None,
    seed: int = 0,
) -> str:
    """rows: (ranker name, per-query nDCG full pool, per-query nDCG@10) -> markdown with 95% bootstrap CIs."""
    extra = dict(extra_cols or {})
    head = "| ranker | nDCG (judged pool) [95% CI] | nDCG@10 [95% CI] | queries |" + "".join(f" {c} |" for c in extra)
    sep = "| --- | --- | --- | --- |" + " --- |" * len(extra)
    lines = [head, sep]
    for i, (name, full, at10) in enumerate(rows):
        a, b = bootstrap_ci(full, seed=seed), bootstrap_ci(at10, seed=seed)
        cells = "".join(f" {extra[c][i]} |" for c in extra)
        lines.append(f"| {name} | {a.fmt()} | {b.fmt()} | {a.n} |{cells}")
    return "\n".join(lines)


# ---------------------------------------------------------------- recommendations: top-k over truth sets

K = 20


def _dedupe(ranked: Sequence[int], k: int) -> list[int]:
    seen: set[int] = set()
    out: list[int] = []
    for i in ranked:
        if i not in seen:
            seen.add(i)
            out.append(i)
            if len(out) == k:
                break
    return out


def recall_at_k(ranked: Sequence[int], truth: set[int], k: int = K) -> float:
    if not truth:
        raise ValueError("empty truth set")
    return len(set(_dedupe(ranked, k)) & truth) / len(truth)


def ndcg_at_k(ranked: Sequence[int], truth: set[int], k: int = K) -> float:
    if not truth:
        raise ValueError("empty truth set")
    return dcg([1.0 if i in truth else 0.0 for i in _dedupe(ranked, k)]) / dcg([1.0] * min(len(truth), k))


@dataclass(frozen=True)
class PerUser:
    users: list[int]
    recall: np.ndarray
    ndcg: np.ndarray


def per_user(recs: Mapping[int, Sequence[int]], truth: Mapping[int, set[int]], k: int = K) -> PerUser:
    """Metrics for every user of ``truth`` (a user missing from ``recs`` scores 0), in sorted user order."""
    users = sorted(truth)
    r = np.array([recall_at_k(recs.get(u, ()), truth[u], k) for u in users], dtype=np.float64)
    n = np.array([ndcg_at_k(recs.get(u, ()), truth[u], k) for u in users], dtype=np.float64)
    return PerUser(users, r, n)


@dataclass(frozen=True)
class Row:
    name: str
    recall: CI
    ndcg: CI


def summarise(name: str, pu: PerUser, n_boot: int = 2000, seed: int = 0) -> Row:
    return Row(name, bootstrap_ci(pu.recall, n_boot, seed=seed), bootstrap_ci(pu.ndcg, n_boot, seed=seed))


def paired(a: PerUser, b: PerUser, n_boot: int = 2000, seed: int = 0) -> tuple[CI, CI]:
    """CIs of mean(a - b) for Recall and NDCG over the same users (paired bootstrap)."""
    if a.users != b.users:
        raise ValueError("paired comparison needs the same users")
    return (
        paired_bootstrap_diff(a.recall, b.recall, n_boot, seed=seed),
        paired_bootstrap_diff(a.ndcg, b.ndcg, n_boot, seed=seed),
    )


def table(rows: Sequence[Row], k: int = K) -> str:
    lines = [f"| method | Recall@{k} [95% CI] | NDCG@{k} [95% CI] | users |", "| --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r.name} | {r.recall.fmt()} | {r.ndcg.fmt()} | {r.recall.n} |")
    return "\n".join(lines)
