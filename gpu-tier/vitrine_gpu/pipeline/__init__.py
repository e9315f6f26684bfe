"""`python -m vitrine_gpu.pipeline <step>`: prepare | train-light | train-heavy | evaluate | export | all.

Each step records the hash of its inputs in .vitrine/pipeline/<step>.json; a re-run with the same inputs (and its
outputs still present) is skipped. `--force` re-runs, `--reduced` is the quick CI configuration.
"""
