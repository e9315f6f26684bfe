"""python -m vitrine_gpu recs eval end to end on the seeded synthetic store (reduced configuration)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from vitrine_gpu.cli import main
from vitrine_gpu.recs import data, synthetic

METHODS = (
    "popularity (30 days)",
    "repeat-frequency",
    "item-kNN co-purchase",
    "MF (implicit ALS)",
    "TIFU-like (recency repeat + kNN)",
    "light ranker alone",
    "cascade (light -> heavy)",
)


def test_eval_cli_prints_the_table_and_scores_extra_rankings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = synthetic.write(tmp_path / "s.csv.gz", n_customers=80, n_products=120, seed=11)
    inter = data.load(f)
    until = data.end_of_day("2011-09-30")
    truth = data.truth_sets(inter.before(until), inter.select(inter.ts >= until))
    codes = inter.catalogue.codes
    oracle = {str(u): [codes[i] for i in sorted(t)] for u, t in truth.items()}
    (tmp_path / "oracle.json").write_text(json.dumps(oracle))
    rc = main(
        [
            "recs",
            "eval",
            "--train-until",
            "2011-09-30",
            "--history",
            str(f),
            "--transactions",
            str(f),
            "--reduced",
            "--extra",
            f"oracle={tmp_path / 'oracle.json'}",
            "--json",
            str(tmp_path / "out.json"),
        ]
    )
    torch.set_num_threads(1)
    assert rc == 0
    out = capsys.readouterr().out
    for m in METHODS:
        assert f"| {m} |" in out
    assert "candidate recall@300" in out and "paired difference" in out
    res = json.loads((tmp_path / "out.json").read_text())
    assert res["users"] == len(truth) > 20
    for m in (*METHODS, "oracle"):
        for metric in ("recall", "ndcg"):
            r = res["rows"][m][metric]
            assert r["lo"] <= r["mean"] <= r["hi"] and r["n"] == len(truth)
    expect = np.mean([min(20, len(t)) / len(t) for t in truth.values()])
    assert res["rows"]["oracle"]["recall"]["mean"] == pytest.approx(expect)
    assert res["rows"]["oracle"]["ndcg"]["mean"] == pytest.approx(1.0)
    # repeat purchases dominate the synthetic store: the history baseline must beat popularity clearly
    assert res["rows"]["repeat-frequency"]["recall"]["lo"] > res["rows"]["popularity (30 days)"]["recall"]["hi"]
