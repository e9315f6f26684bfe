#!/usr/bin/env bash
# npm run eval:recommend -- --transactions FILE [--store online-retail] [--edge URL]
# Asks the running edge's GET /v1/recommend for every returning customer of FILE and prints Recall@20 / NDCG@20 with
# CIs next to the offline baselines fitted on the history the edge has loaded (python -m vitrine_gpu eval-recommend).
source "$(dirname "$0")/lib.sh"
ensure_venv
exec "$PY" -m vitrine_gpu eval-recommend "$@"
