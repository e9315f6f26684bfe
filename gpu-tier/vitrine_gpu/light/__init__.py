"""The light ranker: a small MLP over the CONTRACTS.md C2 features, trained listwise on judged pools, exported to ONNX.

- `LightData.load()` builds one candidate list per judged query (rows via edge/search/candidates.sql, features,
  ESCI gains), exactly what POST /v1/rerank computes at the edge.
- `fit(train_qids, data)` trains on a subset of queries and returns a `LightScorer` (for cross-validation).
- `export_onnx(model, path)` writes the ONNX graph the edge runs (input "features" [N,F], output "score" [N]).
"""

from .export import export_onnx, onnx_parity
from .model import LightMLP
from .train import LightConfig, LightData, LightScorer, QueryList, cross_validate, fit

__all__ = [
    "LightMLP",
    "LightConfig",
    "LightData",
    "LightScorer",
    "QueryList",
    "cross_validate",
    "fit",
    "export_onnx",
    "onnx_parity",
]
