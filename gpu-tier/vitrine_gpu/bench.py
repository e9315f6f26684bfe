"""GPU-tier throughput/latency benchmark (`npm run bench:gpu` → scripts/bench-gpu.sh → `python -m vitrine_gpu.bench`).

Starts the real server (`python -m vitrine_gpu.server`) with the registry's current heavy model on a free loopback
port — or targets a running one with --url — and drives it with closed-loop clients: for each concurrency level
(default 1, 16, 64) every client sends requests of --pairs (50) query/product pairs back to back for --seconds, taken
from the catalog (ESCI queries with their judged products, topped up with other catalog products). Prints the device,
the model version, pairs/s, p50/p99 latency per request and the server-side mean batch size for each level.

Each level is bounded: no new request starts after --seconds and the in-flight ones finish, up to
--max-level-seconds; requests still running then are abandoned, left out of the figures and counted as "cut"
(on a slow CPU one round of 64 clients × 50 pairs may not fit).
If the registry holds no heavy model yet, the bench scores with the untrained all-MiniLM-L6-v2 cross-encoder
(same architecture and cost) written to a temp registry, and says so.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from . import paths

DOC_FIELDS = ("id", "title", "brand", "color", "bullets", "description")


# -- workload ---------------------------------------------------------------------------------------------------------
@dataclass
class Workload:
    source: str
    queries: list[tuple[str, list[str]]]  # (query text, judged product ids)
    products: dict[str, dict[str, str]]


def _read_csv_gz(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def load_workload() -> Workload:
    """Products from .vitrine/catalog/catalog.sqlite (else the ESCI jsonl in place); queries and their judged
    products from the dataset (ESCI in ../shared, else the pipeline's synthetic files)."""
    products: dict[str, dict[str, str]] = {}
    db = paths.CATALOG / "catalog.sqlite"
    source = ""
    if db.is_file():
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            for row in con.execute(f"SELECT {', '.join(DOC_FIELDS)} FROM products"):
                products[row[0]] = {k: (v or "") for k, v in zip(DOC_FIELDS, row)}
            source = str(db)
        finally:
            con.close()
    qdir: Path | None = paths.esci_dir()
    if qdir is None and (paths.CATALOG / "synthetic" / "queries.csv.gz").is_file():
        qdir = paths.CATALOG / "synthetic"
    if not products and qdir is not None and (qdir / "products.jsonl.gz").is_file():
        from .catalog import read_products_jsonl

        for r in read_products_jsonl(qdir / "products.jsonl.gz"):
            products[r["id"]] = {k: str(r.get(k) or "") for k in DOC_FIELDS}
        source = str(qdir / "products.jsonl.gz")
    if not products:
        raise SystemExit("bench: no catalog found — run `npm run pipeline` (or the pipeline's prepare step) first")
    queries: list[tuple[str, list[str]]] = []
    if qdir is not None:
        judged: dict[str, list[str]] = {}
        for row in _read_csv_gz(qdir / "labels.csv.gz"):
            if row["product_id"] in products:
                judged.setdefault(row["query_id"], []).append(row["product_id"])
        for row in _read_csv_gz(qdir / "queries.csv.gz"):
            queries.append((row["query"], judged.get(row["query_id"], [])))
    if not queries:  # a catalog without query files: product-title prefixes as queries
        for p in list(products.values())[:200]:
            queries.append((" ".join(p["title"].split()[:3]) or "product", [p["id"]]))
    return Workload(source, queries, products)


def build_requests(w: Workload, pairs: int, n: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    ids = list(w.products)
    bodies = []
    for i in range(n):
        query, judged = w.queries[i % len(w.queries)]
        chosen = list(dict.fromkeys(judged))[:pairs]
        while len(chosen) < pairs:
            pid = rng.choice(ids)
            if pid not in chosen:
                chosen.append(pid)
        rng.shuffle(chosen)
        docs = [{k: v for k, v in w.products[pid].items() if v or k in ("id", "title")} for pid in chosen]
        bodies.append(json.dumps({"query": query[:500], "documents": docs}).encode())
    return bodies


# -- server process ---------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _has_heavy(registry: Path) -> bool:
    from .server.model_store import list_heavy_versions, read_current_heavy

    return bool(read_current_heavy(registry) or list_heavy_versions(registry))


def pretrained_registry() -> Path:
    """A temp registry holding the untrained pretrained MiniLM cross-encoder (fallback when none was trained)."""
    from .heavy import build_heavy, save_heavy

    reg = Path(tempfile.mkdtemp(prefix="vitrine-bench-registry-"))
    version = "heavy-untrained-minilm"
    model, tokenizer, arch = build_heavy(pretrained=True)
    vdir = save_heavy(model, tokenizer, reg / "heavy" / version, {"trained": False}, arch)
    (vdir / "manifest.json").write_text(
        json.dumps(
            {"version": version, "kind": "heavy", "files": {}, "backbone": "all-MiniLM-L6-v2", "untrained": True}
        )
    )
    (reg / "current.json").write_text(json.dumps({"heavy": version}))
    return reg


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], str, str, Path | None]:
    registry = Path(args.registry) if args.registry else paths.REGISTRY
    note, scratch = "", None
    if not _has_heavy(registry):
        note = " (no heavy model in the registry: untrained all-MiniLM-L6-v2 cross-encoder, same cost)"
        registry = scratch = pretrained_registry()
    port = _free_port()
    env = dict(
        os.environ,
        VITRINE_REGISTRY=str(registry),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONPATH=str(paths.REPO / "gpu-tier") + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    cmd = [
        sys.executable,
        "-m",
        "vitrine_gpu.server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        args.device,
        "--log-level",
        "warning",
    ]
    if args.max_batch_size:
        cmd += ["--max-batch-size", str(args.max_batch_size)]
    if args.max_delay_ms is not None:
        cmd += ["--max-delay-ms", str(args.max_delay_ms)]
    proc = subprocess.Popen(cmd, env=env)
    return proc, f"http://127.0.0.1:{port}", note, scratch


async def wait_ready(client: httpx.AsyncClient, proc: subprocess.Popen[bytes] | None, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"bench: server exited with code {proc.returncode}")
        try:
            r = await client.get("/ping")
            if r.status_code == 200:
                return dict(r.json())
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: server not ready after {timeout:.0f}s")
        await asyncio.sleep(0.2)


# -- load -------------------------------------------------------------------------------------------------------------
async def scrape_batches(client: httpx.AsyncClient) -> tuple[float, float]:
    """(score_batch calls, pairs) summed over models from /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    calls = pairs = 0.0
    text = (await client.get("/metrics")).text
    for fam in text_string_to_metric_families(text):
        if fam.name == "vitrine_gpu_batch_size_pairs":
            for s in fam.samples:
                if s.name.endswith("_count"):
                    calls += s.value
                elif s.name.endswith("_sum"):
                    pairs += s.value
    return calls, pairs


@dataclass
class LevelResult:
    concurrency: int
    requests: int
    errors: int
    pairs: int
    wall_s: float
    latencies_ms: list[float]
    mean_batch: float
    cut: int = 0  # requests still in flight at the hard limit (not in the figures)

    @property
    def pairs_per_s(self) -> float:
        return self.pairs / self.wall_s if self.wall_s > 0 else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]


async def run_level(
    client: httpx.AsyncClient, bodies: list[bytes], concurrency: int, seconds: float, pairs: int, hard_limit_s: float
) -> LevelResult:
    calls0, pairs0 = await scrape_batches(client)
    latencies: list[float] = []
    errors = 0
    counter = 0
    start = time.perf_counter()
    stop_at = start + seconds
    headers = {"Content-Type": "application/json", "Accept": "application/json"}

    async def worker() -> None:
        nonlocal errors, counter
        while time.perf_counter() < stop_at:
            body = bodies[counter % len(bodies)]
            counter += 1
            t = time.perf_counter()
            try:
                r = await client.post("/invocations", content=body, headers=headers)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append((time.perf_counter() - t) * 1000)
            else:
                errors += 1

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    done, pending = await asyncio.wait(workers, timeout=hard_limit_s)
    for t in pending:  # past the hard limit: in-flight requests are abandoned and reported as cut
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    wall = time.perf_counter() - start
    calls1, pairs1 = await scrape_batches(client)
    mean_batch = (pairs1 - pairs0) / (calls1 - calls0) if calls1 > calls0 else float("nan")
    return LevelResult(
        concurrency,
        len(latencies) + errors,
        errors,
        len(latencies) * pairs,
        wall,
        latencies,
        mean_batch,
        cut=len(pending),
    )


async def wait_idle(client: httpx.AsyncClient, timeout: float) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = (await client.get("/metrics")).text
        pending = sum(
            s.value
            for f in text_string_to_metric_families(text)
            if f.name == "vitrine_gpu_queue_pending_pairs"
            for s in f.samples
        )
        if pending == 0:
            await asyncio.sleep(0.5)  # the batch already running
            return
        await asyncio.sleep(0.2)


async def bench(args: argparse.Namespace) -> int:
    workload = load_workload()
    bodies = build_requests(workload, args.pairs, n=max(256, max(args.levels) * 4))
    proc, note, scratch = None, "", None
    url = args.url
    if url is None:
        proc, url, note, scratch = start_server(args)
    limits = httpx.Limits(max_connections=max(args.levels) + 4, max_keepalive_connections=max(args.levels) + 4)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=args.request_timeout, limits=limits) as client:
            ping = await wait_ready(client, proc, args.startup_timeout)
            device = ping.get("device", "?")
            gpu = device.startswith("cuda")
            seconds = args.seconds if args.seconds is not None else (10.0 if gpu else 3.0)
            hard = args.max_level_seconds if args.max_level_seconds is not None else (60.0 if gpu else 20.0)
            print(f"vitrine GPU-tier bench: {url}")
            print(f"device: {device}   model: {ping.get('default') or ','.join(ping.get('models', []))}{note}")
            print(
                f"workload: {len(workload.queries)} queries / {len(workload.products)} products from "
                f"{workload.source}; {args.pairs} pairs per request; {seconds:g} s per level (+ in-flight drain, cut at {hard:g} s)"
            )
            for body in bodies[: args.warmup]:  # warm-up: lazy init, allocator, first-batch paths
                (
                    await client.post("/invocations", content=body, headers={"Content-Type": "application/json"})
                ).raise_for_status()
            print(
                f"{'clients':>7} {'requests':>8} {'errors':>6} {'pairs/s':>9} {'p50 ms':>9} {'p99 ms':>9} "
                f"{'batch':>6} {'wall s':>7} {'cut':>4}"
            )
            for c in args.levels:
                r = await run_level(client, bodies, c, seconds, args.pairs, hard)
                print(
                    f"{c:>7} {r.requests:>8} {r.errors:>6} {r.pairs_per_s:>9.1f} {r.pct(50):>9.1f} "
                    f"{r.pct(99):>9.1f} {r.mean_batch:>6.1f} {r.wall_s:>7.2f} {r.cut:>4}",
                    flush=True,
                )
                if r.cut:  # let the server finish the abandoned work before the next level starts
                    await wait_idle(client, args.startup_timeout)
                if r.latencies_ms and args.verbose:
                    print(f"        mean {statistics.fmean(r.latencies_ms):.1f} ms, max {max(r.latencies_ms):.1f} ms")
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m vitrine_gpu.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--url", help="benchmark a running server instead of starting one")
    p.add_argument("--registry", help="registry for the started server (default: VITRINE_REGISTRY / .vitrine/registry)")
    p.add_argument("--device", default="auto", help="device for the started server (auto | cpu | cuda)")
    p.add_argument(
        "--levels",
        type=lambda s: [int(x) for x in s.split(",") if x],
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
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    if not args.levels or min(args.levels) < 1 or not 1 <= args.pairs <= 256:
        p.error("levels must be >= 1 and pairs in 1..256")
    return args


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(bench(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
