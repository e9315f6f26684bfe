"""Heavy ranking model (MiniLM cross-encoder) served by the GPU tier.

Serving API (CONTRACTS.md C4): ``format_document(doc) -> str``, ``load_heavy(version_dir, device) -> HeavyScorer``
(``HeavyScorer.score_batch(pairs: list[tuple[str, dict]]) -> list[float]``), ``save_heavy(model, tokenizer, dir,
manifest_extra, max_tokens)``; ``save_tiny_heavy(dir)`` writes a random tiny model for tests.
Training: ``vitrine_gpu.heavy.train.train_heavy(train_query_ids | None, config) -> model dir``.
"""

from .model import (
    HeavyScorer,
    build_heavy,
    format_document,
    load_heavy,
    save_heavy,
    save_tiny_heavy,
)

__all__ = ["HeavyScorer", "build_heavy", "format_document", "load_heavy", "save_heavy", "save_tiny_heavy"]
