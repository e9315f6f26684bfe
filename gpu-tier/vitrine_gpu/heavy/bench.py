"""CPU/GPU scoring benchmark of a heavy model directory: latency of one 50-pair request (one query, 50 products from
the judged pools when available), fp32 vs dynamic int8 on CPU, plus the int8 ranking agreement with fp32.

    PYTHONPATH=gpu-tier .vitrine/venv/bin/python -m vitrine_gpu.heavy.bench [MODEL_DIR] [--device cpu] [--reps 5]

MODEL_DIR defaults to the registry's current heavy version. Prints JSON; no assertions (figures only)."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from .model import load_heavy


def _pairs(n: int = 50) -> list[tuple[str, dict[str, Any]]]:
    try:
        from .data import load_dataset, product_as_doc

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
            import numpy as np

            r = np.argsort(np.argsort(-np.asarray(ref)))
            r2 = np.argsort(np.argsort(-np.asarray(scores)))
            out[name]["spearman_vs_fp32"] = float(np.corrcoef(r, r2)[0, 1])
            out[name]["max_abs_diff"] = float(np.max(np.abs(np.asarray(ref) - np.asarray(scores))))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir", nargs="?")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args(argv)
    d = Path(a.model_dir) if a.model_dir else None
    if d is None:
        from .. import registry

        d = registry.version_dir("heavy", registry.read_current()["heavy"])
    print(json.dumps(bench(d, a.device, a.reps, a.threads), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
