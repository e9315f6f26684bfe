#!/usr/bin/env bash
# npm run eval:search -- --queries FILE --labels FILE [--edge URL]
# Sends each query's judged pool through the running edge's POST /v1/rerank and prints nDCG / nDCG@10 with CIs.
source "$(dirname "$0")/lib.sh"
ensure_venv
exec "$PY" -m vitrine_gpu eval-search "$@"
