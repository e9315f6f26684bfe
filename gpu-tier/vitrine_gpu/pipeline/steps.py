"""The pipeline steps. Each returns a small JSON-able result and is skipped when its input hash is unchanged."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from .. import paths, registry
from ..metrics import bootstrap_ci, ndcg
from ..recs import data as recs_data
from ..recs import train as recs_train
from ..registry import sha256_file
from ..search import catalog
from ..search import evaluate as search_evaluate
from ..search import synthetic as search_synthetic
from ..search.features import FEATURE_NAMES, NUM_FEATURES
from ..search.heavy import train as heavy_train
from ..search.light.export import INPUT_NAME, OPSET, OUTPUT_NAME, export_onnx, onnx_parity, torch_scores
from ..search.light.train import LightConfig, LightData, fit, grouped_folds
from . import ORDER, cache
from .export import export_edge, export_recs_sql


def log(msg: str) -> None:
    print(f"[pipeline] {msg}", flush=True)


def _file_digest(p: Path) -> str:
    return sha256_file(p) if p.exists() else "missing"


def _run_cached(
    step: str, h: str, force: bool, done: Callable[[dict[str, Any]], bool], run: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    prev = None if force else cache.cached(step, h)
    if prev is not None and done(prev):
        log(f"{step}: inputs unchanged, skipped ({json.dumps(prev, default=str)[:200]})")
        return prev
    t0 = time.time()
    res = run()
    res["seconds"] = round(time.time() - t0, 1)
    cache.store(step, h, res)
    log(f"{step}: done in {res['seconds']} s")
    return res


# ---------------------------------------------------------------- prepare


def prepare(force: bool = False, reduced: bool = False, synthetic: bool = False) -> dict[str, Any]:
    ds = None if synthetic else catalog.find_dataset()
    syn_params = {"n_products": 5200, "n_queries": 120, "seed": 7}
    if ds is not None:
        inputs: Any = [_file_digest(ds.products), _file_digest(ds.queries), _file_digest(ds.labels)]
    else:
        inputs = ["synthetic", syn_params, registry.code_hash("search/synthetic")]
    h = cache.input_hash(
        "prepare",
        inputs,
        registry.code_hash("search/catalog"),
        [_file_digest(p) for p in sorted(paths.MIGRATIONS.glob("*.sql"))],
        _file_digest(paths.STORE_INDEX_SQL),
    )
    out = paths.CATALOG

    def done(prev: dict[str, Any]) -> bool:
        return all((out / f).exists() for f in ("catalog.sqlite", "catalog.sql", "source.json"))

    def run() -> dict[str, Any]:
        nonlocal ds
        if ds is None:
            log("no ../shared/datasets/esci_us_150q: generating the synthetic catalog")
            ds = search_synthetic.write(out / "synthetic", **syn_params)
        log(f"building the catalog from {ds.source} ({ds.products})")
        src = catalog.prepare(ds, out)
        log(f"{src['products']} products -> {out / 'catalog.sqlite'}, {out / 'catalog.sql'}")
        return {"source": src["source"], "products": src["products"], "sha256": src["sha256"]}

    return _run_cached("prepare", h, force, done, run)


# ---------------------------------------------------------------- train-light


def _light_code_hash() -> str:
    return registry.code_hash("search/features", "search/light", "search/catalog", "metrics")


def train_light(force: bool = False, reduced: bool = False) -> dict[str, Any]:
    src = catalog.read_source()
    ds = catalog.dataset_from_source()
    config = LightConfig()
    folds = 3 if reduced else 5
    h = cache.input_hash(
        "train-light",
        src["sha256"],
        _file_digest(ds.queries),
        _file_digest(ds.labels),
        _light_code_hash(),
        _file_digest(paths.CANDIDATES_SQL),
        config.to_dict(),
        folds,
    )

    def done(prev: dict[str, Any]) -> bool:
        return (registry.version_dir("light", prev["version"]) / "manifest.json").exists()

    def run() -> dict[str, Any]:
        version, metrics = train_and_register_light(config, folds, data_hash=src["sha256"])
        return {"version": version, "metrics": metrics}

    res = _run_cached("train-light", h, force, done, run)
    if registry.read_current().get("light") != res["version"]:
        registry.set_current_version("light", res["version"])
    return res


def train_and_register_light(
    config: LightConfig,
    folds: int,
    data_hash: str,
    catalog_dir: Path | None = None,
    registry_root: Path | None = None,
    progress: bool = True,
) -> tuple[str, dict[str, Any]]:
    """Grouped CV estimate, then a final fit on every query, ONNX export + parity check, registration."""
    data = LightData.load(catalog_dir, progress=progress)
    qids = list(data.lists)
    log(
        f"{len(qids)} judged queries, {sum(len(l.rows) for l in data.lists.values())} candidates "
        f"({data.skipped_products} judged products not in the catalog)"
    )
    per: dict[str, dict[str, list[float]]] = {k: {"full": [], "at10": []} for k in ("light", "bm25")}
    bm25_col = FEATURE_NAMES.index("bm25")
    for fold in tqdm(grouped_folds(qids, folds), desc=f"light {folds}-fold CV", unit="fold", disable=not progress):
        held = set(fold)
        scorer = fit([q for q in qids if q not in held], data, config)
        for q in fold:
            l = data.lists[q]
            for name, s in (("light", scorer.score_features(l.x)), ("bm25", l.x[:, bm25_col])):
                per[name]["full"].append(ndcg(s, l.gains))
                per[name]["at10"].append(ndcg(s, l.gains, 10))
    metrics: dict[str, Any] = {"cv_folds": folds, "queries": len(qids)}
    for name, d in per.items():
        for k, v in d.items():
            ci = bootstrap_ci(v)
            metrics[f"{name}_ndcg_{k}"] = {"mean": ci.mean, "lo": ci.lo, "hi": ci.hi}
    log(
        "grouped CV (held-out queries): light nDCG@10 {:.4f} vs BM25 {:.4f}; full pool {:.4f} vs {:.4f}".format(
            metrics["light_ndcg_at10"]["mean"],
            metrics["bm25_ndcg_at10"]["mean"],
            metrics["light_ndcg_full"]["mean"],
            metrics["bm25_ndcg_full"]["mean"],
        )
    )

    final = fit(qids, data, config)
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        export_onnx(final.model, tmp / "model.onnx", NUM_FEATURES)
        torch.save(final.model.state_dict(), tmp / "model.pt")
        allx = np.concatenate([l.x for l in data.lists.values()])
        parity_x = allx[np.linspace(0, len(allx) - 1, num=min(32, len(allx))).astype(int)]
        parity_y = torch_scores(final.model, parity_x)
        diff = max(
            onnx_parity(final.model, tmp / "model.onnx", allx), onnx_parity(final.model, tmp / "model.onnx", parity_x)
        )
        if diff > 1e-5:
            raise RuntimeError(f"onnxruntime vs PyTorch differ by {diff}")
        log(f"ONNX parity over {len(allx)} rows: max |ort - torch| = {diff:.2e}")
        (tmp / "parity.json").write_text(
            json.dumps(
                {
                    "inputs": [[float(v) for v in row] for row in parity_x],
                    "outputs": [float(v) for v in parity_y],
                }
            )
            + "\n"
        )
        metrics["onnx_max_abs_diff"] = diff
        version = registry.register(
            "light",
            tmp,
            {
                "metrics": metrics,
                "features": list(FEATURE_NAMES),
                "input": {"name": INPUT_NAME, "dtype": "float32", "shape": ["N", NUM_FEATURES]},
                "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": ["N"]},
                "opset": OPSET,
                "normalisation": "inside the graph (mean / inv_std buffers)",
                "train": {
                    "config": config.to_dict(),
                    "loss": "ListNet (softmax CE vs softmax(grade*T))",
                    "queries": len(qids),
                    "source": data.source.get("source"),
                },
            },
            data_hash=data_hash,
            code_hash=_light_code_hash(),
            registry=registry_root,
        )
    log(f"registered {version}")
    return version, metrics


# ---------------------------------------------------------------- heavy model + evaluation


def train_heavy(force: bool = False, reduced: bool = False) -> dict[str, Any]:
    src = catalog.read_source()
    h = cache.input_hash("train-heavy", src["sha256"], registry.code_hash("search/heavy"), reduced)

    def done(prev: dict[str, Any]) -> bool:
        v = prev.get("version")
        return bool(v) and (registry.version_dir("heavy", str(v)) / "manifest.json").exists()

    def run() -> dict[str, Any]:
        return {"version": heavy_train.pipeline_step(reduced=reduced, force=force)["version"]}

    res = _run_cached("train-heavy", h, force, done, run)
    if registry.read_current().get("heavy") != res["version"]:
        registry.set_current_version("heavy", res["version"])
    return res


def evaluate(force: bool = False, reduced: bool = False) -> dict[str, Any]:
    cur = registry.read_current()
    h = cache.input_hash(
        "evaluate",
        catalog.read_source()["sha256"],
        cur,
        registry.code_hash(
            "search/evaluate", "search/embedder", "search/light", "search/heavy", "search/features", "metrics"
        ),
        reduced,
    )

    def run() -> dict[str, Any]:
        return search_evaluate.pipeline_step(reduced=reduced, force=force)

    return _run_cached("evaluate", h, force, lambda prev: True, run)


# ---------------------------------------------------------------- export


def export(force: bool = False, reduced: bool = False) -> dict[str, Any]:
    res = export_edge()
    log(f"export: {res['models_js']} (light {res['light']}, heavy {res['heavy'] or '-'}), {res['seed_sql']}")
    recs_light = registry.read_current().get("recs-light")
    if recs_light and (registry.version_dir("recs-light", recs_light) / "tables.json").exists():
        # the production recs version's D1 tables (rewritten only when its version or their format changed)
        res = {**res, "d1": export_recs_sql(recs_light, log)}
    return res


# ---------------------------------------------------------------- recommendations (vitrine_gpu.recs)
# Full: the shared Online Retail file (else the seeded synthetic store). --reduced (npm test): always the seeded
# synthetic store (400 customers, 500 products) with recs.train.REDUCED (1 label window, 4 ranker epochs, a 1-layer
# d=32 sequence model trained 1 epoch).


def _recs_source() -> dict[str, Any]:
    p = paths.recs_dir() / "source.json"
    if not p.exists():
        raise FileNotFoundError(f"{p} missing: run the prepare-recs step first")
    return json.loads(p.read_text())


def prepare_recs(force: bool = False, reduced: bool = False, synthetic: bool = False) -> dict[str, Any]:
    synthetic_only = synthetic or reduced
    shared = None if synthetic_only else recs_data.default_transactions()
    inputs: Any = [_file_digest(shared)] if shared is not None else ["synthetic", recs_train.SYNTHETIC]
    h = cache.input_hash("prepare-recs", inputs, recs_train.code_hash())
    out = paths.recs_dir()

    def done(prev: dict[str, Any]) -> bool:
        return all((out / f).exists() for f in ("catalogue.json", "source.json")) and all(
            Path(f).exists() for f in prev.get("files", [])
        )

    def run() -> dict[str, Any]:
        if shared is None:
            log("recs: using the seeded synthetic store (Online Retail schema)")
        src = recs_train.prepare_recs(out, synthetic_only=synthetic_only)
        log(f"recs: {src['lines']} purchase lines, {src['products']} products, {src['customers']} customers")
        return src

    return _run_cached("prepare-recs", h, force, done, run)


def _train_recs(kind: str, force: bool, reduced: bool) -> dict[str, Any]:
    src = _recs_source()
    rc, qc, sc = recs_train.configs(reduced)
    configs = [rc.to_dict(), sc.to_dict()] + ([qc.to_dict()] if kind == "recs-heavy" else [])
    step = kind.replace("recs-", "train-recs-")
    h = cache.input_hash(step, src["sha256"], recs_train.code_hash(), configs)

    def done(prev: dict[str, Any]) -> bool:
        return (registry.version_dir(kind, prev["version"]) / "manifest.json").exists()

    def run() -> dict[str, Any]:
        recs_train.set_threads()
        files = [Path(f) for f in src["files"]]
        if kind == "recs-light":
            res = recs_train.train_recs_light(rc=rc, sc=sc, log=log, files=files)
        else:
            res = recs_train.train_recs_heavy(qc=qc, rc=rc, sc=sc, log=log, files=files)
        return {k: res[k] for k in ("version", "train_until", "seconds") if k in res}

    res = _run_cached(step, h, force, done, run)
    if registry.read_current().get(kind) != res["version"]:
        registry.set_current_version(kind, res["version"])
    return res


def train_recs_light(force: bool = False, reduced: bool = False) -> dict[str, Any]:
    res = _train_recs("recs-light", force, reduced)
    return {**res, "d1": export_recs_sql(res["version"], log)}


def train_recs_heavy(force: bool = False, reduced: bool = False) -> dict[str, Any]:
    return _train_recs("recs-heavy", force, reduced)


STEPS: dict[str, Callable[..., dict[str, Any]]] = {
    "prepare": prepare,
    "train-light": train_light,
    "train-heavy": train_heavy,
    "evaluate": evaluate,
    "export": export,
    "prepare-recs": prepare_recs,
    "train-recs-light": train_recs_light,
    "train-recs-heavy": train_recs_heavy,
}


def run_steps(
    step: str, *, reduced: bool = False, force: bool = False, synthetic: bool = False, skip_evaluate: bool = False
) -> dict[str, dict[str, Any]]:
    """``step`` (or every step in ORDER for "all"; without "evaluate" when ``skip_evaluate``); their results."""
    steps: tuple[str, ...] = ORDER if step == "all" else (step,)
    if skip_evaluate:
        steps = tuple(s for s in steps if s != "evaluate")
    results = {}
    for s in steps:
        log(f"== {s}")
        kwargs = {"force": force, "reduced": reduced}
        if s in ("prepare", "prepare-recs"):
            kwargs["synthetic"] = synthetic
        results[s] = STEPS[s](**kwargs)
    return results


# ---------------------------------------------------------------- one store's own recommendation models


def recs_store(
    store: str,
    *,
    db: Path | None = None,
    from_export: Path | None = None,
    force: bool = False,
    reduced: bool = False,
    load: bool = True,
) -> dict[str, Any]:
    """`pipeline recs --store <id>` (vitrine_gpu.recs.store_train): the store's catalogue and purchase history from
    D1 (the local wrangler state, ``db``, or a ``wrangler d1 export`` dump) → recs-light + recs-heavy trained on a
    time split and registered under the store → the version's rows loaded into the local D1 (not with a dump: the
    command for the remote database is printed) → edge/generated/models.js re-exported with the version bundled.
    Cached by the hash of the store's rows: unchanged data is not retrained (``force`` retrains)."""
    from ..recs import shipped_store, store_data, store_train

    export_, db_file = store_data.export_store(store, db=db, from_export=from_export)
    log(f"recs --store {store}: {json.dumps(export_.summary())}")
    rc, qc, sc = recs_train.configs(reduced)
    h = cache.input_hash(
        f"recs-{store}", export_.data_hash(), recs_train.code_hash(), rc.to_dict(), qc.to_dict(), sc.to_dict()
    )

    def done(prev: dict[str, Any]) -> bool:
        return (
            all(
                (registry.version_dir(k, prev.get(k.replace("-", "_"), "-")) / "manifest.json").exists()
                for k in ("recs-light", "recs-heavy")
            )
            and Path(prev.get("sql", "")).exists()
        )

    def run() -> dict[str, Any]:
        recs_train.set_threads()
        data = shipped_store.store_interactions(export_)
        return store_train.train_store(data, reduced=reduced, log=log)

    res = _run_cached(f"recs-{store}", h, force, done, run)
    version, sql = res["recs_light"], Path(res["sql"])
    if not load:
        res["d1"] = "not loaded (--no-load)"
    elif db_file is None:
        cmd = f"npx wrangler d1 execute {store_data.DATABASE} --remote --file {sql}"
        log(f"rows read from a dump: load the version's tables into the remote database with `{cmd}`")
        res["d1"] = {"remote_command": cmd}
    else:
        how = store_data.load_sql(sql, db_file, store, version, int(res["sql_items"]), log=log)
        log(f"loaded {version}'s tables for {store} into {db_file} ({how}); recs_current unchanged")
        res["d1"] = {"file": str(db_file), "loaded_with": how}
    exp = export_edge()
    if version not in exp["recs_bundled"]:
        raise RuntimeError(f"{version} is not among the bundled recs-light models {exp['recs_bundled']}")
    log(f"export: {exp['models_js']} bundles recs-light {', '.join(exp['recs_bundled'])}")
    res["export"] = {"models_js": exp["models_js"], "recs_bundled": exp["recs_bundled"]}
    return res
