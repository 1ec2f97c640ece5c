#!/usr/bin/env bash
# Runs the GPU tests (JUnit tag "gpu") and the GPU benchmarks from .gpu/base.tar.xz + .gpu/app.tar.xz
# (in $GPU_BUNDLE_DIR, default .gpu; made by scripts/gpu-bundle.sh). Run ON the GPU machine, from the repository root; results go to $OUT
# (default ./gpu-out):
#   gpu-results.txt   measurements the tests recorded (agreement lengths, tolerances, memory)
#   gpu-tests.log     the JUnit tree (gpu-tests-fault.log: the tests tagged gpu-fault, run in a JVM of their own)
#   gpu-feed.txt      one line per finished test as it finishes (GpuTestFeed): what passed survives a run stopped by its limit
#   bench-latency.txt, bench-throughput.txt, bench-throughput.json
#   env.txt           nvidia-smi, java -version
# Steps: GPU_TEST_STEPS="tests latency throughput" (default all). GPU_TEST_CLASSES="io.trtllm.x.ATests ..." runs only
# those test classes (default: every class of io.trtllm tagged gpu).
set -uo pipefail
root="$(pwd)"
out="${OUT:-$root/gpu-out}"
work="${TRTLLM_GPU_WORK:-/tmp/trtllm-gpu}"
steps="${GPU_TEST_STEPS:-tests latency throughput}"
select=(--select-package io.trtllm)
if [[ -n "${GPU_TEST_CLASSES:-}" ]]; then
  select=()
  for c in $GPU_TEST_CLASSES; do select+=(--select-class "$c"); done
fi
bundle_dir="${GPU_BUNDLE_DIR:-.gpu}"
mkdir -p "$out"
rm -rf "$work" && mkdir -p "$work"
for part in base app; do
  if ! tar -xJf "$bundle_dir/$part.tar.xz" -C "$work" 2>/dev/null; then
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$bundle_dir/$part.tar.xz" "$work" || exit 1
  fi
done
java="$work/jre/bin/java"
flags=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xss4m)
cp="$work/classes:$(printf '%s:' "$work"/lib/*.jar)"
cli_cp="$work/cli-classes:$cp"   # the command line (trtllm-cli) on top of trtllm-core
model="$work/stories15M-bf16"
export TRTLLM_CACHE_DIR="$work/cache"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
{ nvidia-smi; "$java" -version; } > "$out/env.txt" 2>&1
status=0

if [[ " $steps " == *" tests "* ]]; then
  # Tests tagged gpu-fault break the CUDA context of their process on purpose: they run last, in a JVM of their own.
  "$java" "${flags[@]}" -Dtrtllm.gpu.model="$model" -Dtrtllm.gpu.results="$out/gpu-results.txt" -Dtrtllm.gpu.feed="$out/gpu-feed.txt" \
    -jar "$work/tools/junit-platform-console-standalone.jar" execute \
    --class-path "$work/test-classes:$cp" --include-tag gpu --exclude-tag gpu-fault "${select[@]}" \
    --details=tree --disable-banner --disable-ansi-colors > "$out/gpu-tests.log" 2>&1 || status=1
  grep -E "tests (successful|failed)|\[gpu\]|✘" "$out/gpu-tests.log" | head -80
  "$java" "${flags[@]}" -Dtrtllm.gpu.model="$model" -Dtrtllm.gpu.results="$out/gpu-results.txt" -Dtrtllm.gpu.feed="$out/gpu-feed.txt" \
    -jar "$work/tools/junit-platform-console-standalone.jar" execute \
    --class-path "$work/test-classes:$cp" --include-tag gpu-fault "${select[@]}" \
    --details=tree --disable-banner --disable-ansi-colors > "$out/gpu-tests-fault.log" 2>&1 || status=1
  grep -E "tests (successful|failed)|\[gpu\]|✘" "$out/gpu-tests-fault.log" | head -20
fi
if [[ " $steps " == *" latency "* ]]; then
  "$java" "${flags[@]}" -cp "$cli_cp" io.trtllm.cli.Main bench --latency --backend cuda --model "$model" \
    > "$out/bench-latency.txt" 2>&1 || status=1
  tail -n 15 "$out/bench-latency.txt"
fi
if [[ " $steps " == *" throughput "* ]]; then
  "$java" "${flags[@]}" -cp "$cli_cp" io.trtllm.cli.Main bench --backend cuda --model "$model" --concurrency 64 \
    --num-requests 128 --json "$out/bench-throughput.json" > "$out/bench-throughput.txt" 2>&1 || status=1
  tail -n 25 "$out/bench-throughput.txt"
fi
exit $status
