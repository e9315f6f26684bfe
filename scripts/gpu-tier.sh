#!/usr/bin/env bash
# npm run gpu-tier [-- --port N ...]: the GPU tier alone (e.g. to bring it back under a running `npm start`).
source "$(dirname "$0")/lib.sh"
ensure_venv
exec "$PY" -m vitrine_gpu.server --host 127.0.0.1 --port "${VITRINE_GPU_PORT:-8080}" "$@"
