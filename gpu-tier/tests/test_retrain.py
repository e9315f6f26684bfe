"""`retrain --store` (npm run retrain): a tiny synthetic store in a temp D1 file is retrained end to end — its rows
exported, recs-light + recs-heavy trained once (reduced), each gated against the store's production and canaried
through a recorded edge that keeps its releases (the contract's answers) — and the outcome recorded; a candidate the
gate refuses leaves production untouched and is recorded at the edge as refused (the edge's notice)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import replay_http
from test_recs_store import fake_light, store_db, untrained_version
from vitrine_gpu import cli, paths, registry
from vitrine_gpu.release import retrain
from vitrine_gpu.release import run as release
from vitrine_gpu.settings import REPO

STORE = "shop-r"


class Edge:
    """The edge's release API as the contract specifies: releases kept in memory (GET /admin/releases lists them,
    newest first); a canary is promoted at its first tick; /healthz bundles every registered recs-light version."""

    def __init__(self, reg: Path) -> None:
        self.reg = reg
        self.releases: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, Any]] = []

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        if (method, path) == ("GET", "/healthz"):
            return 200, {"models": {"light": registry.list_versions("recs-light", self.reg)}}
        if (method, path) == ("POST", "/admin/releases"):
            rid = f"rel_{len(self.releases) + 1}"
            status = body.get("status", "canary")
            self.releases.append({**body, "id": rid, "status": status, "createdAt": 10**13})
            return 201, {"id": rid, "status": status}
        if method == "GET" and path.startswith("/admin/releases?"):
            return 200, {"releases": list(reversed(self.releases))}
        for r in self.releases:
            if path == f"/admin/releases/{r['id']}/tick":
                r["status"] = "promoted"
                return 200, {"decision": "promoted", "figures": {}, "status": "promoted", "stepIndex": 0, "weight": 100}
            if path == f"/admin/releases/{r['id']}":
                return 200, r
        return 404, {"error": "not_found", "message": path}


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Edge, Path, Path]]:
    state, reg = tmp_path / "state", tmp_path / "state" / "registry"
    monkeypatch.setattr(paths, "STATE", state)
    monkeypatch.setattr(paths, "EDGE_GENERATED", tmp_path / "generated")
    monkeypatch.setenv("VITRINE_REGISTRY", str(reg))
    monkeypatch.setenv("VITRINE_ADMIN_TOKEN", "tok")
    cur = {"light": fake_light(reg, tmp_path), "recs-light": fake_light(reg, tmp_path, "recs-light")}
    (reg / "current.json").write_text(json.dumps(cur))
    db = store_db(tmp_path / "d1.sqlite", store=STORE)
    edge = Edge(reg)
    with replay_http(edge.answer) as url:
        yield url, edge, reg, db


def argv(url: str, db: Path) -> list[str]:
    return ["retrain", "--store", STORE, "--db", str(db), "--reduced", "--edge", url, "--gpu", "", "--steps", "100"]


def test_default_kinds_follow_the_store() -> None:
    assert retrain.default_kinds("esci") == ["light", "heavy"]
    assert retrain.default_kinds("online-retail") == retrain.default_kinds("my-shop") == ["recs-light", "recs-heavy"]
    with pytest.raises(SystemExit):
        cli.main(["retrain", "--store", "s", "--db", "x.sqlite", "--remote"])


def test_retrain_trains_gates_canaries_promotes_then_a_refusal_leaves_production(
    site: tuple[str, Edge, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, edge, reg, db = site
    # 1. a retrain of a store on live tables: both kinds trained once, gated, canaried, promoted
    assert cli.main([*argv(url, db), "--step-seconds", "1"]) == release.EXIT_PROMOTED
    created = [b for m, p, b in edge.requests if (m, p) == ("POST", "/admin/releases")]
    assert [b["kind"] for b in created] == ["recs-light", "recs-heavy"]
    assert all(b["store"] == STORE and b["startedBy"].startswith("retrain ") and "status" not in b for b in created)
    assert all(b["gateReport"]["decision"] == "pass" for b in created)
    light, heavy = (b["version"] for b in created)
    assert registry.read_stores(reg) == {STORE: {"recs-light": light, "recs-heavy": heavy}}
    (first,) = (reg / "retrains").glob(f"*-{STORE}.json")
    rec = json.loads(first.read_text())
    assert rec["outcome"] == "promoted" and [r["outcome"] for r in rec["results"]] == ["promoted", "promoted"]
    assert rec["results"][0]["productionBefore"] is None and rec["results"][0]["productionAfter"] == light
    assert rec["results"][0]["release"] == {
        "id": "rel_1",
        "status": "promoted",
        "gate": "pass",
        "gateReason": created[0]["gateReport"]["reason"],
        "reason": None,
    }
    first.unlink()

    # 2. the next retrain produces a worse ranker: the gate refuses, the refusal is recorded, production stays
    bad = untrained_version(reg, light, seed=11)
    monkeypatch.setattr(retrain, "train", lambda store, kinds, a: {"recs-light": bad})
    assert cli.main([*argv(url, db), "--kind", "recs-light"]) == release.EXIT_REFUSED
    refused = [b for m, p, b in edge.requests if (m, p) == ("POST", "/admin/releases")][-1]
    assert refused["status"] == "refused" and refused["version"] == bad and refused["baselineVersion"] == light
    assert refused["gateReport"]["decision"] == "refuse" and refused["startedBy"].startswith("retrain ")
    assert registry.read_stores(reg) == {STORE: {"recs-light": light, "recs-heavy": heavy}}  # untouched
    assert not any(p == f"/admin/releases/{edge.releases[-1]['id']}/tick" for _, p, _ in edge.requests)
    (second,) = (reg / "retrains").glob(f"*-{STORE}.json")
    rec = json.loads(second.read_text())
    assert rec["outcome"] == "refused" and rec["results"][0]["productionAfter"] == light
    assert rec["results"][0]["release"]["status"] == "refused" and rec["results"][0]["release"]["gate"] == "refuse"


def recording_runner() -> tuple[list[list[str]], Any]:
    """A subprocess.run stand-in that records each command and succeeds."""
    calls: list[list[str]] = []

    class Done:
        returncode, stdout, stderr = 0, "", ""

    def runner(cmd: list[str], **_kw: Any) -> Done:
        calls.append(cmd)
        return Done()

    return calls, runner


def test_remote_export_runs_wrangler_on_the_store_tables(tmp_path: Path) -> None:
    calls, runner = recording_runner()
    out = retrain.export_remote(STORE, tmp_path, runner=runner)
    (cmd,) = calls
    assert cmd[cmd.index("d1") :][:4] == ["d1", "export", "vitrine", "--remote"]
    assert [cmd[i + 1] for i, x in enumerate(cmd) if x == "--table"] == ["stores", "products", "recs_history"]
    assert cmd[-1] == str(out) and out.parent == tmp_path and out.name.startswith(f"{STORE}-")


def test_remote_export_of_a_sharded_store_adds_each_shard_products(tmp_path: Path) -> None:
    calls, runner = recording_runner()
    conf = tmp_path / "wrangler.toml"
    conf.write_text(
        (REPO / "wrangler.toml")
        .read_text(encoding="utf-8")
        .replace("[vars]", f'[vars]\nCATALOG_SHARDED_STORES = "x, {STORE}"', 1)
    )
    assert retrain.catalog_shards(conf) == ({"x", STORE}, ["vitrine-catalog-1", "vitrine-catalog-2"])
    out = retrain.export_remote(STORE, tmp_path / "exports", runner=runner, config=conf)
    assert [c[c.index("export") + 1] for c in calls] == ["vitrine", "vitrine-catalog-1", "vitrine-catalog-2"]
    for n, c in enumerate(calls[1:], 1):
        assert [c[i + 1] for i, x in enumerate(c) if x == "--table"] == ["products"]
        assert c[-1] == str(out.with_name(f"{out.stem}.shard{n}.sql"))
    calls.clear()
    retrain.export_remote("not-sharded", tmp_path / "exports", runner=runner, config=conf)
    assert len(calls) == 1


def test_the_scheduled_job_reads_its_tokens_from_secrets_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    moto = pytest.importorskip("moto")
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    with moto.mock_aws():
        import boto3

        arn = boto3.client("secretsmanager").create_secret(
            Name="vitrine-retrain",
            SecretString=json.dumps({"VITRINE_ADMIN_TOKEN": "from-secret", "CLOUDFLARE_API_TOKEN": "cf"}),
        )["ARN"]
        env = {"VITRINE_SECRETS_ARN": arn, "CLOUDFLARE_API_TOKEN": "already-set"}
        assert retrain.load_secrets(env) == ["VITRINE_ADMIN_TOKEN"]
        assert env["VITRINE_ADMIN_TOKEN"] == "from-secret" and env["CLOUDFLARE_API_TOKEN"] == "already-set"
    assert retrain.load_secrets({}) == []
