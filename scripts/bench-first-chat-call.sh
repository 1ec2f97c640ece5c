#!/usr/bin/env bash
# The first Spring AI ChatModel calls after Spring Boot start-up against warm ones (issue 21 item 1): each round starts
# a fresh JVM of FirstChatCallBench (trtllm-spring-boot-autoconfigure's test tree: a context with the builtin stories15M
# on the CPU, then a long-prompt call for its prefill and a 200-token greedy call, then 8 more pairs), once with the
# start-up warm-ups as configured and once with the chat model's warm-up off (trtllm.warmup.chat-model=false), so that
# both meet the same machine load.
#
#   scripts/bench-first-chat-call.sh [--rounds N] [--work DIR] [--nice N] [--also PROPERTY=VALUE]
#
#   --rounds  interleaved rounds (default 3)
#   --work    where each run's output goes (default /tmp/trtllm-bench-first-chat-call)
#   --nice N  niceness of the runs (default 10)
#   --also    one more run per round with this Spring property (e.g. --also trtllm.warmup.requests=false)
#
# Prints per run: time-to-ready (JVM start to ApplicationReadyEvent), the first prefill call's wall time and the engine's
# time to first token against the median of the warm ones, and the same for the decode call's tok/s. Builds the module's
# test classes first (offline Maven). A benchmark, not a test: CI does not run it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds=3
work=/tmp/trtllm-bench-first-chat-call
niceness=10
also=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --nice) niceness="$2"; shift 2 ;;
    --also) also="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench-first-chat-call: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "bench-first-chat-call: --rounds must be a positive number, got '$rounds'" >&2; exit 2; }
[[ "$niceness" =~ ^-?[0-9]+$ ]] || { echo "bench-first-chat-call: --nice must be a number, got '$niceness'" >&2; exit 2; }
[[ -z "$also" || "$also" =~ ^trtllm\.[a-z.-]+=[A-Za-z0-9._-]+$ ]] \
  || { echo "bench-first-chat-call: --also must be trtllm.<key>=<value>, got '$also'" >&2; exit 2; }
JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
mkdir -p "$work"
module="$root/trtllm-spring-boot-autoconfigure"
(cd "$root" && mvn -B -q -o -pl trtllm-spring-boot-autoconfigure -am test-compile dependency:build-classpath \
  -Dmdep.includeScope=test -Dmdep.outputFile="$work/classpath.txt") >&2
cp="$module/target/test-classes:$module/target/classes:$(cat "$work/classpath.txt")"

# summary FILE: "ready <ms> | prefill call <first> ms (warm <median>), ttft <first> (warm <median>) | decode <first>
# tok/s (warm <median>)"
summary() {
  awk '
    /^ready:/ { ready = $2 }
    /^first:|^run [0-9]+:/ {
      call = $0; sub(/.*prefill call /, "", call); sub(/ ms.*/, "", call)
      ttft = $0; sub(/.*\(engine: [0-9]+ tokens, [0-9]+ tok\/s, ttft /, "", ttft); sub(/ ms.*/, "", ttft)
      dec = $0; sub(/.*decode call [0-9.]+ ms \(engine: /, "", dec); sub(/ tok\/s.*/, "", dec)
      if ($1 == "first:") { fc = call; ft = ttft; fd = dec } else { n++; c[n] = call; t[n] = ttft; d[n] = dec }
    }
    function median(a, n,   i, j, x) {
      for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END {
      if (n == 0) { print "no result"; exit }
      printf "ready %s ms | prefill call %s ms (warm %.1f), engine ttft %s ms (warm %.2f) | decode %s tok/s (warm %.0f)\n",
        ready, fc, median(c, n), ft, median(t, n), fd, median(d, n)
    }' "$1"
}

modes=(on off)
[[ -n "$also" ]] && modes+=(also)
for ((r = 1; r <= rounds; r++)); do
  for mode in "${modes[@]}"; do
    case "$mode" in
      on) props=() ;;
      off) props=(--trtllm.warmup.chat-model=false) ;;
      also) props=("--$also") ;;
    esac
    out="$work/$mode-$r.out"
    load="$(sed 's/.*load average: //' <<< "$(uptime)")"
    nice -n "$niceness" "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
      -XX:+UseParallelGC -cp "$cp" io.trtllm.spring.boot.FirstChatCallBench --logging.level.root=WARN "${props[@]}" \
      > "$out" 2> "$work/$mode-$r.err" || { echo "round $r $mode: failed, see $work/$mode-$r.err" >&2; continue; }
    printf 'round %d %-5s load %-16s %s\n' "$r" "$mode" "$load" "$(summary "$out")"
  done
done
