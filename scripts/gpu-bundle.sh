#!/usr/bin/env bash
# Builds what the GPU machine (no Java, no Maven, no network) needs to run the GPU tests and the GPU
# benchmark with scripts/gpu-test.sh, in two xz archives: .gpu/app.tar.xz (classes, test-classes; rebuilt
# every time) and .gpu/base.tar.xz (the rest; built when missing or with --full):
#   jre/            jlink'd Java 25 (java.base, jdk.incubator.vector, java.logging, jdk.unsupported, java.management)
#   classes/, test-classes/, lib/*.jar   trtllm-core and its runtime + test jars, linux-x86_64 natives only
#   cli-classes/    trtllm-cli (io.trtllm.cli.Main, the benchmarks' command line); its picocli jar in lib/
#                   (bytedeco cuda: cudart, cuBLAS, NVRTC, NCCL JNI libraries; they link the machine's CUDA 13)
#   tools/junit-platform-console-standalone.jar
#   stories15M-bf16/   the builtin model as a BF16 CUDA engine for any GPU (trtllm build), ~30 MB instead of 60
# (assertj without byte-buddy: plain assertThat needs none.) xz-compressed (~52 MB): one `run` call carries at most 64 MiB. .gpu/ is git-ignored.
#   scripts/gpu-bundle.sh [--full]   then, on the GPU machine:  scripts/gpu-test.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
junit_version="6.0.3"
nice="nice -n 19"
stage=.gpu/stage
full=false
[[ "${1:-}" == "--full" || ! -f .gpu/base.tar.xz ]] && full=true
# A base made before the command line had a module of its own lacks picocli (cli-classes/ needs it): rebuild it.
if ! $full && ! { tar -tJf .gpu/base.tar.xz || true; } | grep -q '^\./lib/picocli-'; then
  echo "gpu-bundle: .gpu/base.tar.xz has no picocli jar; building it again" >&2
  full=true
fi
rm -rf "$stage" .gpu/app.tar.xz
mkdir -p "$stage/app" "$stage/base/lib" "$stage/base/tools"

echo "gpu-bundle: compiling trtllm-core (main + tests) and trtllm-cli ..." >&2
$nice mvn -B -q -pl trtllm-core,trtllm-cli -am test-compile -DskipTests
cp -r trtllm-core/target/classes "$stage/app/classes"
cp -r trtllm-core/target/test-classes "$stage/app/test-classes"
cp -r trtllm-cli/target/classes "$stage/app/cli-classes"
# The ArchUnit rules run in CI, not on the GPU: their classes (and ArchUnit's jars, below) stay out of the bundle,
# which has to fit one run call (64 MiB with the working tree).
for rule in ArchitectureTests ArchitectureRulesTests TestKindsTests TestKindsRulesTests testing/Architecture testing/TestKinds; do
  rm -f "$stage/app/test-classes/io/trtllm/$rule.class" "$stage/app/test-classes/io/trtllm/$rule"'$'*.class
done
if grep -rlq "com/tngtech" "$stage/app/test-classes"; then
  echo "gpu-bundle: a test class outside the ArchUnit rules uses ArchUnit: $(grep -rl com/tngtech "$stage/app/test-classes" | head -3)" >&2
  exit 1
fi
tar -C "$stage/app" -cf - . | $nice xz -6 -T2 > .gpu/app.tar.xz
if ! $full; then
  rm -rf "$stage"
  echo "gpu-bundle: .gpu/app.tar.xz rebuilt, .gpu/base.tar.xz kept ($(du -ch .gpu/*.tar.xz | tail -1 | cut -f1) in all)" >&2
  exit 0
fi
stage="$stage/base"
rm -f .gpu/base.tar.xz
$nice mvn -B -q -pl trtllm-core dependency:copy-dependencies -DincludeScope=test -DoutputDirectory="$root/$stage/lib" \
  -DexcludeGroupIds=org.junit.jupiter,org.junit.platform,org.opentest4j,org.apiguardian,com.tngtech.archunit \
  -DexcludeArtifactIds=byte-buddy
$nice mvn -B -q dependency:copy -Dartifact="org.junit.platform:junit-platform-console-standalone:$junit_version" \
  -DoutputDirectory="$root/$stage/tools" -Dmdep.stripVersion=true
# trtllm-cli's own dependency (the rest of its class path is trtllm-core's, above).
picocli_version=$(sed -n 's:.*<picocli.version>\(.*\)</picocli.version>.*:\1:p' pom.xml)
$nice mvn -B -q dependency:copy -Dartifact="info.picocli:picocli:$picocli_version" -DoutputDirectory="$root/$stage/lib"

# Natives for linux-x86_64 only, and of the CUDA presets only what the backend loads.
python3 - "$stage/lib" <<'EOF'
import os, sys, zipfile
lib = sys.argv[1]
def keep(jar, name):
    if "tokenizers" in jar and name.startswith("native/lib/") and not name.startswith("native/lib/linux-x86_64") \
            and name != "native/lib/tokenizers.properties":
        return False
    if jar.startswith("cuda-") and "linux-x86_64" in jar and name.endswith(".so"):
        return any(k in name for k in ("jnicudart", "jnicublas", "jninvrtc", "jninccl"))
    return True
for jar in sorted(os.listdir(lib)):
    path = os.path.join(lib, jar)
    with zipfile.ZipFile(path) as z:
        entries = [i for i in z.infolist() if keep(jar, i.filename)]
        if len(entries) == len(z.infolist()):
            continue
        tmp = path + ".tmp"
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
            for i in entries:
                out.writestr(i, z.read(i.filename))
    os.replace(tmp, path)
EOF

echo "gpu-bundle: jlink ..." >&2
# No java.desktop here (java.beans, for jinjava's chat templates, brings 18 MB of classes and java.xml: the bundle
# would not fit a call); scripts/gpu-bundle-llama8b.sh, whose Llama 3 tokenizer has a chat template, links its own.
$nice "$JAVA_HOME/bin/jlink" --add-modules java.base,jdk.incubator.vector,java.logging,jdk.unsupported,java.management,jdk.management \
  --strip-debug --no-header-files --no-man-pages --output "$stage/jre" 2>/dev/null
# The JDK ships libjvm.so with its symbol table (30 MB); without it the bundle keeps a margin under 64 MiB.
if command -v strip >/dev/null; then find "$stage/jre" -name '*.so' -exec strip --strip-unneeded {} +; fi

# For any GPU: NVRTC cannot run here (no NVIDIA driver), so the engine carries no kernels and the runner compiles
# them at load; the GPU tests build engines with kernels there (CudaEngineKernelsGpuTests).
echo "gpu-bundle: stories15M as a BF16 engine ..." >&2
TRTLLM_JAVA_OPTS="${TRTLLM_JAVA_OPTS:-}" $nice ./trtllm build --backend cuda --cuda-arch any --model stories15M --dtype bf16 \
  --output "$stage/stories15M-bf16" >&2

echo "gpu-bundle: compressing ..." >&2
tar -C "$stage" -cf - . | $nice xz -6 -T2 > .gpu/base.tar.xz
rm -rf .gpu/stage
size=$(( $(stat -c %s .gpu/base.tar.xz) + $(stat -c %s .gpu/app.tar.xz) ))
tree=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
echo "gpu-bundle: .gpu/base.tar.xz + .gpu/app.tar.xz $((size / 1048576)) MiB, working tree $((tree / 1048576)) MiB" >&2
if (( size + tree > 63 * 1048576 )); then
  echo "gpu-bundle: bundle and working tree over 63 MiB; a run call carries at most 64 MiB in all" >&2
  exit 1
fi
