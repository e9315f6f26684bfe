"""The offline gate: the candidate against the production version on the same held-out data.

Search kinds (``light``, ``heavy``): the judged query pools of the prepared catalogue (the shared ESCI queries, else
the synthetic ones; a fixed sample of ``release_gate_queries``, default 48, for speed: 0 = all) are scored by both models — no retraining — and compared by per-query nDCG@10. The queries are
split into grouped folds (by query, ``light.train.grouped_folds``) for per-fold deltas, and a paired bootstrap over
queries gives the 95% CI of the mean delta. Light candidates must also reproduce their ``parity.json`` in
onnxruntime (the edge's check). Recommendation kinds: the candidate must load and score, then
``recs_gate.run_recs_gate`` compares it with the store's production (or its live tables) on the store's most recent
held-out 30 days by Recall@20 and NDCG@20 (same margin convention, per metric).

``decide`` refuses when the candidate cannot be loaded or scored, when its scores are not finite, or when its mean
nDCG@10 is below production's by more than ``margin`` (settings ``release_gate_margin``, default 0.02) with the
paired bootstrap CI of the delta below 0 (a retrain that differs by noise alone is not refused).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from .. import registry
from ..metrics import ndcg, paired_bootstrap_diff
from ..search.features import FEATURE_NAMES
from ..search.heavy.model import format_document, load_model_dir
from ..search.heavy.train import HeavyConfig, TextPool, TrunkCache, score_pool, trunk_cache_dir
from ..search.light.train import LightData, grouped_folds
from ..server.loaders import load_recs
from .recs_gate import RECS_STORE, GateData, gate_data, run_recs_gate

PARITY_TOL = 1e-4
FOLDS = 5


class GateError(RuntimeError):
    """The candidate could not be loaded or scored."""


@dataclass(frozen=True)
class Pool:
    qid: str
    query: str
    rows: list[dict[str, Any]]
    x: np.ndarray  # C2 features, FEATURE_NAMES order
    gains: np.ndarray


Scorer = Callable[[Pool], Sequence[float]]


def decide(
    candidate: dict[str, list[float]], production: dict[str, list[float]] | None, margin: float, folds: int = FOLDS
) -> dict[str, Any]:
    """Per-query nDCG@10 of both models (same query ids) → the gate's verdict and figures."""
    qids = sorted(candidate)
    cand = [candidate[q][0] for q in qids]
    report: dict[str, Any] = {"metric": "ndcg@10", "margin": margin, "queries": len(qids)}
    if not qids:
        return {**report, "decision": "refuse", "reason": "no judged queries to evaluate on"}
    report["candidate"] = float(np.mean(cand))
    if production is None:
        return {**report, "decision": "pass", "reason": "no production version to compare with"}
    prod = [production[q][0] for q in qids]
    diff = paired_bootstrap_diff(cand, prod)
    report["production"] = float(np.mean(prod))
    report["delta"] = {"mean": diff.mean, "lo": diff.lo, "hi": diff.hi}
    pos = {q: i for i, q in enumerate(qids)}
    report["folds"] = [
        {"queries": len(f), "delta": float(np.mean([cand[pos[q]] - prod[pos[q]] for q in f]))}
        for f in grouped_folds(qids, min(folds, len(qids)))
    ]
    if diff.mean < -margin and diff.hi < 0:
        reason = (
            f"nDCG@10 {report['candidate']:.4f} vs production {report['production']:.4f}: worse by "
            f"{-diff.mean:.4f} (95% CI of the delta [{diff.lo:.4f}, {diff.hi:.4f}]) > margin {margin}"
        )
        return {**report, "decision": "refuse", "reason": reason}
    return {
        **report,
        "decision": "pass",
        "reason": f"nDCG@10 delta {diff.mean:+.4f} [{diff.lo:+.4f}, {diff.hi:+.4f}] within margin {margin}",
    }


def per_query(pools: Sequence[Pool], score: Scorer) -> dict[str, list[float]]:
    prime = getattr(score, "prime", None)
    if callable(prime):  # the heavy scorer encodes every pool's texts in one pass
        prime(pools)
    out: dict[str, list[float]] = {}
    for p in pools:
        s = np.asarray(score(p), dtype=np.float64)
        if s.shape != p.gains.shape:
            raise GateError(f"{len(s)} scores for {len(p.gains)} candidates of query {p.qid}")
        if not np.all(np.isfinite(s)):
            raise GateError(f"non-finite scores for query {p.qid}")
        out[p.qid] = [ndcg(s, p.gains, 10)]
    return out


def load_pools(max_queries: int = 0) -> list[Pool]:
    """The judged pools of the prepared catalogue (.vitrine/catalog); ``max_queries`` > 0: a fixed random sample of
    that many queries (seed 0, the same for both models and across runs)."""
    data = LightData.load()
    qids = sorted(data.lists)
    if 0 < max_queries < len(qids):
        qids = sorted(random.Random(0).sample(qids, max_queries))
    pools = []
    for qid in qids:
        l = data.lists[qid]
        pools.append(Pool(qid, l.query, list(l.rows), l.x, np.asarray(l.gains, dtype=np.float64)))
    return pools


# -- scorers per kind -------------------------------------------------------------------------------------------
_TRUNK_CACHES: dict[str, TrunkCache] = {}  # trunk key -> TrunkCache, shared by the gate's two scorers


class HeavyGateScorer:
    """Scores pools through the model's frozen-trunk token states (the training's shared trunk cache,
    .vitrine/cache/heavy-trunk, keyed by the trunk's weights: exact for this model, and two versions on the same
    trunk encode each text once). ``prime`` encodes every pool's texts in one pass before scoring."""

    def __init__(self, version_dir: Path) -> None:
        try:
            self.model, self.tokenizer, cfg = load_model_dir(version_dir)
        except Exception as exc:  # noqa: BLE001 - any load failure refuses the candidate
            raise GateError(f"cannot load {version_dir.name}: {type(exc).__name__}: {exc}") from exc
        self.config = HeavyConfig(
            max_query_tokens=int(cfg["max_query_tokens"]), max_doc_tokens=int(cfg["max_doc_tokens"])
        )
        self.cache: TrunkCache | None = None

    @staticmethod
    def _text_pool(p: Pool) -> TextPool:
        return TextPool(p.qid, p.query, [format_document(r) for r in p.rows], [float(g) for g in p.gains])

    def prime(self, pools: Sequence[Pool]) -> None:
        """Token states of every pool's texts: from the saved cache when the trunk matches, the rest encoded now
        (not saved: the gate leaves .vitrine as it found it)."""
        c = self.config
        cache = TrunkCache(self.model, self.tokenizer, c.max_query_tokens, c.max_doc_tokens, c.trunk_batch)
        key = cache.key()
        if key in _TRUNK_CACHES:  # the production and the candidate share a frozen trunk: one copy of its states
            cache = _TRUNK_CACHES[key]
        else:
            cache.load(trunk_cache_dir())
            _TRUNK_CACHES.clear()
            _TRUNK_CACHES[key] = cache
        cache.add_pools([self._text_pool(p) for p in pools])
        self.cache = cache

    def __call__(self, p: Pool) -> Sequence[float]:
        pool = self._text_pool(p)
        if self.cache is None:
            self.prime([p])
        elif pool.query not in self.cache.q or any(d not in self.cache.d for d in pool.docs):
            self.cache.add_pools([pool])
        return score_pool(self.model, self.cache, pool)


def heavy_scorer(version_dir: Path) -> Scorer:
    return HeavyGateScorer(version_dir)


def light_scorer(version_dir: Path) -> Scorer:
    try:
        man = json.loads((version_dir / "manifest.json").read_text())
        sess = ort.InferenceSession(str(version_dir / "model.onnx"), providers=["CPUExecutionProvider"])
        cols = [FEATURE_NAMES.index(f) for f in man.get("features", FEATURE_NAMES)]
    except Exception as exc:  # noqa: BLE001
        raise GateError(f"cannot load {version_dir.name}: {type(exc).__name__}: {exc}") from exc
    name = sess.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(sess.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]).reshape(-1)

    return lambda p: run(p.x[:, cols]).tolist()


def light_parity(version_dir: Path) -> float:
    """max |onnxruntime - parity.json outputs| over the parity inputs (what the edge checks at load)."""
    parity = json.loads((version_dir / "parity.json").read_text())
    sess = ort.InferenceSession(str(version_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    x = np.asarray(parity["inputs"], dtype=np.float32)
    y = np.asarray(sess.run(None, {sess.get_inputs()[0].name: x})[0]).reshape(-1)
    return float(np.max(np.abs(y - np.asarray(parity["outputs"], dtype=np.float32))))


def recs_smoke(kind: str, version_dir: Path) -> dict[str, Any]:
    """Recommendation kinds: the candidate loads and answers a request shaped like the GPU tier's."""
    if kind == "recs-heavy":
        load_recs(version_dir, "cpu")
        return {"loaded": True}
    return {"parity_max_abs_diff": light_parity(version_dir)}


def _torch_threads() -> None:
    """Training's thread count (HeavyConfig.threads): the trunk cache's key sums the trunk's weights in float, and a
    sum over another number of threads can round differently — a different key, and every text encoded again."""
    torch.set_num_threads(HeavyConfig().threads)


def run_gate(
    kind: str,
    candidate: str,
    production: str | None,
    margin: float,
    *,
    registry_root: Path | None = None,
    pools: Sequence[Pool] | None = None,
    max_queries: int = 0,
    log: Callable[[str], None] = print,
    store: str | None = None,
    recs_data: GateData | None = None,
) -> dict[str, Any]:
    """The gate report for ``candidate`` (a registered version) against ``production`` (None: first release).
    Recs kinds: on ``store``'s held-out window (``recs_data``, else read as ``recs_gate.gate_data`` reads it)."""
    t0 = time.perf_counter()
    _torch_threads()
    cdir = registry.version_dir(kind, candidate, registry_root)
    report: dict[str, Any] = {"kind": kind, "candidate_version": candidate, "production_version": production}
    bad = registry.verify(kind, candidate, registry_root)
    try:
        if bad:
            raise GateError(f"files changed since registration: {bad}")
        if kind in ("recs-light", "recs-heavy"):
            smoke = report["smoke"] = recs_smoke(kind, cdir)
            diff = float(smoke.get("parity_max_abs_diff", 0.0))
            if not math.isfinite(diff) or diff > PARITY_TOL:
                raise GateError(f"ONNX parity: onnxruntime differs from parity.json by {diff:.3g} > {PARITY_TOL}")
            the_store = store or RECS_STORE
            data = recs_data or gate_data(kind, candidate, the_store, reg=registry_root)
            log(
                f"gate: {candidate} vs {production or 'the store baseline'} on {the_store}'s last 30 days ({data.source})"
            )
            report.update(
                run_recs_gate(
                    kind, candidate, production, the_store, margin, data, registry_root=registry_root, log=log
                )
            )
            return report
        if kind == "light":
            diff = light_parity(cdir)
            report["parity_max_abs_diff"] = diff
            if not math.isfinite(diff) or diff > PARITY_TOL:
                raise GateError(f"ONNX parity: onnxruntime differs from parity.json by {diff:.3g} > {PARITY_TOL}")
        scorer_of = heavy_scorer if kind == "heavy" else light_scorer
        the_pools = list(pools) if pools is not None else load_pools(max_queries)
        log(f"gate: scoring {len(the_pools)} judged query pools with {candidate}")
        cand = per_query(the_pools, scorer_of(cdir))
        prod = None
        if production:
            log(f"gate: scoring the same pools with production {production}")
            prod = per_query(the_pools, scorer_of(registry.version_dir(kind, production, registry_root)))
        report.update(decide(cand, prod, margin))
    except GateError as exc:
        report.update(decision="refuse", reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - a candidate that breaks the scorer is refused, never released
        report.update(decision="refuse", reason=f"cannot score the candidate: {type(exc).__name__}: {exc}")
    finally:
        report["seconds"] = round(time.perf_counter() - t0, 1)
    return report
