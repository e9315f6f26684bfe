#!/usr/bin/env bash
# gpu-tier tests (contract, batching, features, models, evaluation) with the project's virtualenv.
source "$(dirname "$0")/lib.sh"
ensure_venv
exec "$PY" -m pytest -q gpu-tier/tests "$@"
