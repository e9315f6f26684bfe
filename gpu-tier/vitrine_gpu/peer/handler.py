"""TorchServe handler for the vitrine heavy model (the bench's peer server).

What a TorchServe user would deploy: the registered heavy model loaded as is (fp32, no term cache), every request's
(query, product) pairs run through the full network; TorchServe's dynamic batching hands the handler up to
``batchSize`` requests at once, whose pairs are scored in one call. Request/response bodies are the GPU tier's
(``{"query", "documents"}`` → ``{"scores"}``). The archive carries ``peer.json``: the model directory and the path
to put on sys.path for ``vitrine_gpu``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import torch


class VitrineHeavyHandler:
    def __init__(self) -> None:
        self.scorer: Any = None
        self.initialized = False

    def initialize(self, context: Any) -> None:
        model_dir = context.system_properties.get("model_dir")
        with open(os.path.join(model_dir, "peer.json")) as f:
            peer = json.load(f)
        if peer["gpu_tier"] not in sys.path:
            sys.path.insert(0, peer["gpu_tier"])
        # TorchServe loads this file by path: vitrine_gpu is importable only once peer.json put it on sys.path
        from vitrine_gpu.search.heavy.model import load_heavy

        if peer.get("threads"):
            torch.set_num_threads(int(peer["threads"]))
        device = "cuda" if peer.get("device") == "cuda" and torch.cuda.is_available() else "cpu"
        self.scorer = load_heavy(peer["model_dir"], device, batch_size=int(peer.get("chunk", 64)), quantize=False)
        self.scorer.warmup()
        self.initialized = True

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[Any]:
        bodies: list[dict[str, Any]] = []
        for row in data:
            raw: Any = row.get("body") or row.get("data")
            if isinstance(raw, (bytes, bytearray)):
                raw = json.loads(raw)
            bodies.append(raw)
        pairs = [(b["query"], d) for b in bodies for d in b["documents"]]
        scores = self.scorer.score_batch(pairs)
        out, i = [], 0
        for b in bodies:
            n = len(b["documents"])
            out.append({"scores": scores[i : i + n]})
            i += n
        return out


_service = VitrineHeavyHandler()


def handle(data: list[dict[str, Any]] | None, context: Any) -> list[Any] | None:
    if not _service.initialized:
        _service.initialize(context)
    if data is None:
        return None
    return _service.handle(data, context)
