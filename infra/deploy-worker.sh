#!/usr/bin/env bash
# npm run deploy — ship the edge worker to a Cloudflare account with wrangler.
#   1. creates the D1 database and KV namespace on first deploy and writes their ids into wrangler.toml
#   2. applies D1 migrations remotely, loads the catalog if the remote products table is empty or lacks the
#      precomputed token columns (rows loaded before migration 0005: served correctly, but tokenised per request)
#   3. asks for missing secrets (AWS keys for InvokeEndpoint, ADMIN_TOKEN, DRILL_SECRET)
#   4. wrangler deploy, with GPU_* vars from the environment overriding wrangler.toml
# Needs CLOUDFLARE_API_TOKEN (or `wrangler login`) and a trained registry (npm run pipeline -- all).
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false WRANGLER_HIDE_BANNER=true
W="npx wrangler"

if grep -q '00000000-0000-4000-8000-000000000000' wrangler.toml; then
  id=$($W d1 create vitrine --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["uuid"])' \
    || $W d1 info vitrine --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["uuid"])')
  sed -i "s/00000000-0000-4000-8000-000000000000/$id/" wrangler.toml
  echo "D1 database vitrine: $id"
fi
if grep -q 'id = "00000000000000000000000000000000"' wrangler.toml; then
  kv=$($W kv namespace create KV 2>&1 | sed -n 's/.*id = "\([0-9a-f]*\)".*/\1/p' | head -1)
  [ -n "$kv" ] && sed -i "s/id = \"00000000000000000000000000000000\"/id = \"$kv\"/" wrangler.toml
  echo "KV namespace: $kv"
fi
# the catalogue shards (README "Scale"): each placeholder id 00000000-0000-4000-8000-00000000000N becomes the database
# vitrine-catalog-N, created on first deploy; each gets the same migrations as vitrine
for n in $(sed -n 's/^database_id = "00000000-0000-4000-8000-0000000000\([0-9][0-9]\)".*/\1/p' wrangler.toml); do
  [ "$n" = 00 ] && continue # DB (above)
  name="vitrine-catalog-$((10#$n))"
  sid=$($W d1 create "$name" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["uuid"])' \
    || $W d1 info "$name" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["uuid"])')
  sed -i "s/00000000-0000-4000-8000-0000000000$n/$sid/" wrangler.toml
  echo "D1 database $name: $sid"
done
for name in $(sed -n 's/^database_name = "\(vitrine-catalog-[0-9]*\)".*/\1/p' wrangler.toml); do
  $W d1 migrations apply "$name" --remote
done

$W d1 migrations apply vitrine --remote
counts=$($W d1 execute vitrine --remote --json --command "SELECT count(*) AS n, count(text_terms) AS t FROM products" \
  | python3 -c 'import json,sys; r=json.load(sys.stdin)[0]["results"][0]; print(r["n"], r["t"])')
read -r n filled <<< "$counts"
if [ "$n" = 0 ] || [ "$filled" != "$n" ]; then
  $W d1 execute vitrine --remote --file .vitrine/catalog/catalog.sql
  $W d1 execute vitrine --remote --file .vitrine/registry/seed.sql
fi

existing=$($W secret list 2>/dev/null || echo "[]")
for s in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY ADMIN_TOKEN DRILL_SECRET; do
  echo "$existing" | grep -q "\"$s\"" || $W secret put "$s"
done

vars=()
for v in GPU_ENDPOINT_NAME GPU_REGION GPU_SECONDARY_ENDPOINT_NAME GPU_SECONDARY_REGION GPU_DEADLINE_MS; do
  [ -n "${!v:-}" ] && vars+=(--var "$v:${!v}")
done
$W deploy "${vars[@]}"
