#!/usr/bin/env bash
# npm run retrain -- --store S [--kind K]... [--remote | --from-export F.sql | --db F] [--steps 10,25,50,100]
#   [--step-seconds 60] [--with-load] [--edge URL] [--gpu URL,URL]
# one store's retraining through the release gate: export → train → gate → canary (README "Scheduled retraining").
source "$(dirname "$0")/lib.sh"
ensure_venv
exec "$PY" -m vitrine_gpu retrain "$@"
