#!/usr/bin/env bash
# npm test: every suite. Installs what is missing, trains the reduced models if none are registered, then runs
# lint (Prettier, ESLint, ruff and mypy in check mode), typecheck, vitest in workerd, pytest, integration (real gpu-tier + wrangler dev) and browser tests.
source "$(dirname "$0")/lib.sh"

ensure_node_deps
ensure_venv
ensure_pretrained optional
ensure_models reduced

results=()
failures=() # the failing tests' own lines, repeated after the summary so a CI log's tail names them
failed=0
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
suite() { # name command...
  local name=$1; shift
  say "── $name"
  local t0=$SECONDS log="$logs/suite.log"
  if "$@" 2>&1 | tee "$log"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
    results+=("  ok    $name ($((SECONDS - t0)) s)")
  else
    results+=("  FAIL  $name ($((SECONDS - t0)) s)")
    failed=$((failed + 1))
    # vitest: " FAIL  file > test", "×"/"✗" lines; node --test: "not ok"; pytest: "FAILED"; lint tools: "error"
    mapfile -t lines < <(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^ *(FAIL |×|✗|not ok|FAILED|ERROR)|[0-9]+:[0-9]+ +error ' | head -40)
    failures+=("── $name" "${lines[@]}")
  fi
}

suite lint bash scripts/lint.sh
suite typecheck npm run -s typecheck
suite "vitest (workerd)" npx vitest run --config test/vitest.config.ts
suite "pytest (gpu-tier)" bash scripts/pytest.sh
suite "scripts (node)" node --test test/scripts/
suite integration node --test --test-concurrency=1 test/integration/
suite browser node --test --test-concurrency=1 test/browser/

say "summary"
printf '%s\n' "${results[@]}"
if [ "$failed" -gt 0 ]; then
  say "what failed"
  printf '%s\n' "${failures[@]}"
fi
total=${#results[@]}
echo "suites: $((total - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
