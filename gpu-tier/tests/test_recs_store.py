"""Per-store recommendation models (`pipeline recs --store`, `release --store … --kind recs-*`): a synthetic store in
a temp SQLite with the repo's migrations applied → its D1 rows read back → recs-light + recs-heavy trained on a time
split and registered under the store (current.json untouched) → the version's tables loaded into that database →
models.js bundling it; the `wrangler d1 export` dump path (a real local dump); the size floor; and the recs gate
refusing an untrained ranker while passing the trained one, with its figures."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import replay_http
from vitrine_gpu import cli, paths, registry
from vitrine_gpu.pipeline import steps
from vitrine_gpu.recs import store_data, store_train, synthetic
from vitrine_gpu.recs.features import NUM_FEATURES
from vitrine_gpu.recs.ranker import RankerConfig, save_ranker
from vitrine_gpu.recs.sources import SourceConfig
from vitrine_gpu.release import run as release
from vitrine_gpu.release.recs_gate import GateData, run_recs_gate
from vitrine_gpu.search.catalog import migration_statements
from vitrine_gpu.search.light.model import LightMLP
from vitrine_gpu.settings import REPO

STORE = "shop-a"
CARTS = [("12346", "20000A", 0, 15050.5, 0), ("cart-only-user", "20007", 0, 15051.25, 0)]


def store_db(path: Path, store: str = STORE, n_customers: int = 60, days: int = 100, seed: int = 3) -> Path:
    """A temp SQLite with the migrations applied and a synthetic store (plus two add-to-cart rows)."""
    products, history = synthetic.store_rows(n_customers=n_customers, n_products=200, days=days, seed=seed)
    conn = sqlite3.connect(path)
    for s in migration_statements():
        conn.execute(s)
    for s in synthetic.store_sql(store, "Shop A", products, history + [c for c in CARTS if store == STORE]):
        conn.executescript(s)
    conn.commit()
    conn.close()
    return path


def fake_light(reg: Path, tmp: Path, kind: str = "light") -> str:
    """A registered (search or shipped recs) light version holding what the export reads."""
    src = tmp / f"{kind}-src"
    src.mkdir()
    (src / "model.onnx").write_bytes(kind.encode())
    (src / "parity.json").write_text(json.dumps({"inputs": [], "outputs": []}))
    meta: dict[str, Any] = {"features": ["bm25"], "input": {"name": "features"}, "output": {"name": "score"}}
    if kind == "recs-light":
        (src / "tables.json").write_text(json.dumps({"now": 15000.0}))
        meta["sources"] = SourceConfig().to_dict()
    return registry.register(kind, src, meta, registry=reg)


@dataclass
class Trained:
    state: Path
    reg: Path
    db: Path
    generated: Path
    res: dict[str, Any]
    shipped: dict[str, str]


def _isolate(monkeypatch: pytest.MonkeyPatch, state: Path, generated: Path) -> Path:
    reg = state / "registry"
    monkeypatch.setattr(paths, "STATE", state)
    monkeypatch.setattr(paths, "EDGE_GENERATED", generated)
    monkeypatch.setenv("VITRINE_REGISTRY", str(reg))
    return reg


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("store")
    reg = _isolate(mp, tmp / "state", tmp / "generated")
    cur = {"light": fake_light(reg, tmp), "recs-light": fake_light(reg, tmp, "recs-light"), "recs-heavy": "rh-shipped"}
    (reg / "current.json").write_text(json.dumps(cur))
    db = store_db(tmp / "d1.sqlite")
    res = steps.recs_store(STORE, db=db, reduced=True)
    yield Trained(tmp / "state", reg, db, tmp / "generated", res, cur)
    mp.undo()


def rows(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def test_d1_round_trip_registers_loads_and_bundles_the_store_version(
    trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    res, reg = trained.res, trained.reg
    light, heavy = res["recs_light"], res["recs_heavy"]
    # registered under the store, never selected: the shipped defaults (search, online-retail recs) stay
    assert registry.read_current(reg) == trained.shipped and not (reg / registry.STORES_FILE).exists()
    man = registry.read_manifest("recs-light", light, reg)
    assert (man["store"], man["source"]) == (STORE, "d1") and registry.verify("recs-light", light, reg) == []
    assert man["holdout"]["days"] == 30 and man["train_until"] < man["holdout"]["from"] <= man["holdout"]["to"]
    assert man["data"]["cart_rows"] == 2 and man["data"]["customers"] == 60
    hman = registry.read_manifest("recs-heavy", heavy, reg)
    assert (hman["store"], hman["light_version"], hman["train_until"]) == (STORE, light, man["train_until"])
    assert registry.store_versions("recs-light", STORE, reg) == [light]

    # tables.json (fitted on everything) gives back D1's purchase rows exactly, keyed by the store's user ids
    tables = json.loads((registry.version_dir("recs-light", light, reg) / "tables.json").read_text())
    d1 = rows(
        trained.db, "SELECT user_id, item_id, n, last_day, qty FROM recs_history WHERE store = ? AND n > 0", STORE
    )
    got = sorted((u, i, n, last, q) for u, hist in tables["history"].items() for i, n, last, q in hist)
    assert got == sorted(d1) and "cart-only-user" not in tables["history"]

    # loaded into the same database: the version's rows, recs_current and the live history untouched
    assert res["d1"] == {"file": str(trained.db), "loaded_with": "sqlite"}
    n_items = rows(
        trained.db, "SELECT count(*) FROM recs_item_stats WHERE store = ? AND model_version = ?", STORE, light
    )
    n_products = rows(trained.db, "SELECT count(*) FROM products WHERE store = ?", STORE)[0][0]
    assert n_items[0][0] == len(tables["items"]) == res["sql_items"] == n_products > 0
    users = {
        r[0] for r in rows(trained.db, "SELECT key FROM recs_vectors WHERE model_version = ? AND kind = 'user'", light)
    }
    assert users == set(tables["user_vectors"]) and users <= {r[0] for r in d1}
    assert rows(trained.db, "SELECT count(*) FROM recs_neighbours WHERE model_version = ?", light)[0][0] > 0
    assert rows(trained.db, "SELECT * FROM recs_current WHERE store = ?", STORE) == []
    assert rows(trained.db, "SELECT count(*) FROM recs_history WHERE store = ? AND n = 0", STORE)[0][0] == 2

    # the worker bundle: the store's version beside the shipped default (which stays the default)
    js = (trained.generated / "models.js").read_text()
    shipped = trained.shipped["recs-light"]
    assert f'"{light}": {{' in js and f'DEFAULT_RECS_LIGHT_MODEL = "{shipped}"' in js
    assert res["export"]["recs_bundled"] == [shipped, light]

    # unchanged rows: skipped (the step cache), same versions
    monkeypatch.setattr(paths, "STATE", trained.state)
    monkeypatch.setattr(paths, "EDGE_GENERATED", trained.generated)
    monkeypatch.setenv("VITRINE_REGISTRY", str(reg))
    again = steps.recs_store(STORE, db=trained.db, reduced=True)
    assert (again["recs_light"], again["recs_heavy"]) == (light, heavy)


def test_the_reconstructed_log_keeps_what_d1_knows(trained: Trained) -> None:
    exp, _ = store_data.export_store(STORE, db=trained.db)
    data = store_data.to_interactions(exp)
    assert len(data.inter) == sum(r[2] for r in exp.purchases()) and data.imputed > 0
    buys = {(r[0], r[1]): r for r in exp.purchases()}
    for (u, i), (_, _, n, last, q) in list(buys.items())[:200]:
        m = (data.inter.customer == data.users.index(u)) & (data.inter.item == data.inter.catalogue.index()[i])
        assert m.sum() == n and data.inter.ts[m].max() == last and data.inter.qty[m].sum() == q
    split = store_train.split_of(data)
    assert split.end - split.cut == 30 and split.returning >= store_train.MIN_RETURNING


def test_a_store_below_the_floor_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = store_db(tmp_path / "tiny.sqlite", store="tiny", n_customers=12, days=40)
    code = cli.main(["pipeline", "recs", "--store", "tiny", "--db", str(db), "--reduced"])
    err = capsys.readouterr().err
    assert code == 1 and "not ready for a trained recommendation model" in err
    assert "purchases <" in err and "customers with a purchase < 50" in err and "days of purchases" in err
    code = cli.main(["pipeline", "recs", "--store", "nope", "--db", str(db)])
    assert code == 1 and "no store 'nope'" in capsys.readouterr().err


def untrained_version(reg: Path, good: str, seed: int = 123) -> str:
    """The deliberately worse model: the trained version's files with an untrained ranker (random weights)."""
    gdir = registry.version_dir("recs-light", good, reg)
    src = gdir.parent / f".untrained-{seed}"
    src.mkdir()
    torch.manual_seed(seed)
    model = LightMLP(NUM_FEATURES, (64, 32), 0.1)
    x = np.random.default_rng(seed).normal(size=(256, NUM_FEATURES)).astype(np.float32)
    model.set_normalisation(x)
    model.eval()
    meta = save_ranker(model, src, RankerConfig(), SourceConfig(), x[:64])
    shutil.copy(gdir / "tables.json", src / "tables.json")
    man = registry.read_manifest("recs-light", good, reg)
    meta.update({k: man[k] for k in ("store", "source", "train_until", "holdout")})
    version = registry.register("recs-light", src, meta, set_current=False, registry=reg)
    shutil.rmtree(src)
    return version


def test_the_recs_gate_refuses_an_untrained_ranker_and_passes_the_trained_one(trained: Trained) -> None:
    reg, good = trained.reg, trained.res["recs_light"]
    bad = untrained_version(reg, good)
    exp, _ = store_data.export_store(STORE, db=trained.db)
    data = store_data.to_interactions(exp)
    gd = GateData(data.inter, data.end, exp.source, exp.data_hash())

    ok = run_recs_gate("recs-light", good, None, STORE, 0.02, gd, registry_root=reg, log=lambda _m: None)
    assert ok["decision"] == "pass" and ok["baseline"].startswith("live tables") and ok["in_sample"] == []
    assert ok["users"] >= store_train.MIN_RETURNING and ok["delta"]["hi"] > -0.02
    no = run_recs_gate("recs-light", bad, None, STORE, 0.02, gd, registry_root=reg, log=lambda _m: None)
    assert no["decision"] == "refuse" and "worse than live tables" in no["reason"]
    assert [d["worse"] for d in no["differences"]] == [True, True]  # Recall@20 and NDCG@20
    assert no["candidate"] < no["production"] - 0.1 and no["delta"]["hi"] < 0
    assert "| NDCG@20 (candidate − baseline) |" in no["decision_table"]
    print(f"\ntrained (pass):\n{ok['decision_table']}\n\nuntrained (refuse):\n{no['decision_table']}")

    # against a trained production: the untrained candidate is refused, a candidate equal to it passes
    vs_prod = run_recs_gate("recs-light", bad, good, STORE, 0.02, gd, registry_root=reg, log=lambda _m: None)
    assert vs_prod["decision"] == "refuse" and vs_prod["baseline"] == f"production {good}"
    # a window the candidate has seen (data ending before its training did) is refused, not scored
    early = GateData(data.inter.before(data.end - 20), data.end - 20, gd.source, "x")
    seen = run_recs_gate("recs-light", good, None, STORE, 0.02, early, registry_root=reg, log=lambda _m: None)
    assert seen["decision"] == "refuse" and "inside the window" in seen["reason"]
    other = run_recs_gate("recs-light", good, None, "shop-b", 0.02, gd, registry_root=reg, log=lambda _m: None)
    assert other["decision"] == "refuse" and "trained for store 'shop-a'" in other["reason"]
    # recs-heavy: the cascade over the store's light ranker against that ranker alone
    heavy = run_recs_gate(
        "recs-heavy", trained.res["recs_heavy"], None, STORE, 0.02, gd, registry_root=reg, log=lambda _m: None
    )
    assert heavy["decision"] == "pass" and heavy["baseline"] == f"light ranker alone ({good})"


# -- the release CLI against a recorded edge ---------------------------------------------------------------------
class Edge:
    """The edge's release API and /healthz as the contract specifies (a canary promoted at the first tick)."""

    def __init__(self, bundled: list[str]) -> None:
        self.bundled = bundled
        self.requests: list[tuple[str, str, Any]] = []

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        if (method, path) == ("GET", "/healthz"):
            return 200, {"models": {"light": self.bundled}}
        if (method, path) == ("POST", "/admin/releases"):
            return 201, {"id": "rel_1", "status": body.get("status", "canary")}
        if path == "/admin/releases/rel_1/tick":
            return 200, {"decision": "promoted", "figures": {}, "status": "promoted", "stepIndex": 0, "weight": 100}
        if path == "/admin/releases/rel_1":
            return 200, {"id": "rel_1", "status": "promoted", "stepIndex": 0}
        return 404, {"error": "not_found"}


@pytest.fixture
def edge(trained: Trained) -> Iterator[tuple[str, Edge]]:
    rec = Edge([trained.res["recs_light"]])
    with replay_http(rec.answer) as url:
        yield url, rec


def test_release_gates_canaries_and_promotes_in_the_store(
    trained: Trained, edge: tuple[str, Edge], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, rec = edge
    reg = trained.reg
    monkeypatch.setattr(paths, "STATE", trained.state)
    monkeypatch.setattr(paths, "EDGE_GENERATED", tmp_path / "generated")
    monkeypatch.setenv("VITRINE_REGISTRY", str(reg))
    monkeypatch.setenv("VITRINE_ADMIN_TOKEN", "tok")
    base = ["release", "--kind", "recs-light", "--store", STORE, "--db", str(trained.db), "--yes", "--edge", url]
    base += ["--gpu", "", "--steps", "100", "--step-seconds", "1"]

    bad = untrained_version(reg, trained.res["recs_light"], seed=7)
    assert cli.main([*base, "--version", bad]) == release.EXIT_REFUSED
    (refused,) = [b for m, p, b in rec.requests if (m, p) == ("POST", "/admin/releases")]
    assert refused["status"] == "refused" and refused["store"] == STORE and "baselineVersion" not in refused
    assert refused["gateReport"]["decision"] == "refuse" and "NDCG@20" in refused["gateReport"]["decision_table"]

    good = trained.res["recs_light"]
    assert cli.main([*base, "--version", good]) == release.EXIT_PROMOTED
    created = [b for m, p, b in rec.requests if (m, p) == ("POST", "/admin/releases")][-1]
    assert created["version"] == good and created["store"] == STORE and created["gateReport"]["decision"] == "pass"
    # the store's production moves; the shipped defaults do not
    assert registry.read_stores(reg) == {STORE: {"recs-light": good}}
    assert registry.read_current(reg) == trained.shipped
    assert f'"{good}": {{' in (tmp_path / "generated" / "models.js").read_text()


# -- a real `wrangler d1 export --local` dump ---------------------------------------------------------------------
WRANGLER = REPO / "node_modules" / ".bin" / "wrangler"


def wrangler(cwd: Path, *args: str) -> None:
    env = {**os.environ, **store_data.WRANGLER_ENV}
    res = subprocess.run([str(WRANGLER), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, f"wrangler {' '.join(args)}: {res.stderr[-2000:]}"


@pytest.mark.skipif(not WRANGLER.exists(), reason="wrangler is not installed (npm ci)")
def test_wrangler_local_state_and_its_export_dump(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a checkout of its own (wrangler.toml + migrations): `wrangler d1 export` has no --persist-to, its local state
    # is <cwd>/.wrangler/state
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(REPO / "wrangler.toml", site / "wrangler.toml")
    (site / "migrations").symlink_to(REPO / "migrations")
    persist = site / ".wrangler" / "state"
    sql = tmp_path / "store.sql"
    products, history = synthetic.store_rows(n_customers=60, n_products=200, days=100, seed=3)
    sql.write_text("\n".join(synthetic.store_sql(STORE, "Shop A", products, history + CARTS)) + "\n")
    wrangler(site, "d1", "migrations", "apply", "vitrine", "--local")
    wrangler(site, "d1", "execute", "vitrine", "--local", "--file", str(sql))
    found = store_data.find_local_d1(STORE, roots=[persist])
    assert store_data.wrangler_state_root(found) == persist.resolve()
    with pytest.raises(store_data.StoreDataError, match="no local D1 database with store 'nope'"):
        store_data.find_local_d1("nope", roots=[persist])
    dump = tmp_path / "dump.sql"
    tables = [a for t in store_data.TABLES for a in ("--table", t)]
    wrangler(site, "d1", "export", "vitrine", "--local", *tables, "--output", str(dump))

    from_file, _ = store_data.export_store(STORE, db=found)
    from_dump, where = store_data.export_store(STORE, from_export=dump)
    assert where is None and from_dump.history == from_file.history and from_dump.products == from_file.products
    assert (
        from_dump.data_hash() == from_file.data_hash() == store_data.export_store(STORE, db=trained.db)[0].data_hash()
    )

    monkeypatch.setattr(paths, "STATE", trained.state)
    monkeypatch.setattr(paths, "EDGE_GENERATED", tmp_path / "generated")
    monkeypatch.setenv("VITRINE_REGISTRY", str(trained.reg))
    # the same rows as the trained fixture: the cached versions, loaded through wrangler into its state file
    res = steps.recs_store(STORE, db=found, reduced=True)
    assert res["recs_light"] == trained.res["recs_light"] and res["d1"]["loaded_with"] == "wrangler"
    assert store_data.count_rows(found, STORE, res["recs_light"]) == res["sql_items"] == len(products)
    dumped = steps.recs_store(STORE, from_export=dump, reduced=True)
    assert dumped["recs_light"] == res["recs_light"] and "--remote --file" in dumped["d1"]["remote_command"]


# -- a sharded store: its products in the shard databases, none in DB ---------------------------------------------
def test_a_sharded_store_is_read_from_its_shard_files_and_shard_dumps(tmp_path: Path) -> None:
    whole = store_db(tmp_path / "whole.db")
    want, _ = store_data.export_store(STORE, db=whole)
    d = tmp_path / "d1"
    d.mkdir()
    # DB keeps the store and its history; shard n keeps the products whose index is n mod 2 (the edge hashes ids:
    # any split will do here), and no store or history rows
    files = {name: d / f"{name}.sqlite" for name in ("db", "shard1", "shard2")}
    for name, f in files.items():
        shutil.copy(whole, f)
        conn = sqlite3.connect(f)
        ids = [r[0] for r in conn.execute("SELECT id FROM products WHERE store = ? ORDER BY id", (STORE,))]
        keep = [] if name == "db" else ids[int(name[-1]) - 1 :: 2]
        conn.execute(
            "DELETE FROM products WHERE store = ? AND id NOT IN (SELECT value FROM json_each(?))",
            (STORE, json.dumps(keep)),
        )
        if name != "db":
            conn.executescript("DELETE FROM stores; DELETE FROM recs_history;")
        conn.commit()
        conn.close()

    got, where = store_data.export_store(STORE, db=files["db"])
    assert where == files["db"] and got.products == want.products and got.history == want.history
    assert got.data_hash() == want.data_hash() and "2 shard file(s)" in got.source

    dump = tmp_path / "store.sql"
    for name, f in files.items():
        conn = sqlite3.connect(f)
        out = dump if name == "db" else dump.with_name(f"store.{name}.sql")
        out.write_text("\n".join(conn.iterdump()) + "\n")
        conn.close()
    assert store_data.shard_dumps(dump) == [tmp_path / "store.shard1.sql", tmp_path / "store.shard2.sql"]
    from_dump, _ = store_data.export_store(STORE, from_export=dump)
    assert from_dump.products == want.products and from_dump.data_hash() == want.data_hash()
    # an unsharded store's database is read alone: its own products are all there
    alone, _ = store_data.export_store(STORE, db=whole)
    assert alone.source == f"d1 {whole}"
