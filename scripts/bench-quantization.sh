#!/usr/bin/env bash
# Single-stream decode of stories15M, F32 vs INT8 vs INT4 interleaved, then cold vs warm LLM load.
#   scripts/bench-quantization.sh [rounds]          (default 3 rounds; run it when `uptime` shows a quiet machine)
# Every run is `./trtllm bench --latency` on the converted stories15M checkpoint with a private engine
# cache (so nothing is evicted from ~/.cache/trtllm); its `load:` line separates the engine
# (built or loaded from the cache), the runner setup and the JIT warm-up.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-3}"
model="${TRTLLM_BENCH_MODEL:-$HOME/.cache/trtllm/models/stories15M}"
cache="$(mktemp -d /tmp/trtllm-bench-cache.XXXXXX)"
trap 'rm -rf "$cache"' EXIT
if [[ ! -f "$model/config.json" ]]; then
  echo "no converted stories15M at $model: run './trtllm generate --prompt hi' once, or set TRTLLM_BENCH_MODEL" >&2
  exit 1
fi
bench() { "$root/trtllm" bench --latency --model "$model" --cache-dir "$cache" "$@" 2>/dev/null; }

echo "== $(date -u +%FT%TZ) $(uptime)"
for q in none int8 int4; do bench --quantization "$q" --runs 1 --warmup-runs 0 >/dev/null; done  # build the engines
for ((i = 1; i <= rounds; i++)); do
  for q in none int8 int4; do
    echo "-- round $i, quantization $q"
    bench --quantization "$q" | grep -E '^(decode|prefill|load):'
  done
done

echo "== cold (engine built) vs warm (engine from the cache) load, F32 and INT8"
for ((i = 1; i <= rounds; i++)); do
  for q in none int8; do
    rm -rf "$cache/engines"
    echo "-- round $i, $q, cold:  $(bench --quantization "$q" --runs 1 --warmup-runs 0 | grep '^load:')"
    echo "-- round $i, $q, warm:  $(bench --quantization "$q" --runs 1 --warmup-runs 0 | grep '^load:')"
  done
done
