"""Zero-shot sentence embeddings from a pretrained ONNX encoder run as shipped with onnxruntime (``e5-small-v2``, int8,
from its Maven jar via ``vitrine_gpu.search.pretrained``): masked-mean or CLS pooling, L2-normalised, the model's own query
and passage prefixes. The cross-validation uses it as a second opinion beside bge-small (``evaluate``:
``cos(query, product)`` per judged pool, added to a candidate's heavy score after per-query z-scoring).

    OnnxEmbedder("e5-small-v2").pool_cosines({qid: (query, [product text, ...])}, max_doc_tokens=64)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .pretrained import SPECS, ensure_pretrained, load_tokenizer_file


class OnnxEmbedder:
    def __init__(self, name: str, threads: int = 2, directory: Path | None = None) -> None:
        self.spec = SPECS[name]
        d = directory or ensure_pretrained(name)
        self.tokenizer = load_tokenizer_file(d / "source" / self.spec.tokenizer_file)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(d / "source" / self.spec.onnx_file), opts, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}

    def encode(self, texts: Sequence[str], max_tokens: int, query: bool, batch: int = 64) -> np.ndarray:
        """[n, hidden] L2-normalised embeddings of ``texts`` (prefixed as queries or passages)."""
        prefix = self.spec.query_prefix if query else self.spec.doc_prefix
        out = []
        for i in range(0, len(texts), batch):
            enc = self.tokenizer(
                [prefix + t for t in texts[i : i + batch]],
                truncation=True,
                max_length=max_tokens,
                padding=True,
                return_tensors="np",
            )
            ids = enc["input_ids"].astype(np.int64)
            mask = enc["attention_mask"].astype(np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            h = self.session.run(None, {k: v for k, v in feeds.items() if k in self.inputs})[0]
            if self.spec.pooling == "cls":
                v = h[:, 0]
            else:
                m = mask[..., None].astype(np.float32)
                v = (h * m).sum(1) / np.maximum(m.sum(1), 1.0)
            out.append(v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12))
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)

    def pool_cosines(
        self,
        pools: Mapping[str, tuple[str, Sequence[str]]],
        max_query_tokens: int = 64,
        max_doc_tokens: int = 64,
        log: Callable[[str], None] | None = None,
    ) -> dict[str, np.ndarray]:
        """qid -> cosine of the query with each of its products (every distinct text encoded once)."""
        t0 = time.perf_counter()
        queries = sorted({q for q, _ in pools.values()})
        docs = sorted({d for _, ds in pools.values() for d in ds}, key=len)  # similar lengths batch together
        qv = dict(zip(queries, self.encode(queries, max_query_tokens, query=True)))
        dv = dict(zip(docs, self.encode(docs, max_doc_tokens, query=False)))
        if log:
            log(f"{self.spec.name}: {len(queries)} queries + {len(docs)} products in {time.perf_counter() - t0:.1f}s")
        return {qid: np.array([float(dv[d] @ qv[q]) for d in ds], dtype=np.float64) for qid, (q, ds) in pools.items()}
