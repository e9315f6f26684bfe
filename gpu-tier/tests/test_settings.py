"""The gpu-tier settings object: defaults, VITRINE_* environment, CLI flags over both, and the paths it derives."""

from __future__ import annotations

from pathlib import Path

import pytest
from vitrine_gpu import cli, registry
from vitrine_gpu.settings import DEFAULT_BATCH, REPO, Settings


def parse_args(argv: list[str]) -> Settings:
    """The settings `python -m vitrine_gpu server ARGV` runs with."""
    return cli.server_settings(cli.parse_args(["server", *argv]))


ENV = (
    "VITRINE_STATE",
    "VITRINE_REGISTRY",
    "VITRINE_SHARED",
    "VITRINE_PORT",
    "SAGEMAKER_BIND_TO_PORT",
    "VITRINE_MODEL_DIR",
    "VITRINE_DEVICE",
    "VITRINE_MAX_BATCH_SIZE",
    "VITRINE_MAX_DELAY_MS",
    "VITRINE_MAX_MODELS",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    s = parse_args([])
    assert (s.host, s.port, s.device, s.model_dir) == ("127.0.0.1", 8080, "auto", None)
    assert (s.max_delay_ms, s.max_models, s.max_batch_size) == (5.0, 3, None)
    assert s.state == REPO / ".vitrine" and s.registry == REPO / ".vitrine" / "registry"
    assert s.batch_size_for("cuda:0") == DEFAULT_BATCH["cuda"] and s.batch_size_for("cpu") == DEFAULT_BATCH["cpu"]


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SAGEMAKER_BIND_TO_PORT", "9001")
    monkeypatch.setenv("VITRINE_MAX_DELAY_MS", "3")
    monkeypatch.setenv("VITRINE_MAX_BATCH_SIZE", "0")  # 0 = the device default
    monkeypatch.setenv("VITRINE_MODEL_DIR", "")  # empty = unset
    s = parse_args([])
    assert (s.port, s.max_delay_ms, s.max_batch_size, s.model_dir) == (9001, 3.0, None, None)
    monkeypatch.setenv("VITRINE_PORT", "9002")  # VITRINE_PORT wins over SageMaker's variable
    assert parse_args([]).port == 9002
    s = parse_args(["--port", "9003", "--max-delay-ms", "1", "--registry", str(tmp_path), "--access-log"])
    assert (s.port, s.max_delay_ms, s.registry, s.access_log) == (9003, 1.0, tmp_path, True)


def test_registry_follows_state_and_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VITRINE_STATE", str(tmp_path / "state"))
    assert registry.registry_dir() == tmp_path / "state" / "registry"
    monkeypatch.setenv("VITRINE_REGISTRY", str(tmp_path / "reg"))
    assert registry.registry_dir() == tmp_path / "reg"
    assert Settings(registry=tmp_path / "x").registry == tmp_path / "x"
