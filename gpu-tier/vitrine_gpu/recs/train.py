"""Training entry points the pipeline steps call with one line each, and the files they leave.

- ``prepare_recs(state)``: the cleaned store from ../shared (or the seeded synthetic fallback) -> ``catalogue.json``
  (StockCode, description, last price) and ``source.json`` (files, sha256, counts) under ``<state>/recs``.
- ``train_recs_light(until=None)``: the light ranker on the windows before ``until`` (default: the end of the data),
  ONNX + parity, registered as ``recs-light``; also writes the edge tables (``tables.json``) it was trained with.
- ``train_recs_heavy(until=None)``: the sequence model, registered as ``recs-heavy`` (``SeqRecModel.load`` on the
  version directory serves it).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import paths, registry
from . import data, synthetic
from .edge_view import LAST_DAY_DECIMALS
from .features import FEATURE_NAMES
from .ranker import RankerConfig, fit_ranker, ranked_lists, save_ranker, training_lists
from .sequence import SeqConfig
from .sequence import train as train_seq
from .sources import SourceConfig, Tables, fit_tables

SYNTHETIC = {"n_customers": 400, "n_products": 500, "seed": 7}
# The quick configuration (tests, `pipeline --reduced`, `recs eval --reduced`): one label window, fewer epochs, a
# one-layer d=32 sequence model, 4 ALS iterations.
REDUCED: dict[str, Any] = {
    "ranker": RankerConfig(epochs=4, cuts=1),
    "seq": SeqConfig(d=32, layers=1, epochs=1, cuts_per_user=1),
    "sources": SourceConfig(mf_iterations=4),
}


def configs(reduced: bool) -> tuple[RankerConfig, SeqConfig, SourceConfig]:
    """(ranker, sequence model, sources) configurations: REDUCED's or the defaults."""
    if reduced:
        return REDUCED["ranker"], REDUCED["seq"], REDUCED["sources"]
    return RankerConfig(), SeqConfig(), SourceConfig()


def set_threads() -> None:
    """torch threads for the recs models: VITRINE_TORCH_THREADS, default 1 (small ops: 1 thread is fastest)."""
    torch.set_num_threads(int(os.environ.get("VITRINE_TORCH_THREADS", "1")))


def log(msg: str) -> None:
    print(f"[recs] {msg}", file=sys.stderr, flush=True)


def source_files(synthetic_ok: bool = True, synthetic_only: bool = False) -> list[Path]:
    """The shared Online Retail file, else (or with ``synthetic_only``) the synthetic one (generated on first use)."""
    f = None if synthetic_only else data.default_transactions()
    if f is not None:
        return [f]
    if not synthetic_ok:
        raise FileNotFoundError("no ../shared/datasets/online_retail")
    p = paths.recs_dir() / "synthetic" / "online_retail_synthetic.csv.gz"
    if not p.exists():
        synthetic.write(p, **SYNTHETIC)
    return [p]


def code_hash() -> str:
    return registry.code_hash("recs", "search/light", "metrics")


def prepare_recs(out: Path | None = None, synthetic_only: bool = False) -> dict[str, Any]:
    out = out or paths.recs_dir()
    files = source_files(synthetic_only=synthetic_only)
    inter = data.load(files)
    cat = inter.catalogue
    out.mkdir(parents=True, exist_ok=True)
    (out / "catalogue.json").write_text(
        json.dumps(
            [
                {"id": c, "title": d, "price": round(float(p), 2)}
                for c, d, p in zip(cat.codes, cat.descriptions, cat.prices)
            ]
        )
        + "\n"
    )
    src = {
        "files": [str(f) for f in files],
        "sha256": data.data_hash(files),
        "lines": len(inter),
        "products": len(cat),
        "customers": int(inter.users().size),
        "first": data.date_of(float(inter.ts.min())),
        "last": data.date_of(inter.end),
    }
    (out / "source.json").write_text(json.dumps(src, indent=1) + "\n")
    return src


def _until(inter: data.Interactions, until: str | None) -> float:
    return data.end_of_day(until) if until else data.end_of_day(data.date_of(inter.end))


def tables_json(
    t: Tables, codes: tuple[str, ...], version: str = "", user_ids: Sequence[str] | None = None
) -> dict[str, Any]:
    """The D1 rows the edge sources read (items as StockCodes; times as days since the epoch). Users are keyed by
    ``str(customer)``, or by ``user_ids[customer]`` when given (a store's D1 user ids, ``recs.store_data``)."""

    def uid(u: Any) -> str:
        return user_ids[int(u)] if user_ids is not None else str(u)

    def nb(ids: np.ndarray, sims: np.ndarray) -> dict[str, list[list[Any]]]:
        return {
            codes[i]: [[codes[j], round(float(s), 5)] for j, s in zip(ids[i], sims[i]) if j >= 0]
            for i in range(len(codes))
            if ids[i, 0] >= 0
        }

    return {
        "model_version": version,
        "now": t.now,
        "config": t.cfg.to_dict(),
        "items": {
            codes[i]: {
                "pop_all": float(t.pop_all[i]),
                "pop_recent": float(t.pop_recent[i]),
                "trend": round(float(t.trend[i]), 5),
                "repeat_rate": round(float(t.repeat_rate[i]), 5),
                "price": round(float(t.price[i]), 2),
            }
            for i in range(len(codes))
        },
        "copurchase": nb(t.nb_ids, t.nb_sims),
        "content": nb(t.ct_ids, t.ct_sims),
        "item_vectors": {
            codes[i]: [round(float(v), 5) for v in t.item_vecs[i]] for i in range(len(codes)) if t.sold[i]
        },
        "user_vectors": {uid(u): [round(float(x), 5) for x in v] for u, v in t.user_vecs.items()},
        "history": {
            uid(u): [
                [codes[i], int(n), round(float(last), LAST_DAY_DECIMALS), int(q)]
                for i, n, last, q in zip(h.items, h.n, h.last, h.qty)
            ]
            for u, h in t.history.items()
        },
    }


def _fit_light(
    files: Sequence[Path] | None,
    until: str | None,
    rc: RankerConfig,
    sc: SourceConfig,
    log: Callable[[str], None],
) -> tuple[list[Path], data.Interactions, float, list[Any], Any]:
    """The shared start of both training steps: the store's files, their interactions, the cut, the light ranker's
    training lists and the ranker fitted on them."""
    paths_ = list(files) if files else source_files()
    inter = data.load(paths_)
    t_until = _until(inter, until)
    lists = training_lists(inter.before(t_until), t_until, rc, sc, progress=log)
    return paths_, inter, t_until, lists, fit_ranker(lists, rc)


def train_recs_light(
    until: str | None = None,
    rc: RankerConfig = RankerConfig(),
    sc: SourceConfig = SourceConfig(),
    register: bool = True,
    log: Callable[[str], None] = print,
    files: Sequence[Path] | None = None,
) -> dict[str, Any]:
    t0 = time.time()
    files, inter, t_until, lists, model = _fit_light(files, until, rc, sc, log)
    allx = np.concatenate([l.x for l in lists])
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        meta = save_ranker(
            model, tmp, rc, sc, allx[np.linspace(0, len(allx) - 1, num=min(2000, len(allx))).astype(int)]
        )
        tables = fit_tables(inter, t_until, sc)
        (tmp / "tables.json").write_text(json.dumps(tables_json(tables, inter.catalogue.codes)) + "\n")
        meta.update(
            {
                "train_until": data.date_of(t_until - 1),
                "training_lists": len(lists),
                "seconds": round(time.time() - t0, 1),
            }
        )
        if not register:
            return meta
        version = registry.register("recs-light", tmp, meta, data_hash=data.data_hash(files), code_hash=code_hash())
    log(f"registered {version} (ONNX parity {meta['onnx_max_abs_diff']:.1e}, {len(FEATURE_NAMES)} features)")
    return {"version": version, **meta}


def train_recs_heavy(
    until: str | None = None,
    qc: SeqConfig = SeqConfig(),
    rc: RankerConfig = RankerConfig(),
    sc: SourceConfig = SourceConfig(),
    register: bool = True,
    log: Callable[[str], None] = print,
    files: Sequence[Path] | None = None,
) -> dict[str, Any]:
    t0 = time.time()
    # deterministic: the same ranker train_recs_light registers for this data
    files, inter, t_until, lists, ranker = _fit_light(files, until, rc, sc, log)
    model = train_seq(inter, t_until, qc, ranked_lists(lists, rc, ranker), progress=log)
    meta = {
        "task": "recommend",
        "model": "seqrec-transformer",
        "config": qc.to_dict(),
        "cascade": "final = light + heavy over the light top M (heavy is trained as the light ranker's residual)",
        "train_until": data.date_of(t_until - 1),
        "seconds": round(time.time() - t0, 1),
        "api": "SeqRecModel.load(dir).score(sequence=[(StockCode, days)], candidates=[StockCode], now=days)",
    }
    with tempfile.TemporaryDirectory() as d:
        model.save(Path(d), {"train_until": meta["train_until"]})
        if not register:
            return meta
        version = registry.register("recs-heavy", Path(d), meta, data_hash=data.data_hash(files), code_hash=code_hash())
    log(f"registered {version}")
    return {"version": version, **meta}
