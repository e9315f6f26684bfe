"""`npm run release -- rollback`: the CLI asks the edge (a loopback server answering as POST /admin/releases/rollback
does, CONTRACTS.md C6) and, once the edge rolled back, makes the restored version production locally (current.json,
the GPU tier's default); an edge refusal (409) changes nothing and exits 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import replay_http
from test_release import copy_registry
from vitrine_gpu import cli, registry


class Edge:
    def __init__(self, status: int, answer: dict[str, Any]) -> None:
        self.status, self.out = status, answer
        self.requests: list[tuple[str, str, Any]] = []

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        if (method, path) == ("POST", "/admin/releases/rollback"):
            return self.status, self.out
        if (method, path) == ("POST", "/models/load"):
            return 200, {"loaded": body["version"]}
        return 404, {"error": "not_found", "message": path}


def _env(monkeypatch: pytest.MonkeyPatch, reg: Path) -> None:
    monkeypatch.setenv("VITRINE_REGISTRY", str(reg))
    monkeypatch.setenv("VITRINE_ADMIN_TOKEN", "tok")


def test_rollback_restores_the_previous_heavy_version(tiny_registry, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    reg = copy_registry(tiny_registry.path, tmp_path / "reg")
    registry.set_current_version("heavy", tiny_registry.other, reg)  # the promoted version
    _env(monkeypatch, reg)
    edge = Edge(
        201,
        {
            "id": "rel-9",
            "status": "promoted",
            "from": tiny_registry.other,
            "to": tiny_registry.current,
            "reason": "rollback of rel-8: p99 doubled",
        },
    )
    with replay_http(edge.answer) as url:
        args = ["release", "rollback", "--store", "esci", "--surface", "search", "--kind", "heavy"]
        code = cli.main([*args, "--reason", "p99 doubled", "--edge", url, "--gpu", url])
    assert code == 0
    body = next(b for m, p, b in edge.requests if p == "/admin/releases/rollback")
    assert {k: body[k] for k in ("store", "kind", "surface", "reason")} == {
        "store": "esci",
        "kind": "heavy",
        "surface": "search",
        "reason": "p99 doubled",
    }
    assert body["startedBy"].startswith("release-cli ")
    assert registry.read_current(reg)["heavy"] == tiny_registry.current
    assert (
        "POST",
        "/models/load",
        {"kind": "heavy", "version": tiny_registry.current, "default": True},
    ) in edge.requests


def test_rollback_refused_by_the_edge_changes_nothing(tiny_registry, tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    reg = copy_registry(tiny_registry.path, tmp_path / "reg")
    _env(monkeypatch, reg)
    before = registry.read_current(reg)
    edge = Edge(409, {"error": "no_previous_version", "message": "no heavy release has been promoted"})
    with replay_http(edge.answer) as url:
        code = cli.main(["release", "rollback", "--kind", "heavy", "--edge", url, "--gpu", url])
    assert code == 1
    assert "REFUSED (no_previous_version): no heavy release has been promoted" in capsys.readouterr().out
    assert registry.read_current(reg) == before
    assert [p for _, p, _ in edge.requests] == ["/admin/releases/rollback"]


def test_rollback_surface_must_match_the_kind(tiny_registry, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    reg = copy_registry(tiny_registry.path, tmp_path / "reg")
    _env(monkeypatch, reg)
    edge = Edge(201, {})
    with replay_http(edge.answer) as url:
        code = cli.main(["release", "rollback", "--kind", "recs-heavy", "--surface", "search", "--edge", url])
    assert code == 3
    assert edge.requests == []
