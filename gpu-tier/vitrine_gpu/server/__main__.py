"""`python -m vitrine_gpu.server --host 127.0.0.1 --port 8080` — the GPU tier server (uvicorn, one process).

Every flag has an environment default so the SageMaker container can be configured through the model's Environment:
VITRINE_REGISTRY (or VITRINE_MODEL_DIR), VITRINE_DEVICE, VITRINE_MAX_BATCH_SIZE, VITRINE_MAX_DELAY_MS, VITRINE_MAX_MODELS, VITRINE_LOG_LEVEL.
One process on purpose: the batcher can only coalesce requests it sees, and one GPU runs one batch at a time.
"""
from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path

import uvicorn

from .app import ServerConfig, create_app
from .model_store import registry_from_model_dir


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = ServerConfig()
    p = argparse.ArgumentParser(prog="python -m vitrine_gpu.server", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default=os.environ.get("VITRINE_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("VITRINE_PORT", os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))))
    p.add_argument("--registry", type=Path, default=d.registry, help="model registry (default: VITRINE_REGISTRY or .vitrine/registry)")
    p.add_argument("--model-dir", type=Path, default=os.environ.get("VITRINE_MODEL_DIR") or None,
                   help="SageMaker model dir (/opt/ml/model): a registry, or one heavy version dir; overrides --registry")
    p.add_argument("--device", default=d.device, help="auto | cpu | cuda | cuda:N (default: auto)")
    p.add_argument("--max-batch-size", type=int, default=d.max_batch_size, help="pairs per score_batch call (default 256 on CUDA, 64 on CPU)")
    p.add_argument("--max-delay-ms", type=float, default=d.max_delay_ms,
                   help="longest wait for more pairs after the first one queues (default 5)")
    p.add_argument("--max-models", type=int, default=d.max_models, help="heavy versions held at once, LRU (default 3)")
    p.add_argument("--log-level", default=os.environ.get("VITRINE_LOG_LEVEL", "info"))
    p.add_argument("--access-log", action="store_true", help="log every request (off: it costs throughput)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    registry = args.registry
    if args.model_dir is not None:
        registry = registry_from_model_dir(args.model_dir, Path(tempfile.mkdtemp(prefix="vitrine-registry-")))
        logging.getLogger("vitrine_gpu.server").info("model dir %s -> registry %s", args.model_dir, registry)
    config = ServerConfig(registry=registry, device=args.device, max_batch_size=args.max_batch_size,
                          max_delay_ms=args.max_delay_ms, max_models=args.max_models)
    app = create_app(config)
    # keep-alive longer than SageMaker's 60 s idle connection reuse, as its container guide asks.
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level.lower(), access_log=args.access_log,
                timeout_keep_alive=75)


if __name__ == "__main__":
    main()
