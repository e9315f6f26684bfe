"""Time-split evaluation: baselines, light ranker alone and the light -> heavy cascade, with bootstrap CIs.

``run(inter, until, ...)`` trains everything on interactions strictly before ``until`` (the end of the
``--train-until`` day), evaluates on every purchase at or after it (up to ``eval_until`` when given) for the
returning customers, and returns per-user metrics per method. Nothing depends on which file a row came from.
The baselines read the tables fitted from the full log (their strongest form); the light ranker and the cascade
read ``edge_view.served`` of the same tables, the history as the edge holds it in D1, as they do when served.

``run_eval`` is ``python -m vitrine_gpu recs eval``; ``extra`` rankings (user -> StockCodes, e.g. the edge's saved
answers) join the same table.

``run_edge`` (``python -m vitrine_gpu eval-recommend``, npm run eval:recommend, section at the end) asks the running
edge instead and scores its answers next to ``baseline_recs`` (popularity 30d, repeat-frequency, item-kNN
co-purchase, MF, TIFU-like) and ``model_rankings`` fitted on the history the edge has loaded.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import metrics as M
from .. import paths, registry
from . import data
from . import sources as S
from .data import Interactions, truth_sets
from .edge_view import served
from .features import features
from .ranker import RankerConfig, UserList, fit_ranker, load_ranker, ranked_lists, score, training_lists
from .sequence import SeqConfig, SeqRecModel, heavy_scores_for
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


def tifu_like(t: S.Tables, user: S.UserKey, alpha: float, k: int = K) -> np.ndarray:
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
            lo, co = cascade_rank(c.items, ls, functools.partial(heavy_fn, u), cc)
            casc[u] = co[:K].tolist()
        else:
            lo = c.items[np.argsort(-ls, kind="stable")]
        light[u] = lo[:K].tolist()
    rows = {"light ranker alone": light}
    if heavy_fn is not None:
        rows["cascade (light -> heavy)"] = casc
    return rows, cands


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
        recs[name] = {u: list(items) for u, items in r.items()}
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


def run_eval(a: argparse.Namespace) -> int:
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


# ---------------------------------------------------------------- the running edge (eval-recommend)
# Judges the RUNNING edge's recommendations on purchases it has never seen: every returning customer of an invoice
# file (Online Retail schema; its purchases dated after the loaded history are the truth, earlier rows are ignored)
# is asked for at `GET /v1/recommend?store=…&user=<CustomerID>&k=20` (bounded concurrency), and the answers are
# scored with Recall@20 / NDCG@20 and 95% bootstrap CIs next to the offline baselines on the same users. The
# baselines are fitted on exactly the history the edge has loaded: the current `recs-light` version's training data
# (its manifest's `train_until` and `data_hash`, checked against the history files, by default the prepare-recs
# step's `.vitrine/recs/source.json`) with the version's source configuration, as the pipeline fitted the D1 tables;
# "light ranker alone" and "cascade" run the registered `recs-light` / `recs-heavy` models offline. `--answers
# FILE.json` ({"CustomerID": ["StockCode", …]}) scores saved answers instead of asking an edge; `--answers-out
# FILE.json` saves the edge's answers.

EDGE_ROW = "edge /v1/recommend"


class EdgeRouteMissing(RuntimeError):
    """The edge answers 404 not_found for /v1/recommend: the route is not deployed there."""


def _edge_log(msg: str) -> None:
    print(f"[eval:recommend] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the loaded history


@dataclass
class LoadedHistory:
    """What the edge serves from: the recs-light version, its training files and cut, the interactions."""

    light_version: str
    heavy_version: str | None
    train_until: str  # last training day (YYYY-MM-DD)
    until: float  # end of that day (days since the epoch): everything before it is history
    files: list[Path]
    sources: S.SourceConfig
    inter: Interactions

    def describe(self) -> str:
        heavy = f", {self.heavy_version}" if self.heavy_version else ""
        return (
            f"baselines fitted on the history the edge has loaded: {self.light_version}{heavy} training data = "
            f"purchases up to {self.train_until} in {', '.join(str(f) for f in self.files)} (data_hash checked)"
        )


def history_files_from_source(source_json: Path) -> list[Path]:
    """The files the prepare-recs step read (`.vitrine/recs/source.json`)."""
    if not source_json.exists():
        raise SystemExit(f"{source_json} missing: run the pipeline (prepare-recs) or pass --history FILE")
    return [Path(f) for f in json.loads(source_json.read_text())["files"]]


def loaded_history(files: Sequence[Path], reg: Path | None = None) -> LoadedHistory:
    """The current recs-light version's training data; refuses files whose hash is not the version's."""
    cur = registry.read_current(reg)
    light = cur.get("recs-light")
    if not light:
        raise SystemExit("no recs-light version is registered: run the pipeline first")
    man = registry.read_manifest("recs-light", light, reg)
    got = data.data_hash(files)
    if got != man["data_hash"]:
        raise SystemExit(
            f"the history files {[str(f) for f in files]} (data_hash {got[:12]}…) are not the training data of "
            f"{light} (data_hash {str(man['data_hash'])[:12]}…): the baselines would not see what the edge has loaded"
        )
    sc = S.SourceConfig(**man["sources"])
    return LoadedHistory(
        light_version=light,
        heavy_version=cur.get("recs-heavy"),
        train_until=man["train_until"],
        until=data.end_of_day(man["train_until"]),
        files=list(files),
        sources=sc,
        inter=data.load(files),
    )


# ---------------------------------------------------------------- the evaluation window


@dataclass
class Window:
    """Returning customers -> the products (indices in the history's catalogue, or beyond it) they bought after
    the history. Products the history never saw get indices >= len(catalogue): no ranking can hold them, they
    count as misses."""

    truth: dict[int, set[int]]
    lines_after: int
    lines_before: int
    first: str
    last: str


def window_truth(hist: Interactions, until: float, transactions: Path) -> Window:
    raw = data.read_lines([transactions])
    cut = np.datetime64(data.date_of(until)).astype("datetime64[s]")  # `until` is the end of the day: midnight after
    ts = np.array(raw.ts, dtype="datetime64[s]") if raw.ts else np.zeros(0, dtype="datetime64[s]")
    after = ts >= cut
    if not after.any():
        raise SystemExit(
            f"{transactions}: no purchase dated after the loaded history (which ends {data.date_of(until - 1)}): "
            "pass an invoice file of later purchases"
        )
    known = set(hist.before(until).users().tolist())
    index = hist.catalogue.index()
    extra: dict[str, int] = {}
    truth: dict[int, set[int]] = {}
    for k in np.flatnonzero(after).tolist():
        u, code = raw.customer[k], raw.code[k]
        if u < 0 or u not in known:
            continue
        i = index.get(code)
        if i is None:
            i = extra.setdefault(code, len(hist.catalogue) + len(extra))
        truth.setdefault(u, set()).add(i)
    return Window(
        truth=truth,
        lines_after=int(after.sum()),
        lines_before=int((~after).sum()),
        first=str(ts[after].min())[:10],
        last=str(ts[after].max())[:10],
    )


# ---------------------------------------------------------------- the edge


@dataclass
class EdgeAnswers:
    items: dict[int, list[str]] = field(default_factory=dict)
    degraded: int = 0
    errors: dict[int, str] = field(default_factory=dict)
    models: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    latency_ms: list[float] = field(default_factory=list)  # answered requests, client-side, the answering attempt

    def latency_note(self) -> str:
        if not self.latency_ms:
            return "no latency (no answers)"
        q = np.percentile(np.asarray(self.latency_ms), [50, 95])
        return f"latency end to end median {q[0]:.1f} ms, p95 {q[1]:.1f} ms"


def item_ids(body: Mapping[str, Any]) -> list[str]:
    """The product ids of a /v1/recommend answer, in order."""
    items = body.get("items")
    if not isinstance(items, list):
        raise ValueError("answer without an items list")
    return [str(i["id"]) for i in items]


def ask_edge(
    edge: str, store: str, users: Sequence[int], k: int = K, concurrency: int = 8, timeout_s: float = 30.0
) -> EdgeAnswers:
    """GET /v1/recommend for every user, `concurrency` in flight. A 404 not_found (no route) raises EdgeRouteMissing."""
    base = edge.rstrip("/") + "/v1/recommend?"

    def one(u: int) -> tuple[int, dict[str, Any] | None, str | None, float]:
        url = base + urllib.parse.urlencode({"store": store, "user": str(u), "k": str(k)})
        last = ""
        failures = waits = 0
        while failures < 2:  # one retry for a transient failure; a 429 waits Retry-After (at most 30 times)
            try:
                t = time.perf_counter()
                with urllib.request.urlopen(url, timeout=timeout_s) as r:
                    body = json.loads(r.read())
                return u, body, None, (time.perf_counter() - t) * 1000
            except urllib.error.HTTPError as e:
                body = e.read().decode("utf-8", "replace")
                if e.code == 429 and waits < 30:
                    waits += 1
                    time.sleep(min(float(e.headers.get("Retry-After") or 1), 10.0))
                    continue
                failures += 1
                if e.code == 404:
                    err = json.loads(body).get("error") if body.startswith("{") else None
                    if err == "unknown_store":
                        raise SystemExit(f"the edge does not know store {store!r}: {body}") from e
                    raise EdgeRouteMissing(f"{edge} answers 404 for /v1/recommend: the route is not there") from e
                last = f"HTTP {e.code}: {body[:200]}"
            except (urllib.error.URLError, TimeoutError, ValueError) as e:
                failures += 1
                last = f"{type(e).__name__}: {e}"
        return u, None, last, 0.0

    out = EdgeAnswers()
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for u, body, err, ms in pool.map(one, users):
            if body is None:
                out.errors[u] = err or "no answer"
                continue
            out.latency_ms.append(ms)
            out.items[u] = item_ids(body)
            out.degraded += bool(body.get("degraded"))
            models = body.get("models") or {}
            key = " / ".join(f"{k}={v}" for k, v in sorted(models.items())) if isinstance(models, dict) else str(models)
            out.models[key] = out.models.get(key, 0) + 1
    out.seconds = time.time() - t0
    return out


def read_answers(path: Path) -> dict[int, list[str]]:
    """{"CustomerID": ["StockCode", …]} (what `--answers-out` writes, and `recs eval --extra` reads)."""
    raw = json.loads(path.read_text())
    return {int(u): [str(c) for c in codes] for u, codes in raw.items()}


def to_indices(answers: Mapping[int, Sequence[str]], index: Mapping[str, int]) -> dict[int, list[int]]:
    """StockCodes -> history catalogue indices; codes the history does not know become -1 (never a hit)."""
    return {u: [index.get(c.strip().upper(), -1) for c in codes] for u, codes in answers.items()}


# ---------------------------------------------------------------- offline rows


def offline_rankings(
    h: LoadedHistory,
    users: Sequence[int],
    ranker_dir: Path | None,
    heavy_dir: Path | None,
    cc: CascadeConfig | None = None,
    log: Callable[[str], None] = _edge_log,
) -> dict[str, dict[int, list[int]]]:
    """The baselines (evaluate.baseline_recs) plus the registered light ranker alone and light -> heavy cascade."""
    cc = cc or CascadeConfig()
    t0 = time.time()
    tables = S.fit_tables(h.inter, h.until, h.sources)  # what train-recs-light fitted and exported to D1
    log(f"tables refitted at {h.train_until} in {time.time() - t0:.0f} s")
    recs = baseline_recs(tables, users, cc)
    if ranker_dir is None:
        return recs
    heavy_fn = heavy_scores_for(SeqRecModel.load(heavy_dir), h.inter, h.until) if heavy_dir is not None else None
    recs.update(model_rankings(tables, users, load_ranker(ranker_dir), heavy_fn, cc)[0])
    return recs


def report(
    recs: Mapping[str, Mapping[int, Sequence[int]]], truth: Mapping[int, set[int]], edge_row: str = EDGE_ROW
) -> tuple[str, dict[str, Any]]:
    """The markdown table (rows in `recs` order) and paired differences of the edge row; plus the same as JSON."""
    per = {name: M.per_user(r, truth, K) for name, r in recs.items()}
    rows = [M.summarise(n, p) for n, p in per.items()]
    lines = [M.table(rows)]
    diffs: dict[str, Any] = {}
    if edge_row in per:
        lines += ["", "| paired difference | ΔRecall@20 [95% CI] | ΔNDCG@20 [95% CI] |", "| --- | --- | --- |"]
        for other in ("cascade (light -> heavy)", "light ranker alone", "repeat-frequency"):
            if other in per:
                r, n = M.paired(per[edge_row], per[other])
                lines.append(f"| {edge_row} - {other} | {r.fmt()} | {n.fmt()} |")
                diffs[f"{edge_row} - {other}"] = {"recall": r.__dict__, "ndcg": n.__dict__}
    js = {
        "rows": {r.name: {"recall": r.recall.__dict__, "ndcg": r.ndcg.__dict__} for r in rows},
        "differences": diffs,
        "users": len(truth),
    }
    return "\n".join(lines), js


def run_edge(a: argparse.Namespace) -> int:
    """``eval-recommend`` (its arguments: cli.py): the edge's answers and the offline rows on the same users."""
    t_start = time.time()
    files = a.history or history_files_from_source(paths.STATE / "recs" / "source.json")
    h = loaded_history(files)
    win = window_truth(h.inter, h.until, a.transactions)
    users = sorted(win.truth)
    if not users:
        raise SystemExit(f"{a.transactions}: no returning customer (none bought before {h.train_until})")
    _edge_log(f"{len(users)} returning customers in {a.transactions}")

    if a.answers:
        answers, edge_note = read_answers(a.answers), f"answers read from {a.answers}"
    else:
        try:
            got = ask_edge(a.edge, a.store, users, K, a.concurrency)
        except EdgeRouteMissing as e:
            print(f"eval:recommend: {e}", file=sys.stderr)
            return 3
        answers = got.items
        edge_note = (
            f"{a.edge} store={a.store}: {len(got.items)} answers in {got.seconds:.1f} s ({a.concurrency} in flight; "
            f"{got.latency_note()}), {got.degraded} degraded, {len(got.errors)} failed (scored as empty lists); models: {got.models}"
        )
        if got.errors:
            u, err = next(iter(got.errors.items()))
            _edge_log(f"{len(got.errors)} requests failed, e.g. user {u}: {err}")
        if a.answers_out:
            a.answers_out.write_text(json.dumps({str(u): c for u, c in answers.items()}) + "\n")
    index = h.inter.catalogue.index()
    edge_recs = to_indices({u: answers.get(u, []) for u in users}, index)

    reg = registry.registry_dir()
    ranker_dir = None if a.no_models else registry.version_dir("recs-light", h.light_version, reg)
    heavy_dir = None if a.no_models or not h.heavy_version else registry.version_dir("recs-heavy", h.heavy_version, reg)
    recs = offline_rankings(h, users, ranker_dir, heavy_dir)
    recs[EDGE_ROW] = edge_recs
    table, js = report(recs, win.truth)

    print(f"## Recommendations: {a.store}, {len(users)} returning customers, purchases {win.first} .. {win.last}\n")
    print(f"- {h.describe()}")
    print(
        f"- evaluated on {a.transactions}: {win.lines_after} purchase lines after the history"
        f" ({win.lines_before} earlier lines ignored); truth = the products each customer bought there"
    )
    print(f"- edge: {edge_note}\n")
    print(table)
    print(f"\ntotal {time.time() - t_start:.0f} s")
    if a.json:
        a.json.write_text(json.dumps({**js, "history": h.describe(), "edge": edge_note}, indent=1) + "\n")
    return 0
