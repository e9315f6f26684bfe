#!/usr/bin/env bash
# gpu-tier tests (contract, batching, features, models, evaluation, releases) and infra tests (moto) with the project's virtualenv.
source "$(dirname "$0")/lib.sh"
ensure_venv
exec "$PY" -m pytest -q gpu-tier/tests infra/tests "$@"
