#!/usr/bin/env bash
# npm run release -- [rollback] --kind light|heavy|recs-light|recs-heavy [--version V | --from-dir DIR] [--steps 10,25,50,100]
#   [--step-seconds 60] [--with-load] [--yes] [--edge URL] [--gpu URL,URL]
# build → offline gate → deploy → canary driven through the edge's /admin/releases (README "Releases").
# `rollback --kind K [--store S] [--surface search|recommend] [--reason TEXT]`: the previous production version back.
source "$(dirname "$0")/lib.sh"
ensure_venv
exec "$PY" -m vitrine_gpu release "$@"
