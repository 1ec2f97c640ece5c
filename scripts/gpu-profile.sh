#!/usr/bin/env bash
# Per-step GPU times (CudaStepProfileGpuTests: StepProfile, -Dtrtllm.cuda.profile=true) of one prefill pass
# (128-token prompts) and one decode pass at batch 1, 64 and 256, with the row attention kernel, with the
# tensor-core / split kernels and with the GQA decode kernel, on stories15M and on PROFILE_LAYERS (default 4) decoder layers of the
# Llama-3.1-8B shape (random BF16 weights, scripts/reference/make_llama8b_shape.py --layers; per-layer steps
# are the full model's per layer, embed and LM head as in the full model). Run ON the GPU machine from the
# repository root after scripts/gpu-bundle.sh here (the bundle in $GPU_BUNDLE_DIR, default .gpu); this script
# and make_llama8b_shape.py may sit in .gpu/ beside the bundle. Results: $OUT/gpu-results.txt, $OUT/profile.log.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${OUT:-$(pwd)/gpu-out}"; mkdir -p "$out"
layers="${PROFILE_LAYERS:-4}"
stage="${TRTLLM_GPU_STAGE:-/root/stage}"; model="$stage/llama8b-${layers}l"
make="$here/make_llama8b_shape.py"; [[ -f "$make" ]] || make="$here/reference/make_llama8b_shape.py"
GPU_TEST_STEPS=none bash scripts/gpu-test.sh > /dev/null   # unpacks the bundle into /tmp/trtllm-gpu
work="${TRTLLM_GPU_WORK:-/tmp/trtllm-gpu}"
java="$work/jre/bin/java"
cp="$work/classes:$(printf '%s:' "$work"/lib/*.jar)"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
mkdir -p "$stage"
[[ -f "$model/model.safetensors.index.json" ]] || python3 "$make" "$model" --layers "$layers" 2>&1 | tail -2
"$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xss4m -Xmx32g \
  -Dtrtllm.gpu.model="$work/stories15M-bf16" -Dtrtllm.gpu.profileModel="$model" -Dtrtllm.gpu.results="$out/gpu-results.txt" \
  -jar "$work/tools/junit-platform-console-standalone.jar" execute --class-path "$work/test-classes:$cp" \
  --include-tag gpu --select-class io.trtllm.runtime.cuda.CudaStepProfileGpuTests \
  --details=tree --disable-banner --disable-ansi-colors > "$out/profile.log" 2>&1
status=$?
grep -E "tests (successful|failed)|\[gpu\]|✘" "$out/profile.log" | head -60
exit $status
