#!/usr/bin/env bash
# One thread's matmul speed by weight format (F32, INT8, INT4) and token count (1 to 128) on stories15M's matrix
# shapes, the formats interleaved in every round: where a quantized engine's kernels gain or lose against float32.
#
#   scripts/bench-quantized-matmul.sh [rounds]      (default 7; prints a Markdown table)
#   BENCH=IntegerDotBench scripts/bench-quantized-matmul.sh [rounds]   (the W4A8 and W8A8 inner-loop candidates, default 8)
#
# Compiles trtllm-core's test classes first (Maven, offline when the dependencies are cached). A benchmark, not a
# test: CI does not run it. The class is trtllm-core/src/test/java/io/trtllm/runtime/cpu/QuantizedMatmulBench.java.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
"$JAVA_HOME/bin/java" -version 2>&1 | grep -qE 'version "(2[5-9]|[3-9][0-9])' || JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
export JAVA_HOME
cd "$root"
mvn -B -q -pl trtllm-core test-compile -Dmdep.outputFile=target/bench-classpath.txt dependency:build-classpath >&2
exec "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -cp "trtllm-core/target/test-classes:trtllm-core/target/classes:$(cat trtllm-core/target/bench-classpath.txt)" \
  "io.trtllm.runtime.cpu.${BENCH:-QuantizedMatmulBench}" "$@"
