#!/usr/bin/env bash
# Formatters and linters, configured once: Prettier + ESLint (TypeScript, JavaScript), dependency-cruiser (the edge's
# module layering: .dependency-cruiser.cjs), ruff and mypy (Python).
#   npm run lint      check mode (what npm test runs), mypy included (mypy.ini: gpu-tier/vitrine_gpu, its tests, infra)
#   npm run format    apply the formatters and the safe lint fixes (no type check)
source "$(dirname "$0")/lib.sh"
ensure_venv
if [ "${1:-}" = --fix ]; then
  npx prettier --log-level warn --write .
  npx eslint --fix .
  "$VENV/bin/ruff" format .
  "$VENV/bin/ruff" check --fix .
else
  npx prettier --log-level warn --check .
  npx eslint .
  npx depcruise edge --config .dependency-cruiser.cjs
  "$VENV/bin/ruff" format --check .
  "$VENV/bin/ruff" check .
  "$PY" -m mypy
fi
