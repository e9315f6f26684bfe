"""Shared fixtures for gpu-tier tests (generic: any test file may use them).

- `anyio_backend`: async tests use `@pytest.mark.anyio` (anyio's pytest plugin; runs on asyncio).
- `tiny_heavy_dir`: a randomly initialised tiny heavy model directory written by `save_tiny_heavy` (session-wide).
- `make_registry(versions, current=...)`: a temp registry laid out as in CONTRACTS.md C3 with the given heavy
  versions (each a tiny model with its own seed) and current.json.
- `tiny_registry`: a ready registry with two heavy versions (`.current` in current.json and `.other`).
- `free_port()`, `subprocess_env(**extra)`: for tests that start real processes.
- `pairs_for(query, n)`, `wait_until(cond, what)`: batcher requests and a polling wait (test_batcher, test_admission).
- `replay_http(answer, check)`: a local HTTP server replaying recorded JSON answers (the release CLI's tests).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

GPU_TIER = Path(__file__).resolve().parents[1]
if str(GPU_TIER) not in sys.path:
    sys.path.insert(0, str(GPU_TIER))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

HELPER_GUARD_S = 20.0  # wait_until's hang guard

TINY_CURRENT = "heavy-20250101000000-0000000a"
TINY_OTHER = "heavy-20250102000000-0000000b"


@dataclass(frozen=True)
class TinyRegistry:
    path: Path
    current: str
    other: str


def pairs_for(query: str, n: int, prefix: str = "d") -> list[tuple[str, dict[str, Any]]]:
    """``n`` (query, document) pairs for a batcher request; documents ``<prefix>0..``."""
    return [(query, {"id": f"{prefix}{i}", "title": f"{query} product {i}"}) for i in range(n)]


async def wait_until(cond: Callable[[], bool], what: str) -> None:
    """Polls ``cond`` every 5 ms; fails after HELPER_GUARD_S (a hang guard, not a timing assertion)."""
    for _ in range(int(HELPER_GUARD_S / 0.005)):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_heavy_version(registry: Path, version: str, seed: int) -> Path:
    """A tiny random heavy model saved with ``heavy.save_tiny_heavy`` (the real save path), plus its CONTRACTS.md C3 manifest."""
    from vitrine_gpu.search.heavy.model import save_tiny_heavy

    vdir = registry / "heavy" / version
    save_tiny_heavy(vdir, seed=seed)
    files = {p.name: _sha256(p) for p in sorted(vdir.iterdir()) if p.is_file()}
    manifest = {
        "version": version,
        "kind": "heavy",
        "created": "2025-01-01T00:00:00Z",
        "data_hash": "test",
        "code_hash": "test",
        "metrics": {},
        "files": files,
        "backbone": "tiny-random-bert",
        "weights": {"source": "random init (tests)", "license": "n/a"},
    }
    (vdir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return vdir


@pytest.fixture(scope="session")
def make_registry(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    def make(versions: Iterable[str], current: str | None = None) -> Path:
        reg = tmp_path_factory.mktemp("registry")
        versions = list(versions)
        for seed, v in enumerate(versions):
            write_heavy_version(reg, v, seed=seed)
        cur = current if current is not None else (versions[0] if versions else None)
        if cur is not None:
            (reg / "current.json").write_text(json.dumps({"light": "light-test", "heavy": cur}))
        return reg

    return make


@pytest.fixture(scope="session")
def tiny_registry(make_registry: Callable[..., Path]) -> TinyRegistry:
    return TinyRegistry(make_registry([TINY_CURRENT, TINY_OTHER], current=TINY_CURRENT), TINY_CURRENT, TINY_OTHER)


@pytest.fixture(scope="session")
def tiny_heavy_dir(tiny_registry: TinyRegistry) -> Path:
    return tiny_registry.path / "heavy" / tiny_registry.current


@contextmanager
def replay_http(
    answer: Callable[[str, str, Any], tuple[int, Any]], check: Callable[[str, Mapping[str, str]], None] | None = None
) -> Iterator[str]:
    """A loopback HTTP server: each GET/POST is answered by ``answer(method, path, JSON body or None)`` → (status, a
    JSON value, or a string sent as text/plain); ``check(path, headers)`` (names lower-cased) runs on each. Yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def _do(self) -> None:
            n = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(n)) if n else None
            status, out = answer(self.command, self.path, body)
            if check is not None:
                check(self.path, {k.lower(): v for k, v in self.headers.items()})
            data = out.encode() if isinstance(out, str) else json.dumps(out).encode()
            self.send_response(status)
            self.send_header("content-type", "text/plain" if isinstance(out, str) else "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _do  # noqa: N815

        def log_message(self, *_a: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def free_port() -> Callable[[], int]:
    return _free_port


@pytest.fixture
def subprocess_env() -> Callable[..., dict[str, str]]:
    def env(**extra: str) -> dict[str, str]:
        e = dict(os.environ)
        e["PYTHONPATH"] = str(GPU_TIER) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
        e.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
        e.update(extra)
        return e

    return env


TINY_RECS_CURRENT = "recs-heavy-20250101000000-0000000c"
TINY_RECS_OTHER = "recs-heavy-20250102000000-0000000d"
TINY_RECS_ITEMS = [f"{20000 + k}" for k in range(40)]


def write_recs_version(registry: Path, version: str, seed: int) -> Path:
    """A tiny randomly initialised SeqRec saved with ``SeqRecModel.save`` (the real format), plus its manifest."""
    import torch
    from vitrine_gpu.recs.sequence import SeqConfig, SeqRec, SeqRecModel, Vocab

    vdir = registry / "recs-heavy" / version
    cfg = SeqConfig(d=16, heads=2, layers=1, max_len=12, max_tokens=3, seed=seed)
    tokens = ["bag", "cup", "heart", "lunch", "red"]
    vocab = Vocab(TINY_RECS_ITEMS, [[tokens[k % 5], tokens[(k + 2) % 5]] for k in range(len(TINY_RECS_ITEMS))], tokens)
    torch.manual_seed(seed)
    net = SeqRec(len(vocab.codes), len(vocab.tokens), vocab.token_matrix(cfg.max_tokens), cfg)
    SeqRecModel(net, vocab, cfg).save(vdir)
    files = {p.name: _sha256(p) for p in sorted(vdir.iterdir()) if p.is_file()}
    manifest = {"version": version, "kind": "recs-heavy", "created": "2025-01-01T00:00:00Z", "files": files}
    (vdir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return vdir


@dataclass(frozen=True)
class RecsRegistry:
    path: Path
    heavy: str
    current: str
    other: str


@pytest.fixture(scope="session")
def recs_registry(tmp_path_factory: pytest.TempPathFactory) -> RecsRegistry:
    """A registry with one search heavy version and two recs-heavy versions (current.json names the first)."""
    reg = tmp_path_factory.mktemp("recs-registry")
    write_heavy_version(reg, TINY_CURRENT, seed=0)
    write_recs_version(reg, TINY_RECS_CURRENT, seed=1)
    write_recs_version(reg, TINY_RECS_OTHER, seed=2)
    (reg / "current.json").write_text(json.dumps({"heavy": TINY_CURRENT, "recs-heavy": TINY_RECS_CURRENT}))
    return RecsRegistry(reg, TINY_CURRENT, TINY_RECS_CURRENT, TINY_RECS_OTHER)
