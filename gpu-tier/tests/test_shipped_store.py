"""Retraining the shipped store (online-retail) from D1 (`recs.shipped_store`, `npm run retrain -- --store
online-retail`): its transactions file (a small synthetic one here) plus every purchase D1 holds since, on one clock;
the time split keeps the purchases since out of training; a retrain with purchases since trains, gates, canaries and
promotes a per-store version; one on the same rows says so and gates nothing. Also the one admin-token lookup."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import replay_http
from test_recs_store import fake_light
from test_retrain import Edge
from vitrine_gpu import cli, paths, registry
from vitrine_gpu.recs import data as recs_data
from vitrine_gpu.recs import shipped_store, synthetic
from vitrine_gpu.recs.holdout import window_truth
from vitrine_gpu.recs.store_data import export_store
from vitrine_gpu.recs.store_train import split_of
from vitrine_gpu.release import retrain, tokens
from vitrine_gpu.release import run as release
from vitrine_gpu.release.recs_gate import production_of
from vitrine_gpu.search.catalog import migration_statements
from vitrine_gpu.settings import Settings

STORE = shipped_store.SHIPPED_STORE
GEN = {"n_customers": 80, "n_products": 200, "days": 100, "seed": 5}


@dataclass
class Shipped:
    state: Path
    reg: Path
    db: Path
    file: Path
    end: float  # the first instant after the file's last day


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shipped]:
    """A state whose prepare-recs source is a synthetic transactions file, and a D1 file holding the shipped store
    as the pipeline loads it (its products and the file's history rows)."""
    state, reg = tmp_path / "state", tmp_path / "state" / "registry"
    monkeypatch.setattr(paths, "STATE", state)
    monkeypatch.setattr(paths, "EDGE_GENERATED", tmp_path / "generated")
    monkeypatch.setenv("VITRINE_REGISTRY", str(reg))
    monkeypatch.setenv("VITRINE_ADMIN_TOKEN", "tok")
    f = synthetic.write(tmp_path / "transactions.csv.gz", **GEN)
    (state / "recs").mkdir(parents=True)
    (state / "recs" / "source.json").write_text(json.dumps({"files": [str(f)]}))
    products, history = synthetic.store_rows(**GEN)  # type: ignore[arg-type]
    db = tmp_path / "d1.sqlite"
    conn = sqlite3.connect(db)
    for s in migration_statements():
        conn.execute(s)
    for s in synthetic.store_sql(STORE, "Online Retail", products, history):
        conn.executescript(s)
    conn.commit()
    conn.close()
    end = recs_data.end_of_day(recs_data.date_of(recs_data.load(f).end))
    yield Shipped(state, reg, db, f, end)


def buy(db: Path, user: str, item: str, day: float, n: int = 1) -> None:
    """What POST /v1/events does to recs_history for `n` purchases (edge/events/apply.ts HISTORY_SQL)."""
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO recs_history (store, user_id, item_id, n, last_day, qty) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (store, user_id, item_id) DO UPDATE SET n = n + excluded.n, qty = qty + excluded.qty, "
        "last_day = max(last_day, excluded.last_day)",
        (STORE, user, item, n, day, n),
    )
    conn.commit()
    conn.close()


def history(db: Path) -> list[tuple[str, str, int]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT user_id, item_id, n FROM recs_history WHERE store = ? AND n > 0 ORDER BY n DESC, user_id, item_id",
            (STORE,),
        ).fetchall()
    finally:
        conn.close()


def test_no_purchase_since_the_file_is_said_so(shipped: Shipped) -> None:
    exp, _ = export_store(STORE, db=shipped.db)
    with pytest.raises(shipped_store.NoNewPurchases, match="no purchase in D1 since its transactions file ends"):
        shipped_store.store_interactions(exp)


def test_purchases_since_follow_the_file_on_one_clock_and_stay_out_of_training(shipped: Shipped) -> None:
    db, end = shipped.db, shipped.end
    file_inter = recs_data.load(shipped.file)
    user, item, _ = history(db)[0]  # a customer of the file, an item they bought repeatedly
    today = 20_429.0  # 2025-12-07: years after the file
    buy(db, user, item, today + 0.25, n=2)  # 2 more purchases of a pair the file knows
    buy(db, "web-1", item, today + 0.5)  # a shopper the file never saw, on the same day …
    buy(db, "web-1", file_inter.catalogue.codes[0], today + 3.5)  # … and three days later
    buy(db, user, "NOPE1", today + 1)  # an item the file's catalogue lacks: left out, counted
    buy(db, "web-2", item, end - 5)  # a purchase dated inside the file's span: not "since", counted
    exp, _ = export_store(STORE, db=db)
    data = shipped_store.store_interactions(exp)
    extra = data.extra
    assert extra["shift_days"] == np.floor(today + 0.25) - end  # the first purchase since lands on the day after
    assert extra["purchases_since"] == 4 and extra["rows_since"] == 3
    assert extra["skipped_rows"] == {"before_file_end": 1, "unknown_items": 1}
    assert len(data.inter) == len(file_inter) + extra["purchases_since"]
    # the file's lines are there unchanged, the purchases since after them
    old = data.inter.ts < end
    assert np.array_equal(np.sort(data.inter.ts[old]), np.sort(file_inter.ts))
    new_ts = np.sort(data.inter.ts[~old])
    assert new_ts[0] == pytest.approx(end + 0.25) and data.end == recs_data.end_of_day(recs_data.date_of(new_ts[-1]))
    assert data.users[data.inter.customer[~old][0]] in (user, "web-1")
    # the time split: every purchase since is in the held-out window, none before the cut (the models never see it)
    split = split_of(data)
    assert split.cut < end + 0.25
    train = data.inter.before(split.cut)
    assert len(train) == int((file_inter.ts < split.cut).sum())
    web = data.users.index("web-1")
    assert not (train.customer == web).any()
    truth = window_truth(data.inter, split.cut, data.end)
    assert data.users.index(user) in truth and web not in truth  # returning customers only; web-1 is new
    # any other store is rebuilt from its own D1 rows
    assert shipped_store.store_interactions(dataclasses.replace(exp, store="shop-x")).extra == {}


def test_retrain_of_the_shipped_store_gates_and_promotes_then_the_same_rows_say_unchanged(
    shipped: Shipped, tmp_path: Path
) -> None:
    reg, db = shipped.reg, shipped.db
    cur = {"light": fake_light(reg, tmp_path)}  # the shipped recs models are not needed: the live tables judge it
    (reg / "current.json").write_text(json.dumps(cur))
    for k, (user, item, _) in enumerate(history(db)[:40]):  # 40 file customers buy again, over two days
        buy(db, user, item, 20_429.2 + k / 20)
    edge = Edge(reg)
    with replay_http(edge.answer) as url:
        argv = ["retrain", "--store", STORE, "--db", str(db), "--reduced", "--edge", url, "--gpu", ""]
        argv += ["--steps", "100", "--step-seconds", "1", "--kind", "recs-light"]
        assert cli.main(argv) == release.EXIT_PROMOTED
        (created,) = [b for m, p, b in edge.requests if (m, p) == ("POST", "/admin/releases")]
        version = created["version"]
        man = registry.read_manifest("recs-light", version, reg)
        assert man["source"] == "d1" and man["store"] == STORE and man["shipped"]["purchases_since"] == 40
        assert created["gateReport"]["decision"] == "pass" and created["store"] == STORE
        window = created["gateReport"]["window"]
        assert window["to"] == recs_data.date_of(shipped.end + 2)  # it ends with the purchases since (2 days)
        assert man["train_until"] < window["from"]  # trained before the window it was judged on
        assert registry.read_stores(reg) == {STORE: {"recs-light": version}}  # the store's production now
        assert registry.read_current(reg) == cur
        # the same rows again: nothing to train on, nothing gated or recorded at the edge, production untouched
        for f in (reg / "retrains").glob("*.json"):
            f.unlink()
        assert cli.main(argv) == release.EXIT_REFUSED
        assert len([1 for m, p, _ in edge.requests if (m, p) == ("POST", "/admin/releases")]) == 1
        (rec,) = [json.loads(f.read_text()) for f in (reg / "retrains").glob("*.json")]
        assert rec["outcome"] == "unchanged" and "no purchase since production" in rec["reason"]
        assert registry.read_stores(reg) == {STORE: {"recs-light": version}}


def test_per_store_follows_the_version_for_the_shipped_store(shipped: Shipped, tmp_path: Path) -> None:
    reg = shipped.reg
    file_trained = fake_light(reg, tmp_path, "recs-light")
    (reg / "current.json").write_text(json.dumps({"light": fake_light(reg, tmp_path), "recs-light": file_trained}))
    assert release.per_store("recs-light", "shop-x") and not release.per_store("light", "shop-x")
    assert not release.per_store("recs-light", STORE, file_trained) and not release.per_store("recs-light", STORE)
    # a version retrained from D1 is the store's production in stores.json; going back to a file-trained one
    # (a rollback) drops that entry, so current.json's names the store's production again
    d1_dir = tmp_path / "d1-version"
    d1_dir.mkdir()
    for f in ("parity.json", "tables.json"):  # what the export reads, as the file-trained one has
        (d1_dir / f).write_bytes((registry.version_dir("recs-light", file_trained, reg) / f).read_bytes())
    (d1_dir / "model.onnx").write_bytes(b"retrained from d1")  # other files: another version
    keep = ("features", "input", "output", "sources")
    meta = {k: v for k, v in registry.read_manifest("recs-light", file_trained, reg).items() if k in keep}
    meta.update(store=STORE, source="d1")
    d1_version = registry.register("recs-light", d1_dir, meta, registry=reg)
    assert release.per_store("recs-light", STORE, d1_version)
    a = argparse.Namespace(store=STORE, gpu="")
    release.promote_locally("recs-light", d1_version, a, None)
    assert production_of("recs-light", STORE, reg) == d1_version
    release.promote_locally("recs-light", file_trained, a, None)
    assert registry.read_stores(reg) == {} and production_of("recs-light", STORE, reg) == file_trained


def test_one_admin_token_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VITRINE_ADMIN_TOKEN", raising=False)
    monkeypatch.delenv("VITRINE_GPU_ADMIN_TOKEN", raising=False)
    monkeypatch.setattr(tokens, "REPO", tmp_path)
    assert tokens.admin_tokens(Settings()) is None
    (tmp_path / ".dev.vars").write_text('OTHER=x\nADMIN_TOKEN="from-dev-vars"\n')
    assert tokens.admin_tokens(Settings()) == tokens.AdminTokens("from-dev-vars", "from-dev-vars")
    monkeypatch.setenv("VITRINE_ADMIN_TOKEN", "env")
    monkeypatch.setenv("VITRINE_GPU_ADMIN_TOKEN", "gpu")
    assert tokens.admin_tokens(Settings()) == tokens.AdminTokens("env", "gpu")
    assert retrain.admin_tokens is tokens.admin_tokens and release.admin_tokens is tokens.admin_tokens
