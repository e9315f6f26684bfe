"""The release CLI's Python side: --from-dir validation, the offline gate's decisions, and the exit codes against a
recorded edge admin API + GPU-tier (a local HTTP server replaying the responses the contract specifies)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import replay_http
from safetensors.torch import load_file, save_file
from vitrine_gpu import cli, registry
from vitrine_gpu.release import run as release
from vitrine_gpu.release.gate import Pool, decide, heavy_scorer, run_gate
from vitrine_gpu.release.importer import ImportRefused, import_dir, validate_dir
from vitrine_gpu.release.traffic import LoadDriver

PRODUCTS = [
    {"id": f"P{i}", "title": t, "brand": b}
    for i, (t, b) in enumerate(
        [
            ("stainless steel water bottle", "Hydro"),
            ("leather belt brown", "Acme"),
            ("wireless earbuds", "Soundz"),
            ("kids water bottle straw", "Tiny"),
            ("cast iron skillet", "Forge"),
            ("running shoes", "Fleet"),
            ("phone case clear", "Shell"),
            ("desk lamp led", "Bright"),
        ]
    )
]
QUERIES = ["water bottle", "belt", "earbuds", "skillet", "shoes", "lamp"]


def copy_registry(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def flipped_head(src: Path, dst: Path) -> Path:
    """A copy of a heavy model whose score head has its sign flipped: it loads, but ranks every pool backwards."""
    shutil.copytree(src, dst)
    (dst / "manifest.json").unlink()
    w = load_file(dst / "model.safetensors")
    for name in list(w):
        if name in ("cos_scale", "bias") or name.startswith("mlp.2."):
            w[name] = -w[name]
    save_file(w, dst / "model.safetensors")
    return dst


def ideal_pools(version_dir: Path) -> list[Pool]:
    """Pools whose gains follow `version_dir`'s own ranking: that model scores nDCG@10 = 1 by construction."""
    score = heavy_scorer(version_dir)
    pools = []
    for i, q in enumerate(QUERIES):
        rows = PRODUCTS
        p = Pool(f"q{i}", q, rows, np.zeros((len(rows), 1), dtype=np.float32), np.zeros(len(rows)))
        order = np.argsort(-np.asarray(score(p)))
        gains = np.zeros(len(rows))
        gains[order[:3]] = [3.0, 2.0, 1.0]
        pools.append(Pool(p.qid, q, rows, p.x, gains))
    return pools


# -- import ----------------------------------------------------------------------------------------------------
def test_import_validates_files_hashes_and_configs(tiny_registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    reg = copy_registry(tiny_registry.path, tmp_path / "reg")
    src = tiny_registry.path / "heavy" / tiny_registry.other
    assert validate_dir("heavy", src)["version"] == tiny_registry.other

    missing = shutil.copytree(src, tmp_path / "missing")
    (missing / "model.safetensors").unlink()
    with pytest.raises(ImportRefused, match="lacks model.safetensors"):
        validate_dir("heavy", missing)

    garbage = shutil.copytree(src, tmp_path / "garbage")
    (garbage / "model.safetensors").write_bytes(b"\xde\xad" * 5000)
    with pytest.raises(ImportRefused, match="sha256 mismatch.*model.safetensors"):
        import_dir("heavy", garbage, reg)

    bad_config = shutil.copytree(src, tmp_path / "badconfig")
    (bad_config / "manifest.json").unlink()
    (bad_config / "heavy_config.json").write_text("{not json")
    with pytest.raises(ImportRefused, match="heavy_config.json is not valid JSON"):
        validate_dir("heavy", bad_config)
    with pytest.raises(ImportRefused, match="lacks model.onnx"):
        validate_dir("light", src)
    before = registry.read_current(reg)
    flipped = flipped_head(src, tmp_path / "flipped")
    version = import_dir("heavy", flipped, reg)
    assert version != tiny_registry.other and registry.verify("heavy", version, reg) == []
    assert registry.read_current(reg) == before  # registered, not selected
    assert registry.read_manifest("heavy", version, reg)["imported_from"] == str(flipped)


# -- gate decisions ----------------------------------------------------------------------------------------------
def test_load_searches_the_release_store(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Experiments are per store: --with-load searches the release's store (none named: the edge's default)."""
    asked: list[str] = []

    def urlopen(url: str, timeout: float) -> Any:
        asked.append(url)
        raise OSError("not connected")

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    LoadDriver("http://edge/", queries=["water bottle"], store="online-retail")._one(3)
    LoadDriver("http://edge/", queries=["water bottle"])._one(4)
    assert asked == [
        "http://edge/v1/search?q=water+bottle&user=release-load-3&store=online-retail",
        "http://edge/v1/search?q=water+bottle&user=release-load-4",
    ]


def test_decide_on_fixtures() -> None:
    rng = np.random.default_rng(0)
    prod = {f"q{i}": [float(v)] for i, v in enumerate(rng.uniform(0.4, 0.9, 60))}
    same = decide(prod, prod, 0.02)
    assert same["decision"] == "pass" and same["delta"]["mean"] == 0 and len(same["folds"]) == 5
    noisy = {q: [v[0] + float(rng.normal(0, 0.01))] for q, v in prod.items()}
    assert decide(noisy, prod, 0.02)["decision"] == "pass"
    worse = {q: [v[0] - 0.1] for q, v in prod.items()}
    out = decide(worse, prod, 0.02)
    assert out["decision"] == "refuse" and "worse by 0.1000" in out["reason"] and out["delta"]["hi"] < -0.02
    assert decide(worse, prod, 0.2)["decision"] == "pass"  # the margin is the knob
    # below the margin on average, but by noise (the CI spans 0): a retrain is not refused for that
    noisy_worse = {q: [v[0] - 0.03 + float(rng.normal(0, 0.3))] for q, v in prod.items()}
    out = decide(noisy_worse, prod, 0.02)
    assert out["delta"]["mean"] < -0.02 < out["delta"]["hi"] and out["decision"] == "pass"
    assert decide(prod, None, 0.02)["decision"] == "pass"
    assert decide({}, {}, 0.02)["decision"] == "refuse"


def test_gate_refuses_a_flipped_score_head_and_corrupt_weights(tiny_registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    reg = copy_registry(tiny_registry.path, tmp_path / "reg")
    prod = tiny_registry.current
    pools = ideal_pools(reg / "heavy" / prod)
    flipped = import_dir("heavy", flipped_head(reg / "heavy" / prod, tmp_path / "flipped"), reg)
    out = run_gate("heavy", flipped, prod, 0.02, registry_root=reg, pools=pools, log=lambda _m: None)
    assert out["decision"] == "refuse" and out["production"] == pytest.approx(1.0)
    assert out["candidate"] < 0.5 and "worse by" in out["reason"]

    retrained = tiny_registry.other
    ok = run_gate("heavy", prod, retrained, 1.0, registry_root=reg, pools=pools, log=lambda _m: None)
    assert ok["decision"] == "pass" and ok["delta"]["mean"] > 0

    corrupt_src = shutil.copytree(reg / "heavy" / retrained, tmp_path / "corrupt")
    (corrupt_src / "manifest.json").unlink()
    (corrupt_src / "model.safetensors").write_bytes(b"\x00garbage" * 4096)
    corrupt = import_dir("heavy", corrupt_src, reg)  # no manifest to check against: the gate must catch it
    bad = run_gate("heavy", corrupt, prod, 0.02, registry_root=reg, pools=pools, log=lambda _m: None)
    assert bad["decision"] == "refuse" and "cannot load" in bad["reason"]


# -- the CLI against a recorded API ------------------------------------------------------------------------------
class Recorded:
    """Replays the edge's release API and the GPU tier's /models/load as the contract specifies; records requests."""

    def __init__(self, final: str) -> None:
        self.final = final
        self.requests: list[tuple[str, str, Any]] = []
        self.ticks = 0
        self.metric_reads = 0

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        if method == "POST" and path == "/models/load":
            return 200, {
                "kind": body["kind"],
                "version": body["version"],
                "loadedMs": 12.5,
                "loaded": [body["version"]],
            }
        if method == "GET" and path == "/metrics":  # the new version's term-cache precompute: running, then ended
            self.metric_reads += 1
            version = next(b["version"] for m, p, b in self.requests if (m, p) == ("POST", "/models/load"))
            done, finished = (3, 0) if self.metric_reads == 1 else (8, 1)
            lines = [
                f'vitrine_gpu_term_cache_precompute_{k}{{model="{version}"}} {v}'
                for k, v in (("done", done), ("total", 8), ("finished", finished))
            ]
            return 200, "\n".join(["# TYPE vitrine_gpu_term_cache_precompute_done gauge", *lines]) + "\n"
        if method == "POST" and path == "/admin/releases":
            return 201, {"id": "rel_1", "status": body.get("status", "canary")}
        if method == "POST" and path == "/admin/releases/rel_1/tick":
            self.ticks += 1
            if self.ticks == 1:
                figures = {
                    "canary": {"requests": 3, "p99TotalMs": 80.0},
                    "baseline": {"requests": 5, "p99TotalMs": 70.0},
                }
                return 200, {"decision": "hold", "figures": figures, "status": "canary", "stepIndex": 0, "weight": 50}
            decision = "promoted" if self.final == "promoted" else "rollback"
            return 200, {"decision": decision, "figures": {}, "status": self.final, "stepIndex": 1, "weight": 100}
        if method == "GET" and path == "/admin/releases/rel_1":
            status = "canary" if self.ticks < 2 else self.final
            return 200, {"id": "rel_1", "status": status, "stepIndex": 0, "reason": "p99 total 900 ms > guardrail"}
        return 404, {"error": "not_found", "message": path}


@pytest.fixture
def recorded(request: pytest.FixtureRequest) -> Iterator[tuple[str, Recorded]]:
    rec = Recorded(getattr(request, "param", "promoted"))

    def check(path: str, headers: Mapping[str, str]) -> None:
        if path != "/metrics":  # /metrics is public on the gpu-tier
            assert headers.get("authorization") == "Bearer tok"

    with replay_http(rec.answer, check) as url:
        yield url, rec


def _cli_env(monkeypatch: pytest.MonkeyPatch, reg: Path, tmp_path: Path, pools: list[Pool]) -> None:
    monkeypatch.setenv("VITRINE_REGISTRY", str(reg))
    monkeypatch.setenv("VITRINE_ADMIN_TOKEN", "tok")
    monkeypatch.setattr("vitrine_gpu.release.gate.load_pools", lambda max_queries=0: pools)


@pytest.mark.parametrize("recorded", ["promoted", "rolled_back"], indirect=True)
def test_cli_exit_code_follows_the_canary(recorded, tiny_registry, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    url, rec = recorded
    reg = copy_registry(tiny_registry.path, tmp_path / "reg")
    _cli_env(monkeypatch, reg, tmp_path, ideal_pools(reg / "heavy" / tiny_registry.other))
    args = ["--kind", "heavy", "--version", tiny_registry.other, "--steps", "50,100", "--step-seconds", "1"]
    code = cli.main(["release", *args, "--yes", "--edge", url, "--gpu", url])
    created = next(b for m, p, b in rec.requests if (m, p) == ("POST", "/admin/releases"))
    assert created["version"] == tiny_registry.other and created["baselineVersion"] == tiny_registry.current
    assert created["steps"] == [50, 100] and created["gateReport"]["decision"] == "pass" and "status" not in created
    assert ("POST", "/models/load", {"kind": "heavy", "version": tiny_registry.other, "default": False}) in rec.requests
    # no traffic before the new version's term cache is warm: /metrics read until the precompute ended
    order = [(m, p) for m, p, _ in rec.requests]
    assert order.count(("GET", "/metrics")) == 2
    assert order.index(("POST", "/admin/releases")) > max(i for i, r in enumerate(order) if r == ("GET", "/metrics"))
    current = registry.read_current(reg)["heavy"]
    if recorded[1].final == "promoted":
        assert code == release.EXIT_PROMOTED and current == tiny_registry.other
    else:
        assert code == release.EXIT_ROLLED_BACK and current == tiny_registry.current


def test_cli_refuses_corrupt_weights_and_records_why(recorded, tiny_registry, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    url, rec = recorded
    reg = copy_registry(tiny_registry.path, tmp_path / "reg")
    _cli_env(monkeypatch, reg, tmp_path, ideal_pools(reg / "heavy" / tiny_registry.current))
    bad = shutil.copytree(reg / "heavy" / tiny_registry.current, tmp_path / "heavy-bad")
    (bad / "model.safetensors").write_bytes(torch.randn(1000).numpy().tobytes())
    code = cli.main(["release", "--kind", "heavy", "--from-dir", str(bad), "--yes", "--edge", url, "--gpu", url])
    assert code == release.EXIT_REFUSED
    (posted,) = [b for m, p, b in rec.requests if (m, p) == ("POST", "/admin/releases")]
    assert posted["status"] == "refused" and "sha256 mismatch" in posted["reason"]
    assert not any(p == "/models/load" for _, p, _ in rec.requests)  # never deployed
