#!/usr/bin/env bash
# npm run pipeline -- <step> [options]: prepare | train-light | train-heavy | evaluate | export | all
source "$(dirname "$0")/lib.sh"
ensure_venv
exec "$PY" -m vitrine_gpu pipeline "$@"
