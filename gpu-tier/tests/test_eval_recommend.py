"""npm run eval:recommend (vitrine_gpu.recs.evaluate.run_edge) without an edge: a registry trained on the seeded synthetic
store up to 2011-09-30 is the "loaded history"; the later purchases of the same file are the transactions; a saved
answers file (--answers) stands in for the edge's answers. Also the pure parts: the window, the history check,
the answers' ids -> indices and the table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from vitrine_gpu import cli
from vitrine_gpu.recs import data, synthetic
from vitrine_gpu.recs import evaluate as er
from vitrine_gpu.recs import sources as S
from vitrine_gpu.recs import train as tr
from vitrine_gpu.recs.ranker import RankerConfig
from vitrine_gpu.recs.sequence import SeqConfig

SC = S.SourceConfig(mf_factors=8, mf_iterations=4, per_source=40, max_candidates=80)
UNTIL = "2011-09-30"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(invoice file, registry) with recs-light and recs-heavy trained on the purchases up to UNTIL."""
    d = tmp_path_factory.mktemp("evalrec")
    f = synthetic.write(d / "s.csv.gz", n_customers=80, n_products=100, seed=2)
    reg = d / "reg"
    mp = pytest.MonkeyPatch()
    mp.setenv("VITRINE_REGISTRY", str(reg))

    tr.train_recs_light(UNTIL, rc=RankerConfig(epochs=2, cuts=1), sc=SC, log=lambda m: None, files=[f])
    tr.train_recs_heavy(
        UNTIL,
        qc=SeqConfig(d=16, layers=1, epochs=1, max_len=20),
        rc=RankerConfig(epochs=2, cuts=1),
        sc=SC,
        log=lambda m: None,
        files=[f],
    )
    torch.set_num_threads(1)
    yield f, reg
    mp.undo()


def test_window_takes_only_purchases_after_the_history(store: tuple[Path, Path]) -> None:
    f, _ = store
    inter = data.load(f)
    until = data.end_of_day(UNTIL)
    w = er.window_truth(inter, until, f)
    ref = data.truth_sets(inter.before(until), inter.select(inter.ts >= until))
    assert w.truth == ref and len(ref) > 10  # same file: every product is in the history's catalogue
    assert w.first > UNTIL and w.lines_before > 0 and w.lines_after > 0
    with pytest.raises(SystemExit, match="no purchase dated after"):
        er.window_truth(inter, data.end_of_day("2012-06-30"), f)


def test_loaded_history_refuses_other_files(store: tuple[Path, Path], tmp_path: Path) -> None:
    f, reg = store
    h = er.loaded_history([f], reg)
    assert h.train_until == UNTIL and h.light_version.startswith("recs-light-") and h.heavy_version
    assert h.sources.max_candidates == SC.max_candidates  # the version's source configuration
    other = synthetic.write(tmp_path / "other.csv.gz", n_customers=30, n_products=40, seed=9)
    with pytest.raises(SystemExit, match="not the training data"):
        er.loaded_history([other], reg)


def test_ids_of_an_answer_and_unknown_codes() -> None:
    assert er.item_ids({"items": [{"id": "22423", "score": 1}, {"id": "85123A"}]}) == ["22423", "85123A"]
    with pytest.raises(ValueError):
        er.item_ids({"error": "x"})
    assert er.to_indices({7: ["a1", "nope", "b2"]}, {"A1": 0, "B2": 1}) == {7: [0, -1, 1]}


def test_cli_scores_saved_answers_next_to_the_baselines(
    store: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    f, reg = store
    monkeypatch.setenv("VITRINE_REGISTRY", str(reg))
    inter = data.load(f)
    until = data.end_of_day(UNTIL)
    truth = data.truth_sets(inter.before(until), inter.select(inter.ts >= until))
    codes = inter.catalogue.codes
    # a perfect "edge" for the users it answers (first 20 products of their truth), nothing for one user
    users = sorted(truth)
    answers = {str(u): [codes[i] for i in sorted(truth[u])][:20] for u in users[1:]}
    (tmp_path / "answers.json").write_text(json.dumps(answers))
    rc = cli.main(
        [
            "eval-recommend",
            "--transactions",
            str(f),
            "--history",
            str(f),
            "--answers",
            str(tmp_path / "answers.json"),
            "--json",
            str(tmp_path / "out.json"),
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "baselines fitted on the history the edge has loaded" in out and f"purchases up to {UNTIL}" in out
    for row in (
        "popularity (30 days)",
        "repeat-frequency",
        "item-kNN co-purchase",
        "MF (implicit ALS)",
        "light ranker alone",
        "cascade (light -> heavy)",
        er.EDGE_ROW,
    ):
        assert f"| {row} |" in out
    res = json.loads((tmp_path / "out.json").read_text())
    assert res["users"] == len(truth)
    edge = res["rows"][er.EDGE_ROW]
    # recall by hand: min(20, |truth|) / |truth| for the answered users, 0 for the one left out
    want = sum(min(20, len(truth[u])) / len(truth[u]) for u in users[1:]) / len(users)
    assert edge["recall"]["mean"] == pytest.approx(want, abs=1e-9)
    assert edge["ndcg"]["mean"] > res["rows"]["repeat-frequency"]["ndcg"]["mean"]
    assert f"{er.EDGE_ROW} - repeat-frequency" in res["differences"]
