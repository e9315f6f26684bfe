"""Per-store recommendation models from the store's own D1 rows (`python -m vitrine_gpu pipeline recs --store <id>`).

``train_store(data)`` trains, for one store, what the online-retail pipeline trains from its transactions file — the
candidate-source tables, the light ranker (ONNX) and the sequence model — on a **time split**: the last
``WINDOW_DAYS`` (30) days of the store's purchases are held out. The models see only purchases before the cut ``T``
(the ranker's label windows end at ``T``, the sequence model's cuts too), so the held-out month measures them as
they will be used: predicting what returning customers buy next. 30 days because it is the horizon the ranker is
trained to predict (``RankerConfig.window_days``: its labels are "bought within 30 days of the cut") and the window
the Online Retail evaluation uses (a calendar month): a shorter window leaves fewer returning customers with a
purchase in it (wider intervals), a longer one moves the cut further from today.

**What a time split can and cannot see on D1's history.** D1 keeps one row per (user, item): ``n`` purchases and the
day of the last one (``recs.store_data``). Exact: the held-out truth — a user bought an item in the window iff its
row's ``last_day`` falls in it — and the state at the cut of every pair not bought since (its ``n``, last day and
quantity). Not visible: for a pair bought again in the window (``n`` ≥ 2), how many of its earlier purchases fell
before the cut and when (they are placed by the even-spread rule of ``store_data.to_interactions``, so some may land
on either side of the cut); the order of purchases within a day; baskets beyond "same user, same last day"; and
add-to-carts (``n`` = 0), which are not purchases. Ignoring the imputed purchases instead would hide every repeat
purchase from the history at the cut (a row last bought after the cut would vanish whole), teaching the ranker that
history items are never bought again — the opposite of what the store's data say.

The registered recs-light version ranks with the ranker trained at ``T`` (what the gate measured); its ``tables.json``
— the rows the edge reads — is refitted on every purchase up to the end of the data, whose clock (``now``) is the end
of the last purchase day. The version's D1 rows are loaded without the history (D1's rows are the source) and
without moving ``recs_current``: `npm run release -- --store <id> --kind recs-light` canaries and promotes it.

**Bounds.** Refused below ``MIN_PURCHASES`` purchases, ``MIN_CUSTOMERS`` customers, a span of two windows (one
label window for the ranker before the held-out one) or ``MIN_RETURNING`` returning customers with a purchase in the
held-out window (fewer cannot tell a good model from a bad one: the gate's intervals span everything), and when the
ranker gets fewer than ``MIN_LISTS`` training lists; above ``MAX_ITEMS`` products (the neighbour tables are sparse
and blocked, ALS is batched — README "Scale" has the measured cost per step; past this size the heavy steps move to a
distributed engine).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import metrics as M
from .. import paths, registry
from ..search.catalog import write_sql
from .d1 import tables_sql_statements
from .data import date_of
from .holdout import LIVE_ROW, live_tables, merge_order, onnx_scorer, ranked, rows_json, window_truth
from .ranker import RankerConfig, fit_ranker, ranked_lists, save_ranker, training_lists
from .sequence import train as train_seq
from .sources import SourceConfig, fit_tables, popularity
from .store_data import StoreData
from .train import code_hash, configs, tables_json

WINDOW_DAYS = RankerConfig().window_days  # the held-out window: the ranker's label horizon (30 days)
MIN_PURCHASES = 500
MIN_CUSTOMERS = 50
MIN_RETURNING = 30  # returning customers with a purchase in the held-out window
MIN_LISTS = 20  # the ranker's training lists (users with a purchase in a label window before the cut)
MAX_ITEMS = 1_000_000
CANDIDATE_ROW = "candidate ranker"


class TooSmall(ValueError):
    """The store's data cannot support a trained model (every failed criterion in the message)."""


@dataclass(frozen=True)
class Split:
    cut: float  # T: models see purchases before it
    end: float  # the end of the data (end of the last purchase day)
    window_days: float
    returning: int  # returning customers with a purchase in [cut, end)

    def describe(self) -> dict[str, Any]:
        return {
            "from": date_of(self.cut),
            "to": date_of(self.end - 1),
            "days": self.window_days,
            "returning_customers": self.returning,
            "train_until": date_of(self.cut - 1),
        }


def split_of(data: StoreData, window_days: float = WINDOW_DAYS) -> Split:
    cut = data.end - window_days
    return Split(cut, data.end, window_days, len(window_truth(data.inter, cut, data.end)))


def check_size(data: StoreData, split: Split) -> None:
    s = data.export.summary()
    problems = []
    if s["purchases"] < MIN_PURCHASES:
        problems.append(f"{s['purchases']} purchases < {MIN_PURCHASES}")
    if s["customers"] < MIN_CUSTOMERS:
        problems.append(f"{s['customers']} customers with a purchase < {MIN_CUSTOMERS}")
    span = data.end - float(data.inter.ts.min())
    if span < 2 * split.window_days:
        problems.append(
            f"{span:.0f} days of purchases < {2 * split.window_days:.0f} (a label window + the held-out one)"
        )
    if split.returning < MIN_RETURNING:
        problems.append(
            f"{split.returning} returning customers bought in the held-out window {date_of(split.cut)} .. "
            f"{date_of(split.end - 1)} < {MIN_RETURNING}"
        )
    if len(data.inter.catalogue) > MAX_ITEMS:
        problems.append(f'{len(data.inter.catalogue)} products > {MAX_ITEMS} (README "Scale": a distributed engine)')
    if problems:
        raise TooSmall(
            f"store {data.export.store!r} is not ready for a trained recommendation model: {'; '.join(problems)}. "
            "It keeps its live tables (edge/recs/live.ts) until it has more purchases."
        )


def holdout_rows(
    data: StoreData, split: Split, version_dir: Path, sc: SourceConfig
) -> tuple[dict[int, set[int]], dict[str, M.PerUser]]:
    """Per-user metrics on the held-out window: the registered ranker and the live-table baseline."""
    truth = window_truth(data.inter, split.cut, split.end)
    users = sorted(truth)
    tables = fit_tables(data.inter, split.cut, sc)
    pop = popularity(tables, k=M.K)[0].tolist()
    recs = {
        CANDIDATE_ROW: ranked(tables, users, onnx_scorer(version_dir)),
        LIVE_ROW: merge_order(live_tables(tables), users),
        "popularity (30 days)": {u: pop for u in users},
    }
    return truth, {name: M.per_user(r, truth, M.K) for name, r in recs.items()}


def store_sql_dir(store: str) -> Path:
    return paths.recs_dir() / "stores" / store


def train_store(
    data: StoreData,
    *,
    reduced: bool = False,
    registry_root: Path | None = None,
    log: Callable[[str], None] = print,
    window_days: float = WINDOW_DAYS,
) -> dict[str, Any]:
    """Train, evaluate on the held-out window and register the store's recs-light and recs-heavy versions (never
    selected in current.json); write the recs-light version's D1 SQL. Raises TooSmall."""
    t0 = time.time()
    store = data.export.store
    split = split_of(data, window_days)
    check_size(data, split)
    rc, qc, sc = configs(reduced)
    summary = data.export.summary()
    log(
        f"{store}: {summary['purchases']} purchases of {summary['customers']} customers on {summary['products']} "
        f"products ({data.imputed} earlier purchases placed by the even-spread rule); held out "
        f"{date_of(split.cut)} .. {date_of(split.end - 1)} ({split.returning} returning customers)"
    )
    t1 = time.time()
    lists = training_lists(data.inter.before(split.cut), split.cut, rc, sc, progress=log)
    if len(lists) < MIN_LISTS:
        raise TooSmall(f"store {store!r}: {len(lists)} ranker training lists before the cut < {MIN_LISTS}")
    ranker = fit_ranker(lists, rc)
    timings = {"ranker_s": round(time.time() - t1, 1)}
    meta_common = {
        "store": store,
        "source": "d1",
        "data": summary,
        "holdout": split.describe(),
        "train_until": date_of(split.cut - 1),
        "reconstruction": {
            "imputed_purchases": data.imputed,
            "rule": "last purchase at last_day; the n-1 earlier ones evenly between the user's first last_day and it",
        },
        "reduced": reduced,
        **({"shipped": data.extra} if data.extra else {}),
    }
    data_hash = data.export.data_hash()
    reg = registry_root or registry.registry_dir()
    allx = np.concatenate([l.x for l in lists])
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        meta = save_ranker(
            ranker, tmp, rc, sc, allx[np.linspace(0, len(allx) - 1, num=min(2000, len(allx))).astype(int)]
        )
        t1 = time.time()
        tables_end = fit_tables(data.inter, split.end, sc)
        tj = tables_json(tables_end, data.inter.catalogue.codes, user_ids=data.users)
        (tmp / "tables.json").write_text(json.dumps(tj) + "\n")
        timings["tables_s"] = round(time.time() - t1, 1)
        truth, per = holdout_rows(data, split, tmp, sc)
        r, n = M.paired(per[CANDIDATE_ROW], per[LIVE_ROW])
        metrics: dict[str, Any] = {
            "holdout": rows_json(per),
            "candidate_minus_live": {"recall": r.__dict__, "ndcg": n.__dict__},
        }
        meta.update(meta_common)
        meta.update(
            {
                "metrics": metrics,
                "tables_until": date_of(split.end - 1),
                "now": split.end,
                "training_lists": len(lists),
            }
        )
        light = registry.register(
            "recs-light", tmp, meta, data_hash=data_hash, code_hash=code_hash(), set_current=False, registry=reg
        )
    log(
        f"registered {light}: held-out NDCG@20 {n.mean + float(np.mean(per[LIVE_ROW].ndcg)):.4f} vs live tables "
        f"{float(np.mean(per[LIVE_ROW].ndcg)):.4f} (Δ {n.fmt()}), Recall@20 Δ {r.fmt()} over {len(truth)} customers"
    )

    t1 = time.time()
    heavy_model = train_seq(data.inter, split.cut, qc, ranked_lists(lists, rc, ranker), progress=log)
    timings["heavy_s"] = round(time.time() - t1, 1)
    with tempfile.TemporaryDirectory() as d:
        heavy_model.save(Path(d), {"train_until": meta_common["train_until"]})
        heavy_meta = {
            **meta_common,
            "task": "recommend",
            "model": "seqrec-transformer",
            "config": qc.to_dict(),
            "light_version": light,
            "cascade": "final = light + heavy over the light top M (heavy is trained as the light ranker's residual)",
        }
        heavy = registry.register(
            "recs-heavy",
            Path(d),
            heavy_meta,
            data_hash=data_hash,
            code_hash=code_hash(),
            set_current=False,
            registry=reg,
        )
    log(f"registered {heavy}")

    out_dir = store_sql_dir(store)
    out_dir.mkdir(parents=True, exist_ok=True)
    sql = out_dir / "recs.sql"
    sha = write_sql(sql, tables_sql_statements(tj, store, light, history=False, current=False))
    sql_meta = {"store": store, "version": light, "sha256": sha, "bytes": sql.stat().st_size, "items": len(tj["items"])}
    (out_dir / "recs.sql.json").write_text(json.dumps(sql_meta) + "\n")
    timings["total_s"] = round(time.time() - t0, 1)
    return {
        "store": store,
        "recs_light": light,
        "recs_heavy": heavy,
        "holdout": split.describe(),
        "data": summary,
        "metrics": metrics,
        "sql": str(sql),
        "sql_items": len(tj["items"]),
        "timings": timings,
    }
