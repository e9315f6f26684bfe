"""metrics for recommendations: Recall@k and binary NDCG@k on hand-checked cases, per-user means, paired bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from vitrine_gpu import metrics as M


def test_recall_by_hand() -> None:
    assert M.recall_at_k([1, 2, 3], {2, 9}, k=20) == 0.5
    assert M.recall_at_k([1, 2, 3], {3}, k=2) == 0.0  # 3 is ranked below the cut
    assert M.recall_at_k([5, 5, 6], {6}, k=2) == 1.0  # a repeated id takes one slot
    assert M.recall_at_k(list(range(30)), set(range(40)), k=20) == 0.5


def test_ndcg_by_hand() -> None:
    # hits at ranks 1 and 3 of 2 relevant: (1 + 1/log2(4)) / (1 + 1/log2(3))
    assert M.ndcg_at_k([7, 1, 8], {7, 8}, k=20) == pytest.approx((1 + 0.5) / (1 + 1 / math.log2(3)))
    assert M.ndcg_at_k([7, 8], {7, 8}, k=20) == pytest.approx(1.0)
    assert M.ndcg_at_k([1, 2], {7}, k=20) == 0.0
    # ideal is min(|truth|, k) ones: 3 relevant, k = 2, both top slots hit -> 1
    assert M.ndcg_at_k([1, 2, 3], {1, 2, 3}, k=2) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        M.ndcg_at_k([1], set())


def test_per_user_and_table() -> None:
    truth = {1: {10, 11}, 2: {20}}
    pu = M.per_user({1: [10, 99], 3: [20]}, truth, k=20)
    assert pu.users == [1, 2]
    assert pu.recall.tolist() == [0.5, 0.0]  # user 2 has no list: scores 0
    row = M.summarise("x", pu)
    assert row.recall.mean == pytest.approx(0.25) and row.recall.n == 2
    assert "| x | 0.2500" in M.table([row])


def test_paired_difference_ci() -> None:
    truth = {u: {u} for u in range(200)}
    good = M.per_user({u: [u] for u in range(200)}, truth)
    bad = M.per_user({u: [u] if u % 2 else [-1] for u in range(200)}, truth)
    dr, dn = M.paired(good, bad)
    assert dr.mean == pytest.approx(0.5) and dr.lo > 0.4 and dr.hi < 0.6
    same, _ = M.paired(good, good)
    assert same.lo == same.hi == 0.0
    with pytest.raises(ValueError):
        M.paired(good, M.per_user({}, {0: {1}}))
    assert np.isnan(M.summarise("e", M.per_user({}, {})).recall.mean)
