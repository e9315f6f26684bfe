"""CLI: python -m vitrine_gpu.pipeline {prepare,train-light,train-heavy,evaluate,export,prepare-recs,train-recs-light,
train-recs-heavy,all} [--reduced] [--force].

`all` runs the search steps, then the recommendation steps, then the export. --reduced trains the recommendation models on the seeded
synthetic store with a small configuration (vitrine_gpu.recs.train.REDUCED)."""

from __future__ import annotations

import argparse
import json
import sys

from .steps import STEPS, log

ORDER = (
    "prepare",
    "train-light",
    "train-heavy",
    "evaluate",
    "prepare-recs",
    "train-recs-light",
    "train-recs-heavy",
    "export",  # last: edge/generated/models.js bundles the search and the recs light models
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vitrine_gpu.pipeline", description=__doc__)
    ap.add_argument("step", choices=[*ORDER, "all"])
    ap.add_argument("--reduced", action="store_true", help="quick CI configuration (fewer folds / smaller heavy run)")
    ap.add_argument("--force", action="store_true", help="re-run even when the inputs are unchanged")
    ap.add_argument(
        "--synthetic",
        action="store_true",
        help="prepare/prepare-recs: use the synthetic catalog/store even if ../shared has the dataset",
    )
    ap.add_argument(
        "--skip-evaluate",
        action="store_true",
        help="all: train and export without the cross-validation report (what npm start needs)",
    )
    a = ap.parse_args(argv)
    steps = ORDER if a.step == "all" else (a.step,)
    if a.skip_evaluate:
        steps = tuple(s for s in steps if s != "evaluate")
    results = {}
    for s in steps:
        log(f"== {s}")
        kwargs = {"force": a.force, "reduced": a.reduced}
        if s in ("prepare", "prepare-recs"):
            kwargs["synthetic"] = a.synthetic
        results[s] = STEPS[s](**kwargs)
    print(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
