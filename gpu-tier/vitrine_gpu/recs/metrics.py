"""Top-k recommendation metrics over per-user truth sets, with bootstrap CIs (reused by ``eval:recommend``).

- ``recall_at_k(ranked, truth, k)`` = |top-k ∩ truth| / |truth|
- ``ndcg_at_k(ranked, truth, k)``: binary gains, DCG = Σ 1/log2(rank+1) over hits in the top k, ideal DCG = the DCG of
  min(|truth|, k) hits at the top.
A ranked list may hold duplicates only once (later repeats are ignored); users with an empty truth set are an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..metrics import CI, bootstrap_ci, paired_bootstrap_diff

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
    dcg = sum(1.0 / math.log2(r + 2) for r, i in enumerate(_dedupe(ranked, k)) if i in truth)
    ideal = sum(1.0 / math.log2(r + 2) for r in range(min(len(truth), k)))
    return dcg / ideal


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
