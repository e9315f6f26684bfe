"""The search heavy re-ranker (the GPU tier's cross-encoder; the recs counterpart is ``recs/sequence.py``).

- ``model.py``: the PreTTR-style cross-encoder, ``format_document``, ``load_heavy(version_dir, device) ->
  HeavyScorer`` (``score_batch(pairs) -> list[float]``, the serving API of CONTRACTS.md C4), ``save_heavy``,
  ``save_tiny_heavy`` (a random tiny model for tests).
- ``serving.py``: ``load_for_serving``, what the server's model store loads (int8 on CPU, term cache, torch.compile).
- ``term_cache.py``: the product term-representation cache (importing it does not import torch).
- ``train.py``: listwise training on the judged pools, ``train_heavy`` and registration.
- ``data.py``: the judged pools in the ESCI schema (the scorer bench, the int8 agreement test).

Nothing is imported here: the server imports ``term_cache`` before it loads a model, without torch.
"""
