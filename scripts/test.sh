#!/usr/bin/env bash
# npm test: every suite. Installs what is missing, trains the reduced models if none are registered, then runs
# lint (Prettier, ESLint, ruff and mypy in check mode), typecheck, vitest in workerd, pytest, integration (real gpu-tier + wrangler dev) and browser tests.
source "$(dirname "$0")/lib.sh"

ensure_node_deps
ensure_venv
ensure_pretrained optional
ensure_models reduced

results=()
failed=0
suite() { # name command...
  local name=$1; shift
  say "── $name"
  local t0=$SECONDS
  if "$@"; then results+=("  ok    $name ($((SECONDS - t0)) s)"); else results+=("  FAIL  $name ($((SECONDS - t0)) s)"); failed=$((failed + 1)); fi
}

suite lint bash scripts/lint.sh
suite typecheck npm run -s typecheck
suite "vitest (workerd)" npx vitest run --config test/vitest.config.ts
suite "pytest (gpu-tier)" bash scripts/pytest.sh
suite integration node --test --test-concurrency=1 test/integration/
suite browser node --test --test-concurrency=1 test/browser/

say "summary"
printf '%s\n' "${results[@]}"
total=${#results[@]}
echo "suites: $((total - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
