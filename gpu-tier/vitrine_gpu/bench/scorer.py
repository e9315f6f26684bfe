"""CPU/GPU scoring benchmark of a heavy model directory: latency of one 50-pair request (one query, 50 products from
the judged pools when available), fp32 vs dynamic int8 on CPU, plus the int8 ranking agreement with fp32.

    python -m vitrine_gpu bench scorer [MODEL_DIR] [--device cpu] [--reps 5]

MODEL_DIR defaults to the registry's current heavy version. Prints JSON; no assertions (figures only).

``--serving``: the serving path instead (what ``load_for_serving`` builds: int8 on CPU, bf16 + shape buckets +
torch.compile on CUDA, term cache): warms the term cache with ``--products`` catalogue products, then times
``--batch``-pair score_batch calls (each pair's product from the warm cache, one query per 50 pairs) for
``--seconds``: median/p99 latency per call, pairs/s, FLOPs per pair (``flops``), achieved FLOP/s and MFU
against the peak (the best of timed matmul runs before and after the calls: CPU fp32 2048², GPU bf16 8192²; MFU never
above 100 %)."""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import paths, registry
from ..search.heavy.data import load_dataset, product_as_doc
from ..search.heavy.model import format_document, load_heavy
from ..search.heavy.serving import catalog_products, fit_cpu_threads, load_for_serving
from ..search.heavy.term_cache import TermCache, edge_doc
from .flops import matmul_peak, measure_into, mfu_pct, mfu_text
from .workload import load_workload, model_flops


def _pairs(n: int = 50) -> list[tuple[str, dict[str, Any]]]:
    try:
        ds = load_dataset()
        pool = max(ds.pools.values(), key=lambda p: len(p.product_ids))
        docs = [product_as_doc(ds.products[pid]) for pid in pool.product_ids]
        docs = (docs * (n // max(1, len(docs)) + 1))[:n]
        return [(pool.query, d) for d in docs]
    except FileNotFoundError:
        return [
            (
                "red running shoes",
                {
                    "title": f"Running shoe model {i}",
                    "brand": "Brand",
                    "color": "red",
                    "bullets": "breathable mesh upper " * 10,
                },
            )
            for i in range(n)
        ]


def bench(model_dir: Path, device: str = "cpu", reps: int = 5, threads: int | None = None) -> dict[str, Any]:
    if threads:
        torch.set_num_threads(threads)
    pairs = _pairs()
    out: dict[str, Any] = {"pairs": len(pairs), "device": device, "threads": torch.get_num_threads()}
    variants = [("fp32", False)] + ([("int8", True)] if device == "cpu" else [])
    ref: list[float] | None = None
    for name, q in variants:
        s = load_heavy(model_dir, device, quantize=q)
        s.warmup()
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            scores = s.score_batch(pairs)
            times.append(time.perf_counter() - t)
        med = statistics.median(times)
        out[name] = {"median_ms": round(med * 1000, 1), "pairs_per_s": round(len(pairs) / med, 1)}
        if ref is None:
            ref = scores
        else:
            r = np.argsort(np.argsort(-np.asarray(ref)))
            r2 = np.argsort(np.argsort(-np.asarray(scores)))
            out[name]["spearman_vs_fp32"] = float(np.corrcoef(r, r2)[0, 1])
            out[name]["max_abs_diff"] = float(np.max(np.abs(np.asarray(ref) - np.asarray(scores))))
    return out


def bench_serving(
    model_dir: Path, device: str, batch: int, seconds: float, products: int, compile_cuda: bool = True
) -> dict[str, Any]:
    if device.startswith("cpu"):
        fit_cpu_threads()
    cache = TermCache(8 * 2**30 if device.startswith("cuda") else 1 * 2**30)
    t0 = time.perf_counter()
    scorer = load_for_serving(
        model_dir, device, batch_size=max(64, batch), term_cache=cache, compile_cuda=compile_cuda, catalog_db=None
    )
    load_s = time.perf_counter() - t0
    w = load_workload()
    catalog = catalog_products(paths.CATALOG / "catalog.sqlite", products)
    if not catalog:
        rows = list(w.products.values()) if products < 0 else list(w.products.values())[:products]
        catalog = [(p["id"], format_document(edge_doc(p))) for p in rows]
    t0 = time.perf_counter()
    scorer.precompute(catalog)
    pre_s = time.perf_counter() - t0
    rng = random.Random(5)
    ids = [pid for pid, _ in catalog]
    docs = {pid: edge_doc(w.products[pid]) for pid in ids if pid in w.products}
    ids = [pid for pid in ids if pid in docs]
    calls: list[list[tuple[str, dict[str, Any]]]] = []
    for i in range(64):
        pairs = []
        for j in range(batch):
            q = w.queries[(i * batch + j) // 50 % len(w.queries)][0]
            pairs.append((q, docs[rng.choice(ids)]))
        calls.append(pairs)
    for c in calls[:3]:
        scorer.score_batch(c)
    dev = str(scorer.device)
    # the peak of what the scorer runs (int8 Linear layers when quantized on CPU), again after the timed calls
    peak_runs = measure_into(matmul_peak(dev, int8=bool(scorer.quantized)), dev)
    times: list[float] = []
    end = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < end or len(times) < 5:
        t = time.perf_counter()
        scorer.score_batch(calls[i % len(calls)])
        if scorer.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
        i += 1
    times.sort()
    med = statistics.median(times)
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    pairs_s = batch * len(times) / sum(times)
    fl = model_flops(model_dir, w, 50)
    peak = measure_into(peak_runs, dev).best
    achieved = pairs_s * fl.cached
    st = cache.stats()
    return {
        "device": str(scorer.device),
        "quantized_int8": scorer.quantized,
        "threads": torch.get_num_threads(),
        "load_s": round(load_s, 1),
        "precompute": {"products": len(catalog), "seconds": round(pre_s, 1), "mib": round(st.bytes / 2**20, 1)},
        "batch_pairs": batch,
        "calls": len(times),
        "median_ms": round(med * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "pairs_per_s": round(pairs_s, 1),
        "flops_per_pair_cached_G": round(fl.cached / 1e9, 4),
        "flops_per_pair_full_G": round(fl.full / 1e9, 4),
        "achieved_GFLOP_s": round(achieved / 1e9, 1),
        "peak_GFLOP_s": round(peak / 1e9, 1) if peak else None,
        "peak": peak_runs.describe(),
        "mfu_pct": mfu_pct(achieved, peak),
        "mfu": mfu_text(achieved, peak),
        "cache_hit_ratio": round(st.hit_ratio, 3),
    }


def run(a: argparse.Namespace) -> int:
    """``bench scorer`` (its arguments: cli.py)."""
    d = Path(a.model_dir) if a.model_dir else None
    if d is None:
        d = registry.version_dir("heavy", registry.read_current()["heavy"])
    if a.serving:
        out = bench_serving(d, a.device, a.batch, a.seconds, a.products, compile_cuda=not a.no_compile)
    else:
        out = bench(d, a.device, a.reps, a.threads)
    print(json.dumps(out, indent=1))
    return 0
