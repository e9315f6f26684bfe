"""GPU tier HTTP server (SageMaker container contract, CONTRACTS.md C4; the JSON
contract is in gpu-tier/README.md).

`python -m vitrine_gpu server --host 127.0.0.1 --port 8080` runs it (``app.serve``); `create_app(Settings(...))` builds
the ASGI app (vitrine_gpu/settings.py: every setting, its default and its environment variable).
"""

from __future__ import annotations

from ..settings import Settings
from .app import create_app

__all__ = ["Settings", "create_app"]
