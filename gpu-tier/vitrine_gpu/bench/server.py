"""GPU-tier throughput/latency benchmark (`npm run bench:gpu` → scripts/bench-gpu.sh → `python -m vitrine_gpu bench server`).

Starts the real server (`python -m vitrine_gpu server`) with the registry's current heavy model on a free loopback
port — or targets a running one with --url — and drives it with closed-loop clients: for each concurrency level
(default 1, 16, 64) every client sends requests of --pairs (50) query/product pairs back to back for --seconds, taken
from the catalog (ESCI queries with their judged products, topped up with other catalog products). Prints the device,
the model version, pairs/s, p50/p99 latency per request, the server-side mean batch size and the term cache's hit
ratio for each level. Measures after the server's catalogue precompute of the term cache has ended (warm cache).

``--peer``: also starts the same heavy model behind TorchServe (``vitrine_gpu.peer``: fp32, full network per pair,
TorchServe's dynamic batching) and drives it with the same requests, levels and durations after vitrine's levels
(one server loaded at a time: they share the cores). Prints one table, the roofline (FLOPs per pair from the model
config, achieved FLOP/s, the peak — the best of timed matmul runs taken before and after the levels in this same run,
on CPU an int8 one for vitrine's int8 Linear layers beside the fp32 one for the peer — and MFU, never above 100 %: a
level that would exceed its peak says the peak measurement is suspect) and ``vitrine/peer pairs/s at <top>
concurrent: R (p99 vitrine X ms, peer Y ms)``.

Each level is bounded: no new request starts after --seconds and the in-flight ones finish, up to
--max-level-seconds; requests still running then are abandoned, left out of the figures and counted as "cut"
(on a slow CPU one round of 64 clients × 50 pairs may not fit).
If the registry holds no heavy model yet, the bench scores with the untrained all-MiniLM-L6-v2 cross-encoder
(same architecture and cost) written to a temp registry, and says so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from .. import paths
from ..peer.torchserve import start_torchserve, stop
from ..settings import Settings
from .flops import PeakRuns, matmul_peak, measure_into, mfu_text
from .workload import build_requests, has_heavy, load_workload, model_flops, pretrained_registry


# -- server process ---------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], str, str, Path | None]:
    registry = Path(args.registry) if args.registry else paths.REGISTRY
    note, scratch = "", None
    if not has_heavy(registry):
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
        "vitrine_gpu",
        "server",
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
    client: httpx.AsyncClient,
    bodies: list[bytes],
    concurrency: int,
    seconds: float,
    pairs: int,
    hard_limit_s: float,
    path: str = "/invocations",
    metrics: bool = True,
) -> LevelResult:
    calls0, pairs0 = await scrape_batches(client) if metrics else (0.0, 0.0)
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
                r = await client.post(path, content=body, headers=headers)
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
    calls1, pairs1 = await scrape_batches(client) if metrics else (0.0, 0.0)
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


async def scrape_gauges(client: httpx.AsyncClient, prefix: str) -> dict[str, float]:
    """Label-less samples whose name starts with ``prefix`` (summed over labels) from /metrics."""
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families((await client.get("/metrics")).text):
        for s in fam.samples:
            if s.name.startswith(prefix):
                out[s.name] = out.get(s.name, 0.0) + s.value
    return out


async def wait_precompute(client: httpx.AsyncClient, timeout: float) -> dict[str, float]:
    """Wait (≤ timeout) until the server's catalogue precompute of the term cache has ended; its gauges."""
    deadline = time.monotonic() + timeout
    while True:
        g = await scrape_gauges(client, "vitrine_gpu_term_cache_")
        total = g.get("vitrine_gpu_term_cache_precompute_total", 0.0)
        finished = g.get("vitrine_gpu_term_cache_precompute_finished", 0.0)
        if total == 0 or finished >= 1 or time.monotonic() > deadline:
            return g
        await asyncio.sleep(1.0)


def _model_dir(registry: Path, version: str) -> Path | None:
    d = registry / "heavy" / version
    return d if (d / "heavy_config.json").is_file() else None


async def bench(args: argparse.Namespace) -> int:
    workload = load_workload()
    bodies = build_requests(workload, args.pairs, n=max(256, max(args.levels) * 4))
    proc, note, scratch = None, "", None
    peer_proc, peer_url, peer_dir = None, None, None
    url = args.url
    registry = Path(args.registry) if args.registry else paths.REGISTRY
    if url is None:
        proc, url, note, scratch = start_server(args)
        registry = scratch or registry
    limits = httpx.Limits(max_connections=max(args.levels) + 4, max_keepalive_connections=max(args.levels) + 4)
    rows: list[tuple[str, LevelResult, str]] = []
    hit_ratio: dict[int, float] = {}  # vitrine's term cache hit ratio per level
    out_lines: list[str] = []
    peak_runs: PeakRuns | None = None
    int8_runs: PeakRuns | None = None

    def say(line: str = "") -> None:
        print(line, flush=True)
        out_lines.append(line)

    try:
        async with httpx.AsyncClient(base_url=url, timeout=args.request_timeout, limits=limits) as client:
            ping = await wait_ready(client, proc, args.startup_timeout)
            device = ping.get("device", "?")
            version = str(ping.get("default") or "")
            gpu = device.startswith("cuda")
            model_dir = _model_dir(registry, version)
            if args.peer:
                if model_dir is None:
                    raise SystemExit("bench: --peer needs the served model's directory (not available with --url)")
                peer_dir = Path(tempfile.mkdtemp(prefix="vitrine-bench-torchserve-"))
                peer_proc, peer_url = start_torchserve(model_dir.resolve(), peer_dir, device)
            seconds = args.seconds if args.seconds is not None else (10.0 if gpu else 3.0)
            hard = args.max_level_seconds if args.max_level_seconds is not None else (60.0 if gpu else 20.0)
            say(f"vitrine GPU-tier bench: {url}")
            say(f"device: {device}   model: {version or ','.join(ping.get('models', []))}{note}")
            say(
                f"workload: {len(workload.queries)} queries / {len(workload.products)} products from "
                f"{workload.source}; {args.pairs} pairs per request; {seconds:g} s per level (+ in-flight drain, "
                f"cut at {hard:g} s)"
            )
            g = await wait_precompute(client, args.precompute_timeout)
            say(
                f"term cache: {g.get('vitrine_gpu_term_cache_entries', 0):.0f} products, "
                f"{g.get('vitrine_gpu_term_cache_bytes', 0) / 2**20:.1f} MiB after the catalogue precompute "
                f"({g.get('vitrine_gpu_term_cache_precompute_done', 0):.0f}/"
                f"{g.get('vitrine_gpu_term_cache_precompute_total', 0):.0f})"
            )
            if peer_url is not None and peer_proc is not None:  # both loaded before anything is measured
                async with httpx.AsyncClient(timeout=args.request_timeout) as peer:
                    await wait_peer(peer, peer_url, peer_proc, bodies[0], args.startup_timeout)
            for body in bodies[: args.warmup]:  # warm-up: lazy init, allocator, first-batch paths
                (
                    await client.post("/invocations", content=body, headers={"Content-Type": "application/json"})
                ).raise_for_status()
            # the roofline's peaks: timed matmuls here, before the levels and again after them (best of all); on CPU
            # vitrine's int8 Linear layers get an int8 peak, the fp32 peer the fp32 one
            peak_runs = measure_into(matmul_peak(device), device)
            if not gpu and args.url is None and Settings().cpu_int8:
                int8_runs = measure_into(matmul_peak(device, int8=True), device)
            for c in args.levels:
                h0 = await scrape_gauges(client, "vitrine_gpu_term_cache_")
                r = await run_level(client, bodies, c, seconds, args.pairs, hard)
                h1 = await scrape_gauges(client, "vitrine_gpu_term_cache_")
                hits = h1.get("vitrine_gpu_term_cache_hits", 0) - h0.get("vitrine_gpu_term_cache_hits", 0)
                miss = h1.get("vitrine_gpu_term_cache_misses", 0) - h0.get("vitrine_gpu_term_cache_misses", 0)
                rows.append(("vitrine", r, f"{100 * hits / (hits + miss):.0f}%" if hits + miss else "-"))
                hit_ratio[c] = hits / (hits + miss) if hits + miss else 0.0
                if r.cut:  # let the server finish the abandoned work before the next level starts
                    await wait_idle(client, args.startup_timeout)
        if peer_url is not None and peer_proc is not None:
            async with httpx.AsyncClient(timeout=args.request_timeout, limits=limits) as peer:
                await wait_peer(peer, peer_url, peer_proc, bodies[0], args.startup_timeout)
                for body in bodies[: args.warmup]:
                    (await peer.post(peer_url, content=body, headers={"Content-Type": "application/json"}))
                for c in args.levels:
                    r = await run_level(peer, bodies, c, seconds, args.pairs, hard, path=peer_url, metrics=False)
                    rows.append(("torchserve", r, "-"))
                    if r.cut:
                        await asyncio.sleep(min(hard, 30.0))
        say()
        say(
            f"{'server':<10} {'clients':>7} {'requests':>8} {'errors':>6} {'pairs/s':>9} {'p50 ms':>9} {'p99 ms':>9} "
            f"{'batch':>6} {'cache':>5} {'wall s':>7} {'cut':>4}"
        )
        for name, r, hit in rows:
            say(
                f"{name:<10} {r.concurrency:>7} {r.requests:>8} {r.errors:>6} {r.pairs_per_s:>9.1f} {r.pct(50):>9.1f} "
                f"{r.pct(99):>9.1f} {r.mean_batch:>6.1f} {hit:>5} {r.wall_s:>7.2f} {r.cut:>4}"
            )
            if r.latencies_ms and args.verbose:
                say(f"        mean {statistics.fmean(r.latencies_ms):.1f} ms, max {max(r.latencies_ms):.1f} ms")
        if model_dir is not None:
            say()
            fl = model_flops(model_dir, workload, args.pairs)
            for runs in (peak_runs, int8_runs):
                if runs is not None:
                    measure_into(runs, device)
            say(
                f"roofline: {fl.doc_tokens:.1f} product / {fl.query_tokens:.1f} query tokens on average; "
                f"FLOPs per pair {fl.full / 1e9:.3f} G full network, {fl.cached / 1e9:.3f} G with the term cache"
            )
            say(peak_runs.describe() if peak_runs is not None else f"peak: not measured for {device}")
            if int8_runs is not None:
                say(f"{int8_runs.describe()} — vitrine's rows (int8 Linear layers); the fp32 peak is the peer's")
            for name, r, _ in rows:
                # vitrine: a miss also runs the product trunk, so the FLOPs follow the level's hit ratio
                per_pair = (
                    fl.full - hit_ratio.get(r.concurrency, 0.0) * (fl.full - fl.cached)
                    if name == "vitrine"
                    else fl.full
                )
                achieved = r.pairs_per_s * per_pair
                runs = int8_runs if name == "vitrine" and int8_runs is not None else peak_runs
                mfu = mfu_text(achieved, runs.best if runs is not None else None)
                say(
                    f"  {name:<10} {r.concurrency:>3} clients: {achieved / 1e9:9.1f} GFLOP/s achieved "
                    f"({per_pair / 1e9:.3f} GFLOP/pair), {mfu}"
                )
        top = max(args.levels)
        ours = next((r for n, r, _ in rows if n == "vitrine" and r.concurrency == top), None)
        theirs = next((r for n, r, _ in rows if n != "vitrine" and r.concurrency == top), None)
        if ours is not None and theirs is not None:
            say()
            if theirs.pairs_per_s > 0:
                ratio = f"{ours.pairs_per_s / theirs.pairs_per_s:.2f}"
                p99 = f"{theirs.pct(99):.0f} ms"
            else:  # the peer finished no request before the level's hard cap
                ratio, p99 = "> any (peer completed 0 requests)", f"> {theirs.wall_s * 1000:.0f} ms"
            say(f"vitrine/peer pairs/s at {top} concurrent: {ratio} (p99 vitrine {ours.pct(99):.0f} ms, peer {p99})")
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if peer_proc is not None:
            stop(peer_proc)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        if peer_dir is not None:
            shutil.rmtree(peer_dir, ignore_errors=True)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text("\n".join(out_lines) + "\n")
    return 0


async def wait_peer(
    client: httpx.AsyncClient, url: str, proc: subprocess.Popen[bytes], body: bytes, timeout: float
) -> None:
    """Until the peer answers a scoring request (TorchServe's JVM + worker start take a while)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"bench: the peer server exited with code {proc.returncode}")
        try:
            r = await client.post(url, content=body, headers={"Content-Type": "application/json"})
            if r.status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: the peer server not ready after {timeout:.0f}s")
        await asyncio.sleep(1.0)


def run(args: argparse.Namespace) -> int:
    """``bench server`` (its arguments: cli.py)."""
    return asyncio.run(bench(args))
