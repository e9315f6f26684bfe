#!/usr/bin/env bash
# GPU-tier benchmark: starts the real server with the current heavy model (or --url <running server>) and prints
# device, model version, pairs/s and p50/p99 latency for 1, 16 and 64 concurrent clients × 50 pairs per request.
# Extra arguments go to `python -m vitrine_gpu bench server` (see --help: --levels, --seconds, --device, --url ...).
source "$(dirname "$0")/lib.sh"
ensure_venv
exec "$PY" -m vitrine_gpu bench server "$@"
