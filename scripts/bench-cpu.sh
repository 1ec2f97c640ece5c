#!/usr/bin/env bash
# CPU benchmark of the builtin stories15M model: single-stream greedy decode and prefill speed.
#   scripts/bench-cpu.sh [runs]        (default 5 runs of each; prints the median and every run)
# Results go to docs/PERFORMANCE.md by hand, with machine, date and this command.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-5}"
cd "$root"

# Long prompt for prefill (about 150 tokens); short prompt + 200 new tokens for decode.
long_prompt="Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. \
One day, she saw a big, red ball in the sky. It was the sun! She thought it was so pretty. Lily wanted to play \
with the ball, but it was too high up in the sky. She tried to jump and reach it, but she couldn't. Then, she had \
an idea. She would use a stick to knock the ball down. Lily found a stick and tried to hit the ball. But the stick \
was too short. She tried again and again, but she couldn't reach it. She felt sad."

./trtllm generate --model stories15M --prompt "warm up" --max-tokens 8 --temperature 0 >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

decode=(); prefill=(); rss=(); heap=()
for ((i = 0; i < runs; i++)); do
  out=$(./trtllm generate --model stories15M --prompt "Once upon a time" --max-tokens 200 --temperature 0 --stats 2>/dev/null)
  decode+=("$(grep '^decode:' <<<"$out" | awk '{print $2}')")
  rss+=("$(grep '^peak RSS:' <<<"$out" | awk '{print $3}')")
  heap+=("$(grep '^peak heap:' <<<"$out" | awk '{print $3}')")
  out=$(./trtllm generate --model stories15M --prompt "$long_prompt" --max-tokens 8 --temperature 0 --stats 2>/dev/null)
  prefill+=("$(grep '^prefill:' <<<"$out" | awk '{print $2}') ($(grep '^prefill:' <<<"$out" | grep -o '[0-9]* tokens'))")
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
echo "decode tok/s (200 new tokens, greedy): median $(printf '%s\n' "${decode[@]}" | median)  runs: ${decode[*]}"
echo "prefill tok/s: median $(printf '%s\n' "${prefill[@]}" | awk '{print $1}' | median)  runs: ${prefill[*]}"
echo "peak RSS MiB: median $(printf '%s\n' "${rss[@]}" | median); peak heap MiB: median $(printf '%s\n' "${heap[@]}" | median)"
