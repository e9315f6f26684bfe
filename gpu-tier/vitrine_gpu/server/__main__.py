"""`python -m vitrine_gpu.server --host 127.0.0.1 --port 8080` — the GPU tier server (uvicorn, one process).

Each flag overrides a field of vitrine_gpu.settings.Settings, whose environment variables (VITRINE_REGISTRY,
VITRINE_MODEL_DIR, VITRINE_DEVICE, VITRINE_MAX_BATCH_SIZE, VITRINE_MAX_DELAY_MS, VITRINE_MAX_MODELS,
VITRINE_LOG_LEVEL, ...) configure the SageMaker container through the model's Environment; the defaults live there.
One process on purpose: the batcher can only coalesce requests it sees, and one GPU runs one batch at a time.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import uvicorn

from ..settings import DEFAULT_BATCH, DEFAULT_MAX_DELAY_MS, DEFAULT_MAX_MODELS, DEFAULT_MAX_QUEUE_MS, Settings
from .app import create_app
from .model_store import registry_from_model_dir


def parse_args(argv: list[str] | None = None) -> Settings:
    """The flags given on the command line over the environment and the defaults (an absent flag is not a value)."""
    p = argparse.ArgumentParser(
        prog="python -m vitrine_gpu.server",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("--host")
    p.add_argument("--port", type=int, help="default: VITRINE_PORT, SAGEMAKER_BIND_TO_PORT or 8080")
    p.add_argument("--registry", type=Path, help="model registry (default: VITRINE_REGISTRY or .vitrine/registry)")
    p.add_argument(
        "--model-dir",
        type=Path,
        help="SageMaker model dir (/opt/ml/model): a registry, or one heavy version dir; overrides --registry",
    )
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N (default: auto)")
    p.add_argument(
        "--max-batch-size",
        type=int,
        help=f"pairs per score_batch call (default {DEFAULT_BATCH['cuda']} on CUDA, {DEFAULT_BATCH['cpu']} on CPU)",
    )
    p.add_argument(
        "--max-delay-ms",
        type=float,
        help=f"longest wait for more pairs after the first one queues (default {DEFAULT_MAX_DELAY_MS:g})",
    )
    p.add_argument("--max-models", type=int, help=f"heavy versions held at once, LRU (default {DEFAULT_MAX_MODELS})")
    p.add_argument(
        "--no-admission",
        dest="admission",
        action="store_false",
        help="turn admission control off: compute every request, however late (server/admission.py)",
    )
    p.add_argument(
        "--max-queue-ms",
        type=float,
        help=f"shed when the estimated time to answer passes this (default {DEFAULT_MAX_QUEUE_MS:g}; 0 = no bound)",
    )
    p.add_argument("--log-level")
    p.add_argument("--access-log", action="store_true", help="log every request (off: it costs throughput)")
    return Settings(**vars(p.parse_args(argv)))


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.model_dir is not None:
        registry = registry_from_model_dir(settings.model_dir, Path(tempfile.mkdtemp(prefix="vitrine-registry-")))
        logging.getLogger("vitrine_gpu.server").info("model dir %s -> registry %s", settings.model_dir, registry)
        settings = settings.model_copy(update={"registry": registry})
    app = create_app(settings)
    # keep-alive longer than SageMaker's 60 s idle connection reuse, as its container guide asks.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=settings.access_log,
        timeout_keep_alive=75,
    )


if __name__ == "__main__":
    main()
