#!/usr/bin/env bash
# The CPU runner's decode pass by row count on stories15M (or another checkpoint directory): one row asking for its
# argmax (a greedy step) against four rows asking for their logits rows (a beam-4 step) and four asking for their
# argmax, interleaved in every round; what a beam-4 step's forward pass costs against greedy's.
#
#   scripts/bench-decode-pass.sh [model dir] [rounds] [steps] [threads] [engine dir]
#       (defaults: ~/.cache/trtllm/models/stories15M, 5 rounds, 100 steps, 2 threads, the model's own weights; prints a
#        Markdown table; with a CPU engine's directory, ~/.cache/trtllm/engines/<key>, its weights load onto huge pages
#        as the runner loads them for trtllm bench, where the model's own are packed at load on ordinary pages)
#
# Compiles trtllm-core's test classes first (Maven, offline when the dependencies are cached). A benchmark, not a
# test: CI does not run it. The class is trtllm-core/src/test/java/io/trtllm/runtime/cpu/DecodePassBench.java.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
"$JAVA_HOME/bin/java" -version 2>&1 | grep -qE 'version "(2[5-9]|[3-9][0-9])' || JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
export JAVA_HOME
cd "$root"
mvn -B -q -pl trtllm-core test-compile -Dmdep.outputFile=target/bench-classpath.txt dependency:build-classpath >&2
exec "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -cp "trtllm-core/target/test-classes:trtllm-core/target/classes:$(cat trtllm-core/target/bench-classpath.txt)" \
  io.trtllm.runtime.cpu.DecodePassBench "$@"
