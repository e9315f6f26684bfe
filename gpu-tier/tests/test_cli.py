"""The one command line (`python -m vitrine_gpu <command>`): every command is listed and parses, the pipeline's steps
are the steps that exist, and neither `--help` nor parsing loads torch (each command imports its code when it runs)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
from vitrine_gpu import cli
from vitrine_gpu.pipeline import ORDER
from vitrine_gpu.pipeline.steps import STEPS

COMMANDS = ("server", "pipeline", "release", "bench", "eval-search", "eval-recommend", "search", "recs", "pretrained")
SUBCOMMANDS = {
    "bench": ("server", "scorer"),
    "search": ("eval", "train-heavy", "fixture"),
    "recs": ("eval", "synthetic", "synthetic-store", "prepare", "train-light", "train-heavy", "fixture"),
}


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for c in COMMANDS:
        assert f"\n    {c}" in out, c


@pytest.mark.parametrize("argv", [[c] for c in COMMANDS] + [[c, s] for c, subs in SUBCOMMANDS.items() for s in subs])
def test_each_command_has_its_own_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main([*argv, "--help"])
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: python -m vitrine_gpu {' '.join(argv)}")


def test_pipeline_steps_are_the_steps_that_exist() -> None:
    assert set(ORDER) == set(STEPS)
    assert cli.parse_args(["pipeline", "all", "--reduced"]).step == "all"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        [],
        ["nope"],
        ["pipeline", "nope"],
        ["pipeline", "recs"],
        ["pipeline", "all", "--store", "shop-a"],
        ["release", "--kind", "heavy", "--steps", "50,10"],
        ["bench", "server", "--pairs", "0"],
        ["pretrained", "nope"],
    ):
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        assert e.value.code == 2, argv
    capsys.readouterr()


def test_parsing_keeps_the_arguments() -> None:
    a = cli.parse_args(["bench", "server", "--levels", "1,4", "--pairs", "8", "--url", "http://x"])
    assert (a.levels, a.pairs, a.url, a.seconds) == ([1, 4], 8, "http://x", None)
    a = cli.parse_args(["release", "--kind", "recs-heavy", "--version", "v1", "--steps", "5,100"])
    # no --store: the kind's store (esci for light/heavy, online-retail for the recs kinds: release/run.py)
    assert (a.kind, a.version, a.steps, a.step_seconds, a.store) == ("recs-heavy", "v1", "5,100", 60, None)
    a = cli.parse_args(["pipeline", "recs", "--store", "shop-a", "--db", "d1.sqlite"])
    assert (a.step, a.store, str(a.db), a.from_export, a.no_load) == ("recs", "shop-a", "d1.sqlite", None, False)
    a = cli.parse_args(["recs", "eval", "--train-until", "2011-09-30", "--transactions", "f.csv", "--extra", "x=y"])
    assert (a.recs_command, a.extra, a.heavy_weight, a.reduced) == ("eval", ["x=y"], None, False)


def test_neither_help_nor_parsing_loads_torch(subprocess_env: Callable[..., dict[str, str]]) -> None:
    code = (
        "import sys, contextlib, io\n"
        "from vitrine_gpu import cli\n"
        "for argv in (['--help'], ['server', '--help'], ['pipeline', '--help'], ['bench', 'scorer', '--help']):\n"
        "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "        cli.main(argv)\n"
        "cli.parse_args(['search', 'eval', '--reduced'])\n"
        "print(sorted(m for m in ('torch', 'transformers', 'fastapi', 'scipy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr
