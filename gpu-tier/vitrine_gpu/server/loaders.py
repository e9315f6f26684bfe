"""How the server turns a registry version directory into a scorer, and which device it runs on.

The one deliberate deferral of the server: the model code (torch, transformers, the search heavy model, the recs
sequence model) is imported here, inside the loaders, when the first model loads in the load thread, and torch by
``resolve_device`` only for ``auto``. So the process binds and answers ``/ping`` ("loading") at once, SageMaker's
and the integration harness's health checks see it up while the weights load, and the HTTP layer (with its tests'
stub scorers) runs without the model stack.
"""

from __future__ import annotations

from pathlib import Path

from ..search.heavy.term_cache import TermCache
from ..settings import Settings
from .model_store import Loader, Scorer
from .recommend import RecsScorer


def resolve_device(requested: str) -> str:
    """ "auto" → "cuda" when torch sees a GPU, else "cpu"."""
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def make_heavy_loader(max_batch_size: int, config: Settings, term_cache: TermCache) -> Loader:
    """The search heavy model's loader: ``search.heavy.serving.load_for_serving`` with its chunk size matched to the
    server's batch size: warmed up once after loading, sharing the server's product term cache, catalogue precompute in
    the background."""

    def load(version_dir: Path, device: str) -> Scorer:
        from ..search.heavy.serving import load_for_serving

        return load_for_serving(
            version_dir,
            device,
            batch_size=max(64, max_batch_size),
            term_cache=term_cache,
            cpu_int8=config.cpu_int8,
            threads=config.cpu_threads,
            compile_cuda=config.cuda_compile,
            catalog_db=config.state / "catalog" / "catalog.sqlite",
            precompute_limit=config.term_cache_precompute,
            precompute_seconds=config.term_cache_precompute_seconds,
        )

    return load


def load_recs(version_dir: Path, device: str) -> RecsScorer:  # noqa: ARG001 - the sequence model is small: CPU
    """A ``recs-heavy`` version (``recs.sequence.SeqRecModel``) behind the batcher-facing ``RecsScorer``."""
    from ..recs.sequence import SeqRecModel

    return RecsScorer(SeqRecModel.load(version_dir))
