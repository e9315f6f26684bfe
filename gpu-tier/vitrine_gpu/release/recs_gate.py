"""The offline gate of the recommendation kinds: the candidate against what the store serves, on the store's most
recent held-out window (`npm run release -- --store <id> --kind recs-light|recs-heavy`).

**Data.** A per-store version (manifest ``source: "d1"``) is judged on the store's rows read from D1 as the pipeline
read them (``recs.store_data``: the local wrangler state, ``--db``, or ``--from-export`` of a remote dump; for the
shipped store, its transactions file plus the purchases since, ``recs.shipped_store``); a version
trained from the online-retail transactions file (the shipped pipeline's) on that file (``.vitrine/recs/source.json``,
checked against the version's ``data_hash``). The window is the last ``WINDOW_DAYS`` (30) days of the data; the truth
is what each returning customer (a purchase before the window) bought in it (Recall@20 = hits / |truth|, NDCG@20 with
binary gains and the ideal over min(20, |truth|): ``vitrine_gpu.metrics``). Both models rank the same candidates:
the sources' tables refitted at the window's start from the same rows, the history as the edge rebuilds it from D1.

**Compared with.** recs-light: the store's production recs-light (stores.json; for online-retail current.json's),
else — a store served by its live tables — the live-table baseline (``recs.holdout``: the same sources without a
trained model, in their merge order). recs-heavy: the cascade light → heavy (weight ``CascadeConfig.heavy_weight``)
over the store's production light ranker (else the one trained with the candidate), against the same light ranker
with the production recs-heavy, else the light ranker alone.

**Decision** (the search gate's margin convention, ``release/gate.py``): per metric, the paired bootstrap 95% CI of
mean(candidate − baseline) over the window's customers; a metric is *worse* when its mean is below −``margin`` and
the CI's upper bound below 0 (noise alone never refuses). Refused when Recall@20 or NDCG@20 is worse, when the
candidate cannot be loaded or scored (files changed, ONNX parity off by > 1e-4, non-finite scores), when a per-store
candidate has seen the window (its training cut is inside it: judge it on data at least as recent as its training),
or when the window has fewer than ``MIN_RETURNING`` returning customers. The versions trained on the whole
transactions file (online-retail) have seen their window: the report says so (``in_sample``) — the gate then still
refuses broken or worse rankers, but flatters overfitting.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import metrics as M
from .. import registry
from ..recs import data as recs_data
from ..recs import holdout as H
from ..recs.evaluate import CascadeConfig
from ..recs.sequence import SeqRecModel, heavy_scores_for
from ..recs.shipped_store import SHIPPED_STORE, shipped_files, store_interactions
from ..recs.sources import SourceConfig, Tables, fit_tables, popularity, repeat_frequency
from ..recs.store_data import StoreDataError, export_store
from ..recs.store_train import MIN_RETURNING, WINDOW_DAYS

RECS_STORE = SHIPPED_STORE  # the shipped store whose models come from its transactions file (current.json's)
METRICS = (("recall", "Recall@20"), ("ndcg", "NDCG@20"))


@dataclass(frozen=True)
class GateData:
    """The store's purchases the gate evaluates on, and the end of its data."""

    inter: recs_data.Interactions
    end: float
    source: str
    data_hash: str


def production_of(kind: str, store: str, reg: Path | None = None) -> str | None:
    """The store's production ``kind``: stores.json's entry, else (the shipped store) current.json's."""
    v = registry.read_stores(reg).get(store, {}).get(kind)
    if v:
        return v
    return (registry.read_current(reg).get(kind) or None) if store == RECS_STORE else None


def gate_data(
    kind: str,
    candidate: str,
    store: str,
    db: Path | None = None,
    from_export: Path | None = None,
    reg: Path | None = None,
) -> GateData:
    """The candidate's kind of data: the store's D1 rows for a per-store version, else its transactions file."""
    man = registry.read_manifest(kind, candidate, reg)
    if man.get("source") == "d1":
        exp, _ = export_store(store, db=db, from_export=from_export)
        data = store_interactions(exp)
        return GateData(data.inter, data.end, exp.source, exp.data_hash())
    files = shipped_files()
    got = recs_data.data_hash(files)
    if man.get("data_hash") and got != man["data_hash"]:
        raise StoreDataError(
            f"{[str(f) for f in files]} (data_hash {got[:12]}…) are not the training data of {candidate}: "
            "run the pipeline's prepare-recs on its file first"
        )
    inter = recs_data.load(files)
    return GateData(
        inter, recs_data.end_of_day(recs_data.date_of(inter.end)), f"file {', '.join(map(str, files))}", got
    )


def _paired_decision(cand: M.PerUser, base: M.PerUser, margin: float) -> list[dict[str, Any]]:
    out = []
    for key, label in METRICS:
        ci = M.paired_bootstrap_diff(getattr(cand, key), getattr(base, key))
        worse = ci.mean < -margin and ci.hi < 0
        out.append({"metric": label, "mean": ci.mean, "lo": ci.lo, "hi": ci.hi, "worse": bool(worse)})
    return out


def decision_table(rows: list[dict[str, Any]], diffs: list[dict[str, Any]], cand: str, base: str) -> str:
    lines = ["| method | Recall@20 [95% CI] | NDCG@20 [95% CI] | users |", "| --- | --- | --- | --- |"]
    for r in rows:
        rc, nd = r["recall"], r["ndcg"]
        lines.append(
            f"| {r['method']} | {rc['mean']:.4f} [{rc['lo']:.4f}, {rc['hi']:.4f}] | "
            f"{nd['mean']:.4f} [{nd['lo']:.4f}, {nd['hi']:.4f}] | {r['users']} |"
        )
    lines += ["", "| Δ candidate − baseline | mean [95% CI] | worse? |", "| --- | --- | --- |"]
    for d in diffs:
        lines.append(
            f"| {d['metric']} ({cand} − {base}) | {d['mean']:+.4f} [{d['lo']:+.4f}, {d['hi']:+.4f}] | "
            f"{'yes' if d['worse'] else 'no'} |"
        )
    return "\n".join(lines)


def _cut_of(man: Mapping[str, Any]) -> float | None:
    until = man.get("train_until")
    return recs_data.end_of_day(str(until)) if until else None


def run_recs_gate(
    kind: str,
    candidate: str,
    production: str | None,
    store: str,
    margin: float,
    data: GateData,
    *,
    registry_root: Path | None = None,
    log: Callable[[str], None] = print,
    window_days: float = WINDOW_DAYS,
) -> dict[str, Any]:
    """The gate report's comparison fields for a recs candidate (``decision``, ``reason`` and the figures)."""
    t0 = time.perf_counter()
    reg = registry_root
    cut, end = data.end - window_days, data.end
    man = registry.read_manifest(kind, candidate, reg)
    report: dict[str, Any] = {
        "store": store,
        "metric": "recall@20, ndcg@20",
        "margin": margin,
        "data": data.source,
        "window": {"from": recs_data.date_of(cut), "to": recs_data.date_of(end - 1), "days": window_days},
    }
    if man.get("store") and man["store"] != store:
        return {**report, "decision": "refuse", "reason": f"{candidate} was trained for store {man['store']!r}"}
    truth = H.window_truth(data.inter, cut, end)
    users = sorted(truth)
    report["users"] = len(users)
    if len(users) < MIN_RETURNING:
        reason = f"{len(users)} returning customers bought in the window < {MIN_RETURNING}: nothing to decide on"
        return {**report, "decision": "refuse", "reason": reason}

    tables: dict[str, Tables] = {}

    def tables_for(sc: SourceConfig) -> Tables:
        key = json.dumps(sc.to_dict(), sort_keys=True)
        if key not in tables:
            tables[key] = fit_tables(data.inter, cut, sc)
        return tables[key]

    def light_of(version: str) -> tuple[Tables, H.Scorer, dict[str, Any]]:
        m = registry.read_manifest("recs-light", version, reg)
        sc = SourceConfig(**m["sources"]) if "sources" in m else SourceConfig()
        return tables_for(sc), H.onnx_scorer(registry.version_dir("recs-light", version, reg)), m

    seen: dict[str, bool] = {}

    def note(kind_: str, version: str) -> dict[str, Any]:
        m = registry.read_manifest(kind_, version, reg)
        c = _cut_of(m)
        seen[version] = c is None or c > cut + 1e-6
        return m

    note(kind, candidate)
    cand_name = f"candidate {candidate}"
    recs: dict[str, dict[int, list[int]]] = {}
    if kind == "recs-light":
        t, scorer, _ = light_of(candidate)
        recs[cand_name] = H.ranked(t, users, scorer)
        if production:
            note(kind, production)
            base_name = f"production {production}"
            pt, pscorer, _ = light_of(production)
            recs[base_name] = H.ranked(pt, users, pscorer)
        else:
            base_name = H.LIVE_ROW
            recs[base_name] = H.merge_order(H.live_tables(t), users)
        info_tables = t
    else:
        light = production_of("recs-light", store, reg) or man.get("light_version")
        if not light:
            return {**report, "decision": "refuse", "reason": "no recs-light version to cascade the candidate with"}
        note("recs-light", light)
        t, scorer, _ = light_of(light)
        before = data.inter.before(cut)
        cc = CascadeConfig()
        cand_heavy = SeqRecModel.load(registry.version_dir(kind, candidate, reg))
        recs[cand_name] = H.ranked(t, users, scorer, heavy_scores_for(cand_heavy, before, cut), cc)
        if production:
            note(kind, production)
            base_name = f"production {production} (over {light})"
            prod_heavy = SeqRecModel.load(registry.version_dir(kind, production, reg))
            recs[base_name] = H.ranked(t, users, scorer, heavy_scores_for(prod_heavy, before, cut), cc)
        else:
            base_name = f"light ranker alone ({light})"
            recs[base_name] = H.ranked(t, users, scorer)
        report["light_version"] = light
        info_tables = t
    pop = popularity(info_tables, k=H.K)[0].tolist()
    recs["popularity (30 days)"] = {u: pop for u in users}
    recs["repeat-frequency"] = {u: repeat_frequency(info_tables, u, k=H.K)[0].tolist() for u in users}

    per = {name: M.per_user(r, truth, H.K) for name, r in recs.items()}
    rows = H.rows_json(per)
    diffs = _paired_decision(per[cand_name], per[base_name], margin)
    nd = next(d for d in diffs if d["metric"] == "NDCG@20")
    in_sample = sorted(v for v, s in seen.items() if s)
    report.update(
        {
            "baseline": base_name,
            "candidate": float(np.mean(per[cand_name].ndcg)),
            "production": float(np.mean(per[base_name].ndcg)),
            "delta": {"mean": nd["mean"], "lo": nd["lo"], "hi": nd["hi"]},
            "rows": rows,
            "differences": diffs,
            "decision_table": decision_table(rows, diffs, "candidate", "baseline"),
            "in_sample": in_sample,
            "compare_seconds": round(time.perf_counter() - t0, 1),
        }
    )
    if man.get("source") == "d1" and candidate in in_sample:
        reason = (
            f"{candidate} was trained on purchases up to {man.get('train_until')}, inside the window "
            f"{report['window']['from']} .. {report['window']['to']}: judge it on data at least as recent as its training"
        )
        return {**report, "decision": "refuse", "reason": reason}
    worse = [d for d in diffs if d["worse"]]
    if worse:
        parts = [
            f"{d['metric']} {d['mean']:+.4f} [{d['lo']:+.4f}, {d['hi']:+.4f}] below −{margin} with the CI below 0"
            for d in worse
        ]
        reason = (
            f"worse than {base_name} on {len(users)} returning customers of {report['window']['from']} .. "
            f"{report['window']['to']}: {'; '.join(parts)}"
        )
        return {**report, "decision": "refuse", "reason": reason}
    summary = "; ".join(f"{d['metric']} Δ {d['mean']:+.4f} [{d['lo']:+.4f}, {d['hi']:+.4f}]" for d in diffs)
    caveat = f" (window seen in training by {', '.join(in_sample)})" if in_sample else ""
    return {**report, "decision": "pass", "reason": f"vs {base_name}: {summary}, within margin {margin}{caveat}"}
