"""How the GPU tier loads a heavy version for serving (the model store's load hook).

``load_for_serving``: CPU threads fitted to the cores the process may use, dynamic int8 on CPU (``cpu_int8``; the
ranking-agreement test holds it to fp32 within nDCG 0.002), the shared product term cache, torch.compile on CUDA, a
warm-up, then the catalogue's product term representations precomputed in a background thread (progress in the log
and in /metrics; bounded by ``precompute_limit`` products and ``precompute_seconds``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

import torch

from .model import HeavyScorer, format_document, load_heavy
from .term_cache import PrecomputeProgress, TermCache, edge_doc

log = logging.getLogger("vitrine_gpu.search.heavy.serving")

CATALOG_FIELDS = ("id", "title", "brand", "color", "bullets", "description")
_threads_set = False


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def fit_cpu_threads(threads: int = 0) -> int:
    """One intra-op thread per usable core (or ``threads``), one inter-op thread (the server runs one batch at a
    time); returns the intra-op count."""
    global _threads_set
    n = threads or usable_cores()
    torch.set_num_threads(n)
    if not _threads_set:
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set, or parallel work already started in this process
            pass
        _threads_set = True
    return n


def catalog_products(db: Path, limit: int = -1) -> list[tuple[str, str]]:
    """(product id, formatted product text) from the pipeline's catalog.sqlite ([] when absent); ``limit`` < 0 =
    all. The text is what ``format_document`` makes of the fields the edge sends (clipped like its toHeavyDoc)."""
    if not db.is_file():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        sql = f"SELECT {', '.join(CATALOG_FIELDS)} FROM products ORDER BY rowid"
        if limit >= 0:
            sql += f" LIMIT {int(limit)}"
        rows = con.execute(sql).fetchall()
    except sqlite3.Error as exc:
        log.warning("term cache: cannot read products from %s: %s", db, exc)
        return []
    finally:
        con.close()
    docs = [edge_doc({k: v or "" for k, v in zip(CATALOG_FIELDS, r)}) for r in rows]
    return [(d["id"], format_document(d)) for d in docs]


def start_precompute(
    scorer: HeavyScorer, products: list[tuple[str, str]], seconds: float, chunk: int = 256
) -> threading.Thread | None:
    """Precompute the term representations of ``products`` in a daemon thread (stops after ``seconds``)."""
    cache = scorer.term_cache
    if cache is None or not products:
        return None
    progress = PrecomputeProgress(scorer.version, total=len(products))
    cache.progress[scorer.version] = progress

    def run() -> None:
        try:  # idle priority (Linux: per thread, inherited by its torch worker threads): requests go first
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):
            pass
        t0 = time.perf_counter()
        step = chunk
        report_every = max(chunk, len(products) // 10)
        try:
            for start in range(0, len(products), step):
                if cache.stopping.is_set():
                    break
                if time.perf_counter() - t0 > seconds:
                    log.warning(
                        "term cache %s: precompute stopped after %.0f s at %d/%d products",
                        scorer.version,
                        seconds,
                        progress.done,
                        progress.total,
                    )
                    break
                part = PrecomputeProgress(scorer.version, total=step)
                scorer.precompute(products[start : start + step], part, chunk=chunk)
                progress.done = min(len(products), start + step)
                progress.seconds = time.perf_counter() - t0
                st = cache.stats()
                if progress.done % report_every < step or progress.done == progress.total:
                    log.info(
                        "term cache %s: precomputed %d/%d products in %.1f s (%d entries, %.1f MiB)",
                        scorer.version,
                        progress.done,
                        progress.total,
                        progress.seconds,
                        st.entries,
                        st.bytes / 2**20,
                    )
                if part.budget_full:
                    log.warning("term cache %s: budget full, precompute stopped", scorer.version)
                    break
        except Exception as exc:  # noqa: BLE001 - serving works without the precompute
            progress.error = f"{type(exc).__name__}: {exc}"
            log.exception("term cache %s: precompute failed", scorer.version)
        finally:
            progress.finished = True
            progress.seconds = time.perf_counter() - t0

    thread = threading.Thread(target=run, name=f"term-cache-{scorer.version}", daemon=True)
    cache.track(thread)
    thread.start()
    return thread


def load_for_serving(
    version_dir: Path,
    device: str,
    *,
    batch_size: int,
    term_cache: TermCache | None,
    cpu_int8: bool = True,
    threads: int = 0,
    compile_cuda: bool = True,
    catalog_db: Path | None = None,
    precompute_limit: int = -1,
    precompute_seconds: float = 900.0,
) -> HeavyScorer:
    on_cpu = torch.device(device).type == "cpu"
    if on_cpu:
        log.info("cpu: %d intra-op threads, int8=%s", fit_cpu_threads(threads), cpu_int8)
    scorer = load_heavy(
        version_dir,
        device,
        batch_size=batch_size,
        quantize=cpu_int8 if on_cpu else False,
        term_cache=term_cache,
        compile_cuda=compile_cuda and not on_cpu,
    )
    scorer.warmup()
    if scorer.term_cache is not None and catalog_db is not None and precompute_limit != 0:
        products = catalog_products(catalog_db, precompute_limit)
        log.info("term cache %s: precomputing %d catalogue products in the background", scorer.version, len(products))
        start_precompute(scorer, products, precompute_seconds)
    return scorer


__all__ = ["catalog_products", "fit_cpu_threads", "load_for_serving", "start_precompute", "usable_cores"]
