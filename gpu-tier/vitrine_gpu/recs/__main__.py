"""python -m vitrine_gpu.recs {eval,synthetic,prepare,train-light,train-heavy}

eval: train every model on the purchases up to --train-until (inclusive) and evaluate on the purchases after it
(returning customers; truth = the products each bought), printing Recall@20 / NDCG@20 with 95% bootstrap CIs for
popularity (30 days), repeat-frequency, item-kNN co-purchase, MF, TIFU-like, light alone and the cascade, plus
paired-bootstrap differences. Rows are read from --history (default: ../shared's Online Retail file) and
--transactions together; duplicate paths are read once. --extra NAME=FILE.json adds a ranking from elsewhere
({"CustomerID": ["StockCode", ...]}, e.g. the running edge's answers) to the same table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from . import data, synthetic
from .evaluate import CascadeConfig, evaluate, train_all
from .ranker import RankerConfig
from .sequence import SeqConfig
from .sources import SourceConfig
from .train import REDUCED


def _log(msg: str) -> None:
    print(f"[recs] {msg}", file=sys.stderr, flush=True)


def _extra(specs: list[str], inter: data.Interactions) -> dict[str, dict[int, list[int]]]:
    idx = inter.catalogue.index()
    out: dict[str, dict[int, list[int]]] = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        if not path:
            raise SystemExit(f"--extra wants NAME=FILE.json, got {spec!r}")
        raw = json.loads(Path(path).read_text())
        out[name] = {int(u): [idx.get(str(c).upper(), -1) for c in codes] for u, codes in raw.items()}
    return out


def cmd_eval(a: argparse.Namespace) -> int:
    t_start = time.time()
    files: list[Path] = []
    hist = Path(a.history) if a.history else data.default_transactions()
    for f in [hist, Path(a.transactions)]:
        if f is not None and f.resolve() not in [x.resolve() for x in files]:
            files.append(f)
    inter = data.load(files)
    until = data.end_of_day(data.parse_date(a.train_until))
    eval_until = data.end_of_day(data.parse_date(a.eval_until)) if a.eval_until else None
    _log(f"{len(inter)} purchase lines from {', '.join(map(str, files))}; train < {data.date_of(until)}")
    rc, qc, sc = (
        (REDUCED["ranker"], REDUCED["seq"], REDUCED["sources"])
        if a.reduced
        else (RankerConfig(), SeqConfig(), SourceConfig())
    )
    trained = train_all(inter, until, rc, sc, None if a.no_heavy else qc, log=_log)
    res = evaluate(
        inter, until, eval_until, trained, CascadeConfig(heavy_weight=a.heavy_weight), _extra(a.extra, inter)
    )
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m vitrine_gpu.recs", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("eval", help="time-split evaluation table with CIs")
    e.add_argument("--train-until", required=True, help="last day (YYYY-MM-DD) of training purchases")
    e.add_argument("--transactions", required=True, help="invoice file (Online Retail schema) holding the eval window")
    e.add_argument("--history", help="invoice file with the history (default: ../shared's Online Retail file)")
    e.add_argument("--eval-until", help="last day of the evaluation window (default: the end of the data)")
    e.add_argument("--heavy-weight", type=float, default=CascadeConfig().heavy_weight)
    e.add_argument("--no-heavy", action="store_true", help="skip the sequence model (no cascade row)")
    e.add_argument("--reduced", action="store_true", help="small, fast configuration (tests)")
    e.add_argument("--extra", action="append", default=[], help="NAME=FILE.json extra ranking to compare")
    e.add_argument("--json", help="also write the table as JSON here")
    s = sub.add_parser("synthetic", help="write the seeded synthetic store (Online Retail schema)")
    s.add_argument("out")
    s.add_argument("--seed", type=int, default=7)
    sub.add_parser("prepare", help="catalogue + source summary under .vitrine/recs")
    for name in ("train-light", "train-heavy"):
        t = sub.add_parser(name, help=f"train and register {name.replace('train-', 'recs-')}")
        t.add_argument("--until", help="last training day (default: the end of the data)")
    a = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("VITRINE_TORCH_THREADS", "1")))  # small ops: 1 thread is fastest
    if a.cmd == "eval":
        return cmd_eval(a)
    if a.cmd == "synthetic":
        print(synthetic.write(a.out, seed=a.seed))
        return 0
    from . import train as tr

    if a.cmd == "prepare":
        print(json.dumps(tr.prepare_recs()))
    elif a.cmd == "train-light":
        print(json.dumps({k: v for k, v in tr.train_recs_light(a.until, log=_log).items() if k != "features"}))
    else:
        print(json.dumps(tr.train_recs_heavy(a.until, log=_log)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
