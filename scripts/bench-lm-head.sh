#!/usr/bin/env bash
# One thread's LM head (stories15M's by default) for 1, 4 and 8 tokens against the core's measured FMA peak and
# latency, with the weights half in cache and streamed from memory, interleaved in every round: what a beam-4 step's
# head costs against a greedy step's, and how far the kernels are from the FMA units' limit.
#
#   scripts/bench-lm-head.sh [model dir] [rounds]      (defaults: ~/.cache/trtllm/models/stories15M, 5; prints a Markdown table)
#
# Compiles trtllm-core's test classes first (Maven, offline when the dependencies are cached). A benchmark, not a
# test: CI does not run it. The class is trtllm-core/src/test/java/io/trtllm/runtime/cpu/LmHeadBench.java.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
"$JAVA_HOME/bin/java" -version 2>&1 | grep -qE 'version "(2[5-9]|[3-9][0-9])' || JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
export JAVA_HOME
cd "$root"
mvn -B -q -pl trtllm-core test-compile -Dmdep.outputFile=target/bench-classpath.txt dependency:build-classpath >&2
exec "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -cp "trtllm-core/target/test-classes:trtllm-core/target/classes:$(cat trtllm-core/target/bench-classpath.txt)" \
  io.trtllm.runtime.cpu.LmHeadBench "$@"
