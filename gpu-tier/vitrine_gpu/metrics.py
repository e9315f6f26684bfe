"""Ranking metrics over judged pools: nDCG with ESCI gains (E=1, S=0.1, C=0.01, I=0) and bootstrap CIs.

`ndcg(scores, gains, k=None)`: nDCG of the ranking induced by ``scores`` (higher first) over the judged pool;
the ideal DCG is computed over the same pool, so k=None is "nDCG over the full judged pool" and k=10 is nDCG@10.
Ties in scores are broken pessimistically (lower gain first) so that constant scorers get no credit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

ESCI_GAINS: dict[str, float] = {"E": 1.0, "S": 0.1, "C": 0.01, "I": 0.0}
ESCI_GRADES: dict[str, int] = {"E": 3, "S": 2, "C": 1, "I": 0}


def dcg(gains_in_rank_order: Sequence[float], k: int | None = None) -> float:
    g = list(gains_in_rank_order)[: k if k else None]
    return float(sum(x / math.log2(i + 2) for i, x in enumerate(g)))


def ndcg(scores: Sequence[float], gains: Sequence[float], k: int | None = None) -> float:
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


def bootstrap_ci(values: Sequence[float], n_boot: int = 2000, alpha: float = 0.05, seed: int = 0) -> CI:
    """Percentile bootstrap CI of the mean of per-query values (queries resampled with replacement)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return CI(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    means = v[idx].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return CI(float(v.mean()), float(lo), float(hi), int(v.size))


def paired_bootstrap_diff(
    a: Sequence[float], b: Sequence[float], n_boot: int = 2000, alpha: float = 0.05, seed: int = 0
) -> CI:
    """CI of mean(a - b) over the same queries."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return bootstrap_ci(d, n_boot, alpha, seed)


def per_query_ndcg(
    rankers: Mapping[str, Callable[[str], Sequence[float]]], pools: Mapping[str, Sequence[float]], k: int | None = None
) -> dict[str, list[float]]:
    """For each ranker (query_id -> scores aligned with the pool), the per-query nDCG list over ``pools`` order."""
    return {name: [ndcg(f(qid), pools[qid], k) for qid in pools] for name, f in rankers.items()}


def markdown_table(
    rows: Sequence[tuple[str, Sequence[float], Sequence[float]]],
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
