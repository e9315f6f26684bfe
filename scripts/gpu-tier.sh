#!/usr/bin/env bash
# npm run gpu-tier [-- --port N ...]: the GPU tier alone (e.g. to bring it back under a running `npm start`).
source "$(dirname "$0")/lib.sh"
ensure_venv
export VITRINE_GPU_ADMIN_TOKEN=${VITRINE_GPU_ADMIN_TOKEN:-$(dev_var ADMIN_TOKEN)} VITRINE_DRILL_SECRET=${VITRINE_DRILL_SECRET:-$(dev_var DRILL_SECRET)}
exec "$PY" -m vitrine_gpu server --host 127.0.0.1 --port "${VITRINE_GPU_PORT:-8080}" "$@"
