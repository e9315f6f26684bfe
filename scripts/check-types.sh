#!/usr/bin/env bash
# Fails when worker-configuration.d.ts (`npm run types`) no longer matches wrangler.toml: regenerates it and compares.
# (`wrangler types --check` would also read a local .dev.vars, whose secrets the committed file leaves out.)
set -euo pipefail
cd "$(dirname "$0")/.."
file=worker-configuration.d.ts
before=$(mktemp)
trap 'rm -f "$before"' EXIT
cp "$file" "$before"
npm run -s types >/dev/null
if ! cmp -s "$before" "$file"; then
  echo "$file was stale (wrangler.toml changed): regenerated it; review and commit it" >&2
  diff "$before" "$file" >&2 || true
  exit 1
fi
