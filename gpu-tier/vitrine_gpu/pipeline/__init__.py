"""`python -m vitrine_gpu pipeline <step>`: prepare | train-light | train-heavy | evaluate | prepare-recs |
train-recs-light | train-recs-heavy | export | all (steps.py).

Each step records the hash of its inputs in .vitrine/pipeline/<step>.json; a re-run with the same inputs (and its
outputs still present) is skipped. `--force` re-runs, `--reduced` is the quick CI configuration.
"""

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
