"""Search evaluation: offline grouped k-fold cross-validation by query over the judged ESCI pools, and the served
cascade through the running edge (below).

For each fold the light model (``light.train.fit``) and the heavy cross-encoder (``heavy.train.fit_pools``)
are trained on the training queries only; the held-out queries' judged pools are then ranked by

- ``random``  (seeded uniform scores),
- ``bm25``    (the combined bm25 column of edge/search/candidates.sql on catalog.sqlite),
- ``light``   (light MLP on the CONTRACTS.md C2 features),
- ``heavy``   (cross-encoder over the whole pool),
- ``cascade`` (light keeps its top M=50, the heavy model re-orders those; the rest stay below in light order),
- ``cascade+blend`` (as cascade, but the top M are ordered by z(heavy) + w * z(light), per-query z-scores; w
  maximises nDCG@10 on the fold's training queries only, ``EvalConfig.blend_selection``:
  "cross-fit" (default): the light scores of the training queries come from light models fitted on inner grouped
  folds of those queries (each query scored by a model that never saw it; light is cheap to refit), the heavy
  scores from the fold's heavy model (exact for zero-shot candidates, in-sample for trained ones);
  "in-sample": both from the fold's own models (cheap, but it favours whichever model overfits more — the light
  MLP fits its training queries to nDCG@10 ≈ 0.75 against ≈ 0.66 held out, so w came out too large);
  "inner-split": light + heavy retrained on 75% of the training queries, w chosen on the other 25%).

Other heavy candidates (``EvalConfig.candidates``; the full configuration compares bge-small-en-v1.5 zero-shot,
i.e. the cosine of its CLS embeddings, against the primary bge-small PreTTR model; ``--with-minilm`` adds the
all-MiniLM-L6-v2 PreTTR model) are evaluated on the same folds as ``heavy[<name>]`` and ``cascade+blend[<name>]`` (blend weight chosen the
same way); candidates with the same trunk and token budgets share one trunk cache. The wall time of each candidate
(trunk encoding + training + scoring) is reported.

Metrics: nDCG over the full judged pool and nDCG@10 (ESCI gains, ``metrics.ndcg``), mean with 95% percentile
bootstrap CIs over queries, plus paired bootstrap CIs of the differences to BM25. Written to
``.vitrine/reports/evaluation[-reduced].{json,md}``.

Entry points: ``run_evaluation(config: EvalConfig) -> dict`` and ``pipeline_step(reduced, force) -> dict`` (what
``python -m vitrine_gpu pipeline evaluate`` calls); ``python -m vitrine_gpu search eval [--reduced]`` runs it uncached.

The served cascade through the running edge (``run_edge``: ``python -m vitrine_gpu eval-search --queries FILE
--labels FILE [--edge URL]``, npm run eval:search): files in the esci_us_150q schema (any queries). For each query the
judged pool (products not in the catalog are skipped and counted) is sent to POST /v1/rerank {query, candidates}; the
served order is scored with nDCG (ESCI gains, over the full judged pool) and nDCG@10, with 95% bootstrap CIs.
Offline rankers on the same pools for comparison: random, BM25 (edge/search/candidates.sql on
.vitrine/catalog/catalog.sqlite) and the current light model (onnxruntime on .vitrine/registry/light/<current>/
model.onnx).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import torch
from tqdm import tqdm

from .. import paths, registry
from ..metrics import bootstrap_ci, markdown_table, ndcg, paired_bootstrap_diff
from . import catalog
from .embedder import OnnxEmbedder
from .features import FEATURE_NAMES, compute_features, match_expression
from .heavy.model import BGE_SMALL, MINILM
from .heavy.train import HeavyConfig, TextPool, fit_pools, pools_from_light_data, score_pool, shared_trunk_cache
from .light.train import LightConfig, LightData, fit, grouped_folds

RANKERS = ("random", "bm25", "light", "heavy", "cascade", "cascade+blend")
BLEND_WEIGHTS = (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0)


@dataclass(frozen=True)
class HeavyCandidate:
    """A heavy ranker compared in the CV: ``trained`` = fine-tuned on each fold's training queries (PreTTR cross
    layers + head); else zero-shot (the untrained model: the backbone's own embedding cosine). ``ensemble`` names
    zero-shot ONNX encoders (``vitrine_gpu.search.embedder``) whose query-product cosines are added, each z-scored per
    query, to the model's z-scored score (equal weights; ``base=False`` leaves the model's score out)."""

    name: str
    config: HeavyConfig
    trained: bool = True
    ensemble: tuple[str, ...] = ()
    base: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trained": self.trained,
            "config": self.config.to_dict(),
            "ensemble": list(self.ensemble),
            "base": self.base,
        }


def describe_candidate(c: dict[str, Any]) -> str:
    """'bge-small-en-v1.5 PreTTR + e5-small-v2 zero-shot cosine' from a candidate's to_dict()."""
    kind = "PreTTR" if c["trained"] else "zero-shot cosine"
    parts = [f"{c['config'].get('backbone')} {kind}"] if c.get("base", True) else []
    return " + ".join(parts + [f"{m} zero-shot cosine" for m in c.get("ensemble", [])])


def full_candidates() -> tuple[HeavyCandidate, ...]:
    """The other candidates of the full CV (the primary one is ``EvalConfig.heavy``)."""
    bge = HeavyConfig.auto()
    if bge.backbone != BGE_SMALL:
        bge = HeavyConfig.for_backbone(BGE_SMALL)
    e5 = ("e5-small-v2",)
    return (
        HeavyCandidate("bge-zeroshot", bge, trained=False),
        HeavyCandidate("e5-zeroshot", bge, trained=False, ensemble=e5, base=False),
        HeavyCandidate("bge+e5-zeroshot", bge, trained=False, ensemble=e5),
        HeavyCandidate("bge-prettr+e5", HeavyConfig.auto(), ensemble=e5),
    )


def minilm_candidate() -> HeavyCandidate:
    """The previous served model (all-MiniLM-L6-v2 PreTTR) as a candidate (``--with-minilm``)."""
    return HeavyCandidate("minilm-prettr", HeavyConfig.for_backbone(MINILM))


@dataclass
class EvalConfig:
    folds: int = 5
    seed: int = 0
    top_m: int = 50
    # how the cascade+blend weight is chosen, always from the fold's training queries only (module docstring):
    # "cross-fit" | "in-sample" | "inner-split"
    blend_selection: str = "cross-fit"
    inner_folds: int = 4  # cross-fit: inner grouped folds of the training queries for the light scores
    inner_blend_split: float = 0.25  # inner-split: share of the training queries w is chosen on
    heavy: HeavyConfig = field(default_factory=HeavyConfig.auto)
    candidates: tuple[HeavyCandidate, ...] = field(default_factory=full_candidates)
    light: LightConfig = field(default_factory=LightConfig)
    reduced: bool = False
    max_queries: int | None = None  # optional cap (tests on tiny machines); None = all judged queries

    @classmethod
    def reduced_config(cls) -> EvalConfig:
        """CI: 2 folds, heavy trained for 1 epoch on 16-product samples per pool, light with fewer epochs."""
        return cls(
            folds=2, heavy=HeavyConfig.auto(reduced=True), candidates=(), light=LightConfig(epochs=150), reduced=True
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["heavy"] = self.heavy.to_dict()
        d["candidates"] = [c.to_dict() for c in self.candidates]
        d["light"] = self.light.to_dict()
        return d


def _z(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return (x - x.mean()) / (sd if sd > 1e-9 else 1.0)


def cascade_scores(light: np.ndarray, heavy: np.ndarray, top_m: int, blend_w: float | None = None) -> np.ndarray:
    """Scores whose order is the cascade's: light top-M re-ordered by heavy (or by z(heavy) + w z(light)) above the
    remaining products in light order."""
    n = len(light)
    order = np.argsort(-light, kind="stable")
    top, rest = order[: min(top_m, n)], order[min(top_m, n) :]
    if blend_w is None:
        key = heavy[top]
    else:
        key = _z(heavy[top]) + blend_w * _z(light[top])
    top_sorted = top[np.argsort(-key, kind="stable")]
    final = np.concatenate([top_sorted, rest])
    out = np.empty(n, dtype=np.float64)
    out[final] = -np.arange(n, dtype=np.float64)
    return out


def _choose_blend(
    light_s: dict[str, np.ndarray], heavy_s: dict[str, np.ndarray], pools: dict[str, TextPool], top_m: int
) -> tuple[float, dict[str, float]]:
    table = {}
    for w in BLEND_WEIGHTS:
        table[str(w)] = float(
            np.mean([ndcg(cascade_scores(light_s[q], heavy_s[q], top_m, w), pools[q].gains, 10) for q in light_s])
        )
    best = max(BLEND_WEIGHTS, key=lambda w: (round(table[str(w)], 6), -w))
    return float(best), table


def cross_fitted_light(
    qids: Sequence[str], data: LightData, config: LightConfig, folds: int, seed: int
) -> dict[str, np.ndarray]:
    """Light scores of ``qids``, each from a light model fitted on the other inner grouped folds of ``qids``."""
    out: dict[str, np.ndarray] = {}
    for inner in grouped_folds(qids, folds, seed):
        held = set(inner)
        model = fit([q for q in qids if q not in held], data, config)
        out.update({q: model.score_features(data.lists[q].x) for q in inner})
    return out


def _log(msg: str) -> None:
    print(f"[evaluate] {msg}", flush=True)


class _HeavyRunner:
    """One heavy trunk (backbone + token budgets) for the CV: the untrained base model, its tokenizer and (frozen
    trunk) the trunk cache over every evaluated pool; fits and scores for any candidate using this trunk."""

    def __init__(self, hc: HeavyConfig, pools: dict[str, TextPool], qids: Sequence[str]) -> None:
        t0 = time.perf_counter()
        self.hc, self.pools = hc, pools
        self._fitted: tuple[tuple[str, ...], Any] | None = None  # (training queries, model) of the last fit
        self.base, self.tokenizer, _ = hc.build()
        # frozen trunk (CPU): token states cached once per text; unfrozen (CUDA): full forward on raw text
        self.cache = (
            shared_trunk_cache(self.base, self.tokenizer, hc, [pools[q] for q in qids]) if hc.freeze_trunk else None
        )
        self.setup_s = time.perf_counter() - t0

    @staticmethod
    def key_of(hc: HeavyConfig) -> tuple[Any, ...]:
        return (
            hc.backbone,
            hc.num_layers,
            hc.num_cross_layers,
            hc.max_query_tokens,
            hc.max_doc_tokens,
            hc.freeze_trunk,
            hc.seed,
        )

    @property
    def cache_seconds(self) -> float:
        return self.cache.seconds if self.cache is not None else 0.0

    def cache_info(self) -> str:
        if self.cache is None:
            return "no cache (unfrozen trunk)"
        return f"{self.cache.texts_encoded} texts encoded in {self.cache.seconds:.1f}s"

    def fit(self, train_qids: Sequence[str]) -> Any:
        key = tuple(sorted(train_qids))
        if self._fitted is not None and self._fitted[0] == key:  # candidates sharing this trunk and fold
            return self._fitted[1]
        model = fit_pools([self.pools[q] for q in train_qids], self.hc, self.base, self.cache, tokenizer=self.tokenizer)
        self._fitted = (key, model)
        return model

    def scores(self, model: Any, q: str) -> np.ndarray:
        return np.asarray(score_pool(model, self.cache, self.pools[q], tokenizer=self.tokenizer, config=self.hc))

    @torch.inference_mode()
    def zero_shot_scores(self, q: str) -> np.ndarray:
        """The untrained model's ranking without running its joint layers (their MLP output starts at zero):
        cosine of the backbone's pooled query / product embeddings."""
        if self.cache is None:
            return self.scores(self.base, q)
        pool = self.pools[q]
        qs, qm, ds, dm = self.cache.batch_states(pool.query, pool.docs)
        cos = torch.nn.functional.cosine_similarity(
            self.base._pool(qs.float(), qm), self.base._pool(ds.float(), dm), dim=-1, eps=1e-6
        )
        return cos.double().numpy()


def run_evaluation(
    config: EvalConfig | None = None, data: LightData | None = None, out_dir: Path | None = None
) -> dict[str, Any]:
    """Grouped k-fold CV (see module docstring); returns the report dict and writes JSON + Markdown."""
    config = config or EvalConfig()
    t_start = time.perf_counter()
    torch.set_num_threads(config.heavy.threads)
    data = data or LightData.load()
    pools = pools_from_light_data(data)
    qids = [q for q in pools if len(pools[q].docs) > 0]
    if config.max_queries:
        qids = qids[: config.max_queries]
    bm25_col = FEATURE_NAMES.index("bm25")
    # (ranker suffix, candidate): the primary heavy config is reported as heavy / cascade / cascade+blend
    cands = [("", HeavyCandidate("primary", config.heavy))] + [(f"[{c.name}]", c) for c in config.candidates]
    runners: dict[tuple[Any, ...], _HeavyRunner] = {}
    cand_runner: dict[str, _HeavyRunner] = {}
    cand_seconds: dict[str, float] = {}
    for _suffix, c in cands:
        key = _HeavyRunner.key_of(c.config)
        if key not in runners:
            runners[key] = _HeavyRunner(c.config, pools, qids)
            _log(
                f"trunk {c.config.backbone} ({c.config.max_query_tokens}/{c.config.max_doc_tokens} tokens): "
                f"{runners[key].cache_info()}"
            )
            cand_seconds[c.name] = runners[key].setup_s
        else:
            cand_seconds[c.name] = 0.0
        cand_runner[c.name] = runners[key]
    members = sorted({m for _s, c in cands for m in c.ensemble})
    cosines: dict[str, dict[str, np.ndarray]] = {}
    for m in members:
        t0 = time.perf_counter()
        cosines[m] = OnnxEmbedder(m, threads=config.heavy.threads).pool_cosines(
            {q: (pools[q].query, pools[q].docs) for q in qids},
            max_query_tokens=config.heavy.max_query_tokens,
            max_doc_tokens=config.heavy.max_doc_tokens,
            log=_log,
        )
        for _s, c in cands:
            if m in c.ensemble:
                cand_seconds[c.name] += time.perf_counter() - t0

    per_query: dict[str, dict[str, dict[str, float]]] = {r: {} for r in ("random", "bm25", "light")}
    for suffix, _c in cands:
        names = ("heavy", "cascade", "cascade+blend") if not suffix else ("heavy", "cascade+blend")
        for r in names:
            per_query[r + suffix] = {}
    folds_info: list[dict[str, Any]] = []
    rng = random.Random(config.seed)
    for fi, fold in enumerate(grouped_folds(qids, config.folds, config.seed)):
        t0 = time.perf_counter()
        held = set(fold)
        train = [q for q in qids if q not in held]
        light = fit(train, data, config.light)
        inner: tuple[list[str], list[str]] | None = None
        if config.blend_selection == "inner-split":
            order = sorted(train)
            random.Random(config.seed + 1000 + fi).shuffle(order)
            n_val = max(1, int(round(len(order) * config.inner_blend_split)))
            inner = (order[n_val:], order[:n_val])
            i_light = fit(inner[0], data, config.light)
            ls_val = {q: i_light.score_features(data.lists[q].x) for q in inner[1]}
        elif config.blend_selection == "cross-fit":
            ls_val = cross_fitted_light(train, data, config.light, config.inner_folds, config.seed + 1000 + fi)
        else:  # "in-sample": the fold models' scores on their own training queries
            ls_val = {q: light.score_features(data.lists[q].x) for q in train}
        ls_test = {q: light.score_features(data.lists[q].x) for q in fold}
        for q in fold:
            g = pools[q].gains
            x = data.lists[q].x
            for r, sc in (
                ("random", np.array([rng.random() for _ in g])),
                ("bm25", x[:, bm25_col].astype(np.float64)),
                ("light", ls_test[q]),
            ):
                per_query[r][q] = {"full": ndcg(sc, g), "at10": ndcg(sc, g, 10)}
        info: dict[str, Any] = {"fold": fi, "train_queries": len(train), "test_queries": len(fold), "candidates": {}}
        for suffix, c in cands:
            t1 = time.perf_counter()
            runner = cand_runner[c.name]
            heavy = runner.fit(train) if c.trained and c.base else runner.base
            t_heavy = time.perf_counter() - t1

            # blend weight: chosen on the fold's training queries only
            def score(model: Any, q: str, runner: _HeavyRunner = runner, c: HeavyCandidate = c) -> np.ndarray:
                ens = [_z(cosines[m][q]) for m in c.ensemble]
                if c.base:
                    own = runner.scores(model, q) if c.trained else runner.zero_shot_scores(q)
                    if not ens:
                        return own
                    return _z(own) + sum(ens[1:], ens[0])
                return sum(ens[1:], ens[0])

            if inner is not None:
                i_heavy = runner.fit(inner[0]) if c.trained and c.base else runner.base
                hs_val = {q: score(i_heavy, q) for q in inner[1]}
                del i_heavy
            else:
                hs_val = {q: score(heavy, q) for q in train}
            blend_w, blend_table = _choose_blend(ls_val, hs_val, pools, config.top_m)
            for q in fold:
                g = pools[q].gains
                ls, hs = ls_test[q], score(heavy, q)
                scores = {"heavy": hs, "cascade+blend": cascade_scores(ls, hs, config.top_m, blend_w)}
                if not suffix:
                    scores["cascade"] = cascade_scores(ls, hs, config.top_m)
                for r, sc in scores.items():
                    per_query[r + suffix][q] = {"full": ndcg(sc, g), "at10": ndcg(sc, g, 10)}
            spent = time.perf_counter() - t1
            cand_seconds[c.name] += spent
            info["candidates"][c.name] = {
                "blend_weight": blend_w,
                "heavy_train_s": round(t_heavy, 1),
                "seconds": round(spent, 1),
            }
            if not suffix:
                info.update(
                    {"blend_weight": blend_w, "blend_inner_ndcg10": blend_table, "heavy_train_s": round(t_heavy, 1)}
                )
        info["fold_s"] = round(time.perf_counter() - t0, 1)
        folds_info.append(info)
        _log(
            f"fold {fi + 1}/{config.folds}: "
            + ", ".join(f"{r} {np.mean([per_query[r][q]['at10'] for q in fold]):.3f}" for r in per_query)
            + f" (@10; w={info['blend_weight']}; {info['fold_s']}s)"
        )
    cache_s = sum(r.cache_seconds for r in runners.values())
    report = build_report(
        per_query, qids, config, folds_info, data, time.perf_counter() - t_start, cache_seconds=cache_s
    )
    report["candidate_seconds"] = {k: round(v, 1) for k, v in cand_seconds.items()}
    write_report(report, out_dir)
    return report


def build_report(
    per_query: dict[str, dict[str, dict[str, float]]],
    qids: Sequence[str],
    config: EvalConfig,
    folds_info: list[dict[str, Any]],
    data: LightData,
    seconds: float,
    cache_seconds: float = 0.0,
) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for r in per_query:
        full = [per_query[r][q]["full"] for q in qids]
        at10 = [per_query[r][q]["at10"] for q in qids]
        a, b = bootstrap_ci(full, seed=config.seed), bootstrap_ci(at10, seed=config.seed)
        summary[r] = {
            "ndcg": a.mean,
            "ndcg_ci": [a.lo, a.hi],
            "ndcg10": b.mean,
            "ndcg10_ci": [b.lo, b.hi],
            "queries": a.n,
        }
    diffs: dict[str, Any] = {}
    bm = [per_query["bm25"][q]["at10"] for q in qids]
    bm_full = [per_query["bm25"][q]["full"] for q in qids]
    for r in [r for r in per_query if r not in ("random", "bm25")]:
        d10 = paired_bootstrap_diff([per_query[r][q]["at10"] for q in qids], bm, seed=config.seed)
        df = paired_bootstrap_diff([per_query[r][q]["full"] for q in qids], bm_full, seed=config.seed)
        diffs[f"{r}-bm25"] = {
            "ndcg10": d10.mean,
            "ndcg10_ci": [d10.lo, d10.hi],
            "ndcg": df.mean,
            "ndcg_ci": [df.lo, df.hi],
        }
    best_cascade = max(("cascade", "cascade+blend"), key=lambda r: summary[r]["ndcg10"])
    targets = {
        "cascade_ndcg10_ge_bm25_plus_0.10": summary["cascade"]["ndcg10"] >= summary["bm25"]["ndcg10"] + 0.10,
        "cascade_blend_ndcg10_ge_bm25_plus_0.10": summary["cascade+blend"]["ndcg10"]
        >= summary["bm25"]["ndcg10"] + 0.10,
        "cascade_full_ndcg_ge_0.88": summary[best_cascade]["ndcg"] >= 0.88,
        "light_ndcg10_gt_bm25": summary["light"]["ndcg10"] > summary["bm25"]["ndcg10"],
        "heavy_ndcg10_gt_light": summary["heavy"]["ndcg10"] > summary["light"]["ndcg10"],
        "cascade_blend_delta_ci_excludes_0.05": diffs["cascade+blend-bm25"]["ndcg10_ci"][0] > 0.05,
    }
    return {
        "kind": "grouped-kfold-cv",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source": dict(data.source),
        "config": config.to_dict(),
        "queries": len(qids),
        "judged_pairs": int(sum(len(data.lists[q].rows) for q in qids)),
        "summary": summary,
        "diffs_vs_bm25": diffs,
        "targets": targets,
        "folds": folds_info,
        "seconds": round(seconds, 1),
        "trunk_cache_seconds": round(cache_seconds, 1),
        "per_query": per_query,
    }


def to_markdown(report: dict[str, Any]) -> str:
    qids = list(report["per_query"]["bm25"])
    rows = [
        (r, [report["per_query"][r][q]["full"] for q in qids], [report["per_query"][r][q]["at10"] for q in qids])
        for r in report["per_query"]
    ]
    cfg = report["config"]
    lines = [
        f"# Ranking evaluation ({'reduced' if cfg['reduced'] else 'full'})",
        "",
        f"Grouped {cfg['folds']}-fold cross-validation by query (seed {cfg['seed']}), {report['queries']} queries, "
        f"{report['judged_pairs']} judged pairs, source {report['source'].get('source', '?')}. Light and heavy are "
        f"trained on the training queries of each fold only; metrics on the held-out queries' judged pools "
        f"(ESCI gains E=1, S=0.1, C=0.01, I=0). 95% percentile bootstrap CIs over queries. Cascade: light top "
        f"M={cfg['top_m']} re-ordered by heavy = {cfg['heavy'].get('backbone', MINILM)} PreTTR "
        f"({cfg['heavy']['max_query_tokens']}/{cfg['heavy']['max_doc_tokens']} query/product tokens); other "
        f"candidates in brackets: "
        + (
            ", ".join(
                f"{c['name']} = {describe_candidate(c)}"
                f" ({c['config']['max_query_tokens']}/{c['config']['max_doc_tokens']})"
                for c in cfg.get("candidates", [])
            )
            or "none"
        )
        + f". Blend weights per fold (chosen on the training queries only, "
        f"{cfg['blend_selection']}): {[f['blend_weight'] for f in report['folds']]}.",
        "",
        markdown_table(rows, seed=cfg["seed"]),
        "",
        "Paired differences to BM25 (mean [95% CI]):",
        "",
        "| ranker | ΔnDCG@10 | ΔnDCG (judged pool) |",
        "| --- | --- | --- |",
    ]
    for k, v in report["diffs_vs_bm25"].items():
        lines.append(
            f"| {k} | {v['ndcg10']:+.4f} [{v['ndcg10_ci'][0]:+.4f}, {v['ndcg10_ci'][1]:+.4f}] | "
            f"{v['ndcg']:+.4f} [{v['ndcg_ci'][0]:+.4f}, {v['ndcg_ci'][1]:+.4f}] |"
        )
    lines += [
        "",
        "Targets: " + ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in report["targets"].items()),
        "",
        f"Wall time {report['seconds']} s (trunk cache {report['trunk_cache_seconds']} s); per fold: "
        + ", ".join(f"{f['fold_s']} s" for f in report["folds"])
        + "; per heavy candidate (trunk encoding + "
        "training + scoring, all folds): "
        + ", ".join(f"{k} {v} s" for k, v in report.get("candidate_seconds", {}).items()),
        "",
    ]
    return "\n".join(lines)


def write_report(report: dict[str, Any], out_dir: Path | None = None) -> tuple[Path, Path]:
    out = Path(out_dir) if out_dir else Path(paths.STATE) / "reports"
    out.mkdir(parents=True, exist_ok=True)
    stem = "evaluation-reduced" if report["config"]["reduced"] else "evaluation"
    j, m = out / f"{stem}.json", out / f"{stem}.md"
    j.write_text(json.dumps(report, indent=1, default=float) + "\n")
    m.write_text(to_markdown(report))
    return j, m


def pipeline_step(reduced: bool = False, force: bool = False) -> dict[str, Any]:
    """What ``python -m vitrine_gpu pipeline evaluate`` calls: run the CV, return the summary (reports written)."""
    report = run_evaluation(EvalConfig.reduced_config() if reduced else EvalConfig())
    return {"summary": report["summary"], "targets": report["targets"], "seconds": report["seconds"]}


def run_cv(reduced: bool = False, with_minilm: bool = False) -> int:
    """``search eval [--reduced] [--with-minilm]``: the CV, uncached; prints the Markdown report."""
    config = EvalConfig.reduced_config() if reduced else EvalConfig()
    if with_minilm:
        config.candidates = (*config.candidates, minilm_candidate())
    report = run_evaluation(config)
    print(to_markdown(report))
    return 0


# ---------------------------------------------------------------- the served cascade through the edge (eval-search)

MAX_QUERY_CHARS = 200  # POST /v1/rerank limits
MAX_CANDIDATES = 200


def _rerank(client: Any, edge: str, query: str, ids: list[str]) -> tuple[list[str], dict[str, Any], list[str]]:
    """(ranked ids, response body, ids the edge did not know). Retries once without unknown ids."""
    body = {"query": query, "candidates": ids}
    r = client.post(f"{edge.rstrip('/')}/v1/rerank", json=body)
    unknown: list[str] = []
    if r.status_code == 400 and r.json().get("error") == "unknown_candidates":
        unknown = list(r.json().get("unknown", []))
        body["candidates"] = [i for i in ids if i not in set(unknown)]
        if not body["candidates"]:
            return [], r.json(), unknown
        r = client.post(f"{edge.rstrip('/')}/v1/rerank", json=body)
    if r.status_code != 200:
        raise RuntimeError(f"POST /v1/rerank for {query!r}: HTTP {r.status_code} {r.text[:300]}")
    data = r.json()
    return [str(it["id"]) for it in data["items"]], data, unknown


def _positional_scores(ranked: list[str], ids: list[str]) -> np.ndarray:
    pos = {pid: i for i, pid in enumerate(ranked)}
    # products the edge did not return rank below every returned one
    return np.array([-(pos[i] if i in pos else len(ranked) + 1) for i in ids], dtype=np.float64)


def run_edge(a: argparse.Namespace) -> int:
    """``eval-search`` (its arguments: cli.py): the served cascade and the offline rankers on the same pools."""
    queries = catalog.read_queries(a.queries)
    labels = catalog.read_labels(a.labels)
    conn = catalog.connect(a.catalog)
    known = catalog.product_ids(conn)
    cur = registry.read_current()
    light_v = cur.get("light")
    sess = None
    if light_v:
        sess = ort.InferenceSession(
            str(registry.version_dir("light", light_v) / "model.onnx"), providers=["CPUExecutionProvider"]
        )
    rng = np.random.default_rng(a.seed)

    per: dict[str, tuple[list[float], list[float]]] = {}

    def add(name: str, s: np.ndarray, g: np.ndarray) -> None:
        full, at10 = per.setdefault(name, ([], []))
        full.append(ndcg(s, g))
        at10.append(ndcg(s, g, 10))

    skipped_products = skipped_queries = degraded = truncated = 0
    reasons: dict[str, int] = {}
    served_models: set[str] = set()
    client = None
    if not a.offline_only:
        client = httpx.Client(timeout=a.timeout)
    t0 = time.time()
    for qid, q in tqdm(list(queries.items()), desc="queries", unit="q", file=sys.stderr):
        pool = labels.get(qid, {})
        ids = [i for i in pool if i in known]
        skipped_products += len(pool) - len(ids)
        q_sent = q.strip()[:MAX_QUERY_CHARS]
        if not ids or match_expression(q_sent) is None:
            skipped_queries += 1
            continue
        if len(ids) > MAX_CANDIDATES:
            truncated += len(ids) - MAX_CANDIDATES
            ids = ids[:MAX_CANDIDATES]
        g = np.array([pool[i] for i in ids], dtype=np.float64)
        rows = catalog.candidates(conn, q_sent, ids)
        by_id = {r["id"]: r for r in rows}
        rows = [by_id[i] for i in ids]
        add("random", rng.random(len(ids)), g)
        add("bm25 (candidates.sql)", np.array([r["bm25"] for r in rows], dtype=np.float64), g)
        if sess is not None:
            x = compute_features(q_sent, rows)
            add(f"light onnx ({light_v})", sess.run(["score"], {"features": x})[0].astype(np.float64), g)
        if client is not None:
            ranked, body, unknown = _rerank(client, a.edge, q_sent, ids)
            skipped_products += len(unknown)
            if unknown:
                keep = [k for k, i in enumerate(ids) if i not in set(unknown)]
                ids_e, g_e = [ids[k] for k in keep], g[keep]
            else:
                ids_e, g_e = ids, g
            if body.get("degraded"):
                degraded += 1
                reason = str(body.get("degradedReason", "unknown"))
                reasons[reason] = reasons.get(reason, 0) + 1
            served_models.add(
                f"light {body.get('models', {}).get('light')}, heavy {body.get('models', {}).get('heavy')}"
            )
            add("served cascade (edge /v1/rerank)", _positional_scores(ranked, ids_e), g_e)
    order = ["served cascade (edge /v1/rerank)", f"light onnx ({light_v})", "bm25 (candidates.sql)", "random"]
    rows_md = [(n, *per[n]) for n in order if n in per]
    print()
    print(
        f"queries: {len(queries)} ({skipped_queries} skipped: no judged product in the catalog or no token); "
        f"judged products not in the catalog (skipped): {skipped_products}"
        + (f"; candidates beyond {MAX_CANDIDATES} dropped: {truncated}" if truncated else "")
    )
    if client is not None:
        print(
            f"edge: {a.edge}; served models: {', '.join(sorted(served_models)) or '-'}; "
            f"degraded answers: {degraded}" + (f" ({json.dumps(reasons)})" if reasons else "")
        )
    print(
        f"nDCG with ESCI gains (E=1, S=0.1, C=0.01, I=0) over each query's judged pool; 95% bootstrap CIs over "
        f"queries; {time.time() - t0:.0f} s\n"
    )
    print(markdown_table(rows_md, seed=a.seed))
    return 0
