"""Time-split evaluation: baselines, light ranker alone and the light -> heavy cascade, with bootstrap CIs.

``run(inter, until, ...)`` trains everything on interactions strictly before ``until`` (the end of the
``--train-until`` day), evaluates on every purchase at or after it (up to ``eval_until`` when given) for the
returning customers, and returns per-user metrics per method. Nothing depends on which file a row came from.
The baselines read the tables fitted from the full log (their strongest form); the light ranker and the cascade
read ``edge_view.served`` of the same tables, the history as the edge holds it in D1, as they do when served.

Reusable pieces for ``npm run eval:recommend`` (which asks the running edge for the cascade row):
``baseline_recs`` (popularity 30d, repeat-frequency, item-kNN co-purchase, MF, TIFU-like), ``metrics.per_user`` and
``metrics.table``; ``extra`` rankings (user -> StockCodes, e.g. the edge's answers) join the same table.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import data
from . import metrics as M
from . import sources as S
from .data import Interactions, truth_sets
from .edge_view import served
from .features import features
from .ranker import RankerConfig, UserList, fit_ranker, ranked_lists, score, training_lists
from .sequence import SeqConfig, SeqRecModel, _flatten, user_events
from .sequence import train as train_seq
from .train import configs, log

K = 20


@dataclass(frozen=True)
class CascadeConfig:
    top_m: int = 100  # light keeps the top M for the heavy model
    # final = light + w * heavy over the light top M (heavy is trained as light's residual); w chosen on Aug -> Sep
    heavy_weight: float = 0.5
    tifu_alpha: float = 0.7  # TIFU-like: alpha * recency repeat + (1 - alpha) * co-purchase (both max-normalised)


def _norm(s: np.ndarray) -> np.ndarray:
    return s / max(float(s.max()), 1e-9) if s.size else s


def tifu_like(t: S.Tables, user: int, alpha: float, k: int = K) -> np.ndarray:
    """Hand-tuned recency-decayed repeat score blended with co-purchase neighbours (TIFU-KNN-like)."""
    ri, rs = S.repeat_recency(t, user)
    ki, ks = S.copurchase(t, user)
    acc: dict[int, float] = {}
    for i, v in zip(ri.tolist(), _norm(rs).tolist()):
        acc[i] = acc.get(i, 0.0) + alpha * v
    for i, v in zip(ki.tolist(), _norm(ks).tolist()):
        acc[i] = acc.get(i, 0.0) + (1 - alpha) * v
    items = np.fromiter(acc.keys(), np.int64, len(acc))
    vals = np.fromiter(acc.values(), np.float64, len(acc))
    return items[np.argsort(-vals, kind="stable")][:k]


def baseline_recs(
    t: S.Tables, users: Sequence[int], cc: CascadeConfig = CascadeConfig(), k: int = K
) -> dict[str, dict[int, list[int]]]:
    """The offline baselines for ``users`` from the same tables the edge holds (item indices, best first)."""
    pop = S.popularity(t, k=k)[0].tolist()
    return {
        "popularity (30 days)": {u: pop for u in users},
        "repeat-frequency": {u: S.repeat_frequency(t, u, k=k)[0].tolist() for u in users},
        "item-kNN co-purchase": {u: S.copurchase(t, u, k=k)[0].tolist() for u in users},
        "MF (implicit ALS)": {u: S.embedding(t, u, k=k)[0].tolist() for u in users},
        "TIFU-like (recency repeat + kNN)": {u: tifu_like(t, u, cc.tifu_alpha, k).tolist() for u in users},
    }


def cascade_rank(
    items: np.ndarray, light: np.ndarray, heavy_fn: Callable[[np.ndarray], np.ndarray], cc: CascadeConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(light-only order, cascade order): the light top M re-ranked by light + w * heavy."""
    lo = np.argsort(-light, kind="stable")
    top = lo[: cc.top_m]
    h = heavy_fn(items[top])
    final = light[top] + cc.heavy_weight * h
    return items[lo], items[top[np.argsort(-final, kind="stable")]]


def model_rankings(
    t: S.Tables,
    users: Sequence[int],
    ranker: Any,
    heavy_fn: Callable[[int, np.ndarray], np.ndarray] | None,
    cc: CascadeConfig,
) -> tuple[dict[str, dict[int, list[int]]], dict[int, S.Candidates]]:
    """The rows "light ranker alone" and (with ``heavy_fn``) "cascade (light -> heavy)", top K per user, and the
    candidates. Ranked on ``edge_view.served(t)``, the history the edge rebuilds from D1, as when served."""
    edge = served(t)
    light: dict[int, list[int]] = {}
    casc: dict[int, list[int]] = {}
    cands: dict[int, S.Candidates] = {}
    for u in users:
        c = cands[u] = S.candidates(edge, u)
        ls = score(ranker, features(edge, u, c))
        if heavy_fn is not None and c.items.size:
            lo, co = cascade_rank(c.items, ls, lambda it, u=u: heavy_fn(u, it), cc)
            casc[u] = co[:K].tolist()
        else:
            lo = c.items[np.argsort(-ls, kind="stable")]
        light[u] = lo[:K].tolist()
    rows = {"light ranker alone": light}
    if heavy_fn is not None:
        rows["cascade (light -> heavy)"] = casc
    return rows, cands


def heavy_scores_for(
    model: SeqRecModel, inter_before: Interactions, now: float
) -> Callable[[int, np.ndarray], np.ndarray]:
    """user, candidate item indices -> heavy scores, from the user's purchase sequence before ``now``."""
    events = user_events(inter_before.before(now))
    ids = np.asarray(model.vocab.ids(inter_before.catalogue.codes))

    def f(user: int, cand: np.ndarray) -> np.ndarray:
        import torch

        from .sequence import _batch_tensors

        seq, age = _flatten(events.get(user, []), now, model.cfg.max_len)
        s, a, c = _batch_tensors([ids[seq].tolist()], [age], [ids[cand].tolist()], model.cfg.max_len)
        with torch.no_grad():
            return model.net(s, a, c).numpy()[0, : cand.size]

    return f


@dataclass
class Trained:
    tables: S.Tables
    ranker: Any
    heavy: SeqRecModel | None
    ranker_lists: list[UserList]
    timings: dict[str, float] = field(default_factory=dict)


def train_all(
    inter: Interactions,
    until: float,
    rc: RankerConfig = RankerConfig(),
    sc: S.SourceConfig = S.SourceConfig(),
    qc: SeqConfig | None = SeqConfig(),
    log: Callable[[str], None] = print,
) -> Trained:
    """Sources at ``until``, the light ranker on the windows before it, the heavy model on cuts before it."""
    hist = inter.before(until)
    tm: dict[str, float] = {}
    t0 = time.time()
    lists = training_lists(hist, until, rc, sc, progress=log)
    tm["ranker_lists_s"] = time.time() - t0
    t0 = time.time()
    model = fit_ranker(lists, rc)
    tm["ranker_fit_s"] = time.time() - t0
    log(
        f"light ranker: {len(lists)} training lists, {tm['ranker_lists_s']:.0f} s lists + {tm['ranker_fit_s']:.0f} s fit"
    )
    heavy = None
    if qc is not None:
        t0 = time.time()
        heavy = train_seq(hist, until, qc, ranked_lists(lists, rc, model), progress=log)
        tm["heavy_fit_s"] = time.time() - t0
        log(f"heavy: {tm['heavy_fit_s']:.0f} s")
    t0 = time.time()
    tables = S.fit_tables(hist, until, sc)
    tm["tables_s"] = time.time() - t0
    return Trained(tables, model, heavy, lists, tm)


@dataclass
class Result:
    truth: dict[int, set[int]]
    per_user: dict[str, M.PerUser]
    candidate_recall: np.ndarray
    timings: dict[str, float]

    def rows(self) -> list[M.Row]:
        return [M.summarise(n, p) for n, p in self.per_user.items()]

    def diffs(self) -> list[tuple[str, M.CI, M.CI]]:
        p = self.per_user
        out = []
        for a, b in (
            ("cascade (light -> heavy)", "light ranker alone"),
            ("light ranker alone", "repeat-frequency"),
            ("cascade (light -> heavy)", "TIFU-like (recency repeat + kNN)"),
        ):
            if a in p and b in p:
                r, n = M.paired(p[a], p[b])
                out.append((f"{a} - {b}", r, n))
        return out

    def report(self) -> str:
        lines = [
            M.table(self.rows()),
            "",
            "| paired difference | ΔRecall@20 [95% CI] | ΔNDCG@20 [95% CI] |",
            "| --- | --- | --- |",
        ]
        lines += [f"| {n} | {r.fmt()} | {d.fmt()} |" for n, r, d in self.diffs()]
        cr = M.bootstrap_ci(self.candidate_recall)
        lines += ["", f"candidate recall@{S.SourceConfig().max_candidates}: {cr.fmt()} over {cr.n} users"]
        return "\n".join(lines)


def evaluate(
    inter: Interactions,
    until: float,
    eval_until: float | None,
    trained: Trained,
    cc: CascadeConfig = CascadeConfig(),
    extra: Mapping[str, Mapping[int, Sequence[int]]] | None = None,
) -> Result:
    hist = inter.before(until)
    window = inter.select(inter.ts >= until) if eval_until is None else inter.between(until, eval_until)
    truth = truth_sets(hist, window)
    users = sorted(truth)
    t = trained.tables
    t0 = time.time()
    recs = baseline_recs(t, users, cc)
    heavy_fn = heavy_scores_for(trained.heavy, hist, until) if trained.heavy is not None else None
    model_recs, cands = model_rankings(t, users, trained.ranker, heavy_fn, cc)
    recs.update(model_recs)
    for name, r in (extra or {}).items():
        recs[name] = dict(r)
    timings = dict(trained.timings, evaluate_s=time.time() - t0)
    return Result(
        truth, {n: M.per_user(r, truth, K) for n, r in recs.items()}, S.candidate_recall(cands, truth), timings
    )


# ---------------------------------------------------------------- `python -m vitrine_gpu recs eval`


def _extra(specs: list[str], inter: Interactions) -> dict[str, dict[int, list[int]]]:
    idx = inter.catalogue.index()
    out: dict[str, dict[int, list[int]]] = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        if not path:
            raise SystemExit(f"--extra wants NAME=FILE.json, got {spec!r}")
        raw = json.loads(Path(path).read_text())
        out[name] = {int(u): [idx.get(str(c).upper(), -1) for c in codes] for u, codes in raw.items()}
    return out


def run(a: argparse.Namespace) -> int:
    """``recs eval``: train on the purchases up to --train-until, print the table of every method (+ --json)."""
    t_start = time.time()
    files: list[Path] = []
    hist = Path(a.history) if a.history else data.default_transactions()
    for f in [hist, Path(a.transactions)]:
        if f is not None and f.resolve() not in [x.resolve() for x in files]:
            files.append(f)
    inter = data.load(files)
    until = data.end_of_day(data.parse_date(a.train_until))
    eval_until = data.end_of_day(data.parse_date(a.eval_until)) if a.eval_until else None
    log(f"{len(inter)} purchase lines from {', '.join(map(str, files))}; train < {data.date_of(until)}")
    rc, qc, sc = configs(a.reduced)
    trained = train_all(inter, until, rc, sc, None if a.no_heavy else qc, log=log)
    cc = CascadeConfig() if a.heavy_weight is None else CascadeConfig(heavy_weight=a.heavy_weight)
    res = evaluate(inter, until, eval_until, trained, cc, _extra(a.extra, inter))
    timings = {k: round(v, 1) for k, v in dict(res.timings, total_s=time.time() - t_start).items()}
    window = f"{data.date_of(until)} .. {data.date_of(eval_until - 1) if eval_until else 'end of data'}"
    print(f"## Recommendations: trained on purchases before {data.date_of(until)}, evaluated on {window}\n")
    print(res.report())
    print(f"\ntimings (s): {json.dumps(timings)}")
    if a.json:
        rows = {r.name: {"recall": r.recall.__dict__, "ndcg": r.ndcg.__dict__} for r in res.rows()}
        diffs = {n: {"recall": r.__dict__, "ndcg": d.__dict__} for n, r, d in res.diffs()}
        Path(a.json).write_text(
            json.dumps({"rows": rows, "differences": diffs, "timings": timings, "users": len(res.truth)}, indent=1)
            + "\n"
        )
    return 0
