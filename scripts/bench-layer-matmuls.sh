#!/usr/bin/env bash
# Every matmul of a decode pass (stories15M's by default), one token against four, on one thread, with the weights as a
# pass leaves the caches (each call in pass order) and cached (a matrix called back to back): why a beam-4 step's
# layer matmuls cost more than greedy's.
#
#   scripts/bench-layer-matmuls.sh [model dir] [rounds] [passes] [engine dir or -] [threads]
#       (defaults: ~/.cache/trtllm/models/stories15M, 4 rounds, 40 passes, the model's own weights, 1 thread; prints a
#        Markdown table; with a CPU engine's directory, ~/.cache/trtllm/engines/<key>, its weights load onto huge pages
#        as the runner loads them; with 2 threads the calls in pass order are split as a pass splits them)
#
# Compiles trtllm-core's test classes first (Maven, offline when the dependencies are cached). A benchmark, not a
# test: CI does not run it. The class is trtllm-core/src/test/java/io/trtllm/runtime/cpu/LayerMatmulBench.java.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
"$JAVA_HOME/bin/java" -version 2>&1 | grep -qE 'version "(2[5-9]|[3-9][0-9])' || JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
export JAVA_HOME
cd "$root"
mvn -B -q -pl trtllm-core test-compile -Dmdep.outputFile=target/bench-classpath.txt dependency:build-classpath >&2
exec "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -cp "trtllm-core/target/test-classes:trtllm-core/target/classes:$(cat trtllm-core/target/bench-classpath.txt)" \
  io.trtllm.runtime.cpu.LayerMatmulBench "$@"
