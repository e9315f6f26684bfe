"""The search light ranker (the recs counterpart is ``recs/ranker.py``, which reuses its network and export).

- ``model.py``: ``LightMLP``, a small MLP over the CONTRACTS.md C2 features with the input standardisation inside.
- ``train.py``: ``LightData.load()`` (one candidate list per judged query, rows via edge/search/candidates.sql,
  exactly what POST /v1/rerank computes at the edge), listwise ``fit`` and grouped cross-validation.
- ``export.py``: ``export_onnx`` (the graph the edge runs: input "features" [N, F], output "score" [N]) and the
  onnxruntime-vs-PyTorch parity check.
"""
