"""Listwise training of the light MLP on judged candidate lists, plus grouped (by query) cross-validation."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ... import paths
from ...metrics import ndcg
from .. import catalog
from ..features import FEATURE_NAMES, NUM_FEATURES, compute_features
from .model import LightMLP


@dataclass(frozen=True)
class LightConfig:
    hidden: tuple[int, ...] = (64, 32)
    dropout: float = 0.3
    epochs: int = 100  # grouped CV on ESCI: 300 epochs overfit (nDCG@10 0.632), 100 epochs 0.658
    lr: float = 3e-3
    weight_decay: float = 1e-2
    # ListNet target: softmax(grade * temperature) over the list (grades E=3,S=2,C=1,I=0 from the gains)
    target_temperature: float = 2.0
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class QueryList:
    qid: str
    query: str
    rows: list[dict[str, Any]]
    x: np.ndarray  # [n, F] float32
    gains: np.ndarray  # [n] float64 (ESCI gains)


_GRADE_OF_GAIN = {1.0: 3.0, 0.1: 2.0, 0.01: 1.0, 0.0: 0.0}


def gains_to_grades(g: np.ndarray) -> np.ndarray:
    return np.array([_GRADE_OF_GAIN.get(round(float(v), 4), 3.0 * float(v)) for v in g], dtype=np.float64)


@dataclass
class LightData:
    """One judged candidate list per query: rows via candidates.sql, CONTRACTS.md C2 features, gains."""

    lists: dict[str, QueryList]
    skipped_products: int = 0
    source: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(
        cls, catalog_dir: Path | None = None, conn: sqlite3.Connection | None = None, progress: bool = False
    ) -> LightData:
        cdir = catalog_dir or paths.CATALOG
        ds = catalog.dataset_from_source(cdir)
        queries = catalog.read_queries(ds.queries)
        labels = catalog.read_labels(ds.labels)
        own = conn is None
        conn = conn or catalog.connect(cdir / "catalog.sqlite")
        lists: dict[str, QueryList] = {}
        skipped = 0
        it = list(queries.items())
        if progress:
            it = tqdm(it, desc="candidate lists", unit="q")
        try:
            for qid, q in it:
                pool = labels.get(qid, {})
                if not pool or catalog.match_expression(q) is None:
                    continue
                rows = catalog.candidates(conn, q, list(pool))
                skipped += len(pool) - len(rows)
                if not rows:
                    continue
                lists[qid] = QueryList(
                    qid, q, rows, compute_features(q, rows), np.array([pool[r["id"]] for r in rows], dtype=np.float64)
                )
        finally:
            if own:
                conn.close()
        return cls(lists, skipped, catalog.read_source(cdir))


class LightScorer:
    """A trained model: scores raw feature matrices or candidate rows."""

    def __init__(self, model: LightMLP, config: LightConfig) -> None:
        self.model = model.eval()
        self.config = config

    def score_features(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.model(torch.as_tensor(x, dtype=torch.float32)).numpy().astype(np.float64)

    def score_rows(self, query: str, rows: Sequence[dict[str, Any]]) -> np.ndarray:
        return self.score_features(compute_features(query, rows))

    __call__ = score_rows


def _pad(lists: Sequence[QueryList]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    lmax = max(len(l.rows) for l in lists)
    x = np.zeros((len(lists), lmax, NUM_FEATURES), dtype=np.float32)
    grades = np.zeros((len(lists), lmax), dtype=np.float32)
    mask = np.zeros((len(lists), lmax), dtype=bool)
    for i, l in enumerate(lists):
        n = len(l.rows)
        x[i, :n] = l.x
        grades[i, :n] = gains_to_grades(l.gains)
        mask[i, :n] = True
    return torch.from_numpy(x), torch.from_numpy(grades), torch.from_numpy(mask)


def fit(train_qids: Sequence[str], data: LightData, config: LightConfig = LightConfig()) -> LightScorer:
    """Train on the lists of ``train_qids`` (ListNet: softmax cross-entropy against softmax(grade * T))."""
    lists = [data.lists[q] for q in train_qids if q in data.lists and len(data.lists[q].rows) > 1]
    if not lists:
        raise ValueError("no training lists")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest and leaves the other cores alone
    try:
        return _fit(lists, config)
    finally:
        torch.set_num_threads(threads)


def _fit(lists: Sequence[QueryList], config: LightConfig) -> LightScorer:
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    model = LightMLP(NUM_FEATURES, config.hidden, config.dropout)
    model.set_normalisation(np.concatenate([l.x for l in lists]))
    x, grades, mask = _pad(lists)
    neg = torch.finfo(torch.float32).min / 4
    target = torch.softmax(torch.where(mask, grades * config.target_temperature, torch.tensor(neg)), dim=1)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
    model.train()
    for _ in range(config.epochs):
        opt.zero_grad()
        s = model(x)
        logp = torch.log_softmax(torch.where(mask, s, torch.tensor(neg)), dim=1)
        loss = -(target * torch.where(mask, logp, torch.zeros_like(logp))).sum(dim=1).mean()
        loss.backward()
        opt.step()
        sched.step()
    return LightScorer(model.eval(), config)


def grouped_folds(qids: Sequence[str], k: int = 5, seed: int = 0) -> list[list[str]]:
    q = sorted(qids)
    random.Random(seed).shuffle(q)
    return [q[i::k] for i in range(k)]


def cross_validate(
    data: LightData, k: int = 5, seed: int = 0, config: LightConfig = LightConfig()
) -> dict[str, dict[str, list[float]]]:
    """Grouped k-fold CV by query: per-query nDCG (full pool and @10) for the light model and BM25 on held-out queries."""
    out: dict[str, dict[str, list[float]]] = {"light": {"full": [], "at10": []}, "bm25": {"full": [], "at10": []}}
    qids = list(data.lists)
    for fold in grouped_folds(qids, k, seed):
        held = set(fold)
        scorer = fit([q for q in qids if q not in held], data, config)
        for q in fold:
            l = data.lists[q]
            ls = scorer.score_features(l.x)
            bs = l.x[:, FEATURE_NAMES.index("bm25")]
            for name, s in (("light", ls), ("bm25", bs)):
                out[name]["full"].append(ndcg(s, l.gains))
                out[name]["at10"].append(ndcg(s, l.gains, 10))
    return out
