"""GPU tier HTTP server (SageMaker container contract, CONTRACTS.md C4; the JSON
contract is in gpu-tier/README.md).

`python -m vitrine_gpu.server --host 127.0.0.1 --port 8080` runs it; `create_app(ServerConfig(...))` builds the ASGI app.
"""
from __future__ import annotations

from .app import ServerConfig, create_app

__all__ = ["ServerConfig", "create_app"]
