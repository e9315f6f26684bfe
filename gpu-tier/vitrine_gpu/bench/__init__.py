"""Benchmarks of the search heavy model (``python -m vitrine_gpu bench server|scorer``; one package, no upward imports).

- ``server.py``: ``bench server`` (``npm run bench:gpu``) — the real server process under closed-loop clients per
  concurrency level (pairs/s, p50/p99, batch sizes, term-cache hits), optionally against TorchServe (``--peer``).
- ``scorer.py``: ``bench scorer`` — a model directory's scorer in process: fp32 vs int8, or the serving path
  (``--serving``: warm term cache, FLOPs, MFU); ``scripts/device-bench.sh`` runs both on a GPU machine.
- ``workload.py``: what both measure with: the catalog workload, the model under test, its FLOPs per pair.
- ``flops.py``: FLOPs per (query, product) pair from the model config, and the device's peak.
"""
