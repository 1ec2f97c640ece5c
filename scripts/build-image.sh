#!/usr/bin/env bash
# Builds the OCI image of the OpenAI-compatible server (the sample app) with podman, from this checkout:
#   scripts/build-image.sh [--skip-maven] [--tag NAME:TAG] [--cuda-base IMAGE]
# Default tag localhost/trtllm-server:<project version> (also :latest). Needs Java 25, Maven, podman, python3,
# and apt-get with package lists (a Debian machine): the base layer is made of Debian's packages (glibc,
# libgcc_s, libstdc++, dash), downloaded with apt-get and assembled by image/rootfs.py. No registry is used.
#   --skip-maven        use sample-app/target/trtllm-sample-app-<version>.jar as it is
#   --cuda-base IMAGE   the CUDA variant (image/Containerfile.cuda) on IMAGE, an NVIDIA CUDA 13 runtime image
#                       (pulled from its registry); default tag localhost/trtllm-server:<version>-cuda
# Environment: TRTLLM_BASE_PACKAGES pins the Debian packages (e.g. "libc6=2.36-9+deb12u14 ..."); the versions
# taken are recorded in the image's label io.trtllm.base-packages. SOURCE_DATE_EPOCH (default: the last commit's
# time) stamps every file and the image, so the same inputs give the same layers.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"

version="$(sed -n 's:^  <version>\(.*\)</version>$:\1:p' pom.xml | head -1)"
tag="localhost/trtllm-server:$version"
skip_maven=false
cuda_base=""
tag_given=false
while (( $# )); do
  case "$1" in
    --skip-maven) skip_maven=true ;;
    --tag) tag="${2:?--tag needs NAME:TAG}"; tag_given=true; shift ;;
    --cuda-base) cuda_base="${2:?--cuda-base needs an image}"; shift ;;
    *) echo "build-image: unknown argument '$1' (use --skip-maven, --tag NAME:TAG, --cuda-base IMAGE)" >&2; exit 2 ;;
  esac
  shift
done
if [[ -n "$cuda_base" ]] && ! $tag_given; then
  tag="localhost/trtllm-server:$version-cuda"
fi
tools=(podman "$JAVA_HOME/bin/jlink")
if [[ -z "$cuda_base" ]]; then
  tools+=(python3 apt-get dpkg-deb)
fi
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || { echo "build-image: '$tool' is needed (see docs/OPERATIONS.md)" >&2; exit 1; }
done

# The modules the app needs: `jdeps --ignore-missing-deps --print-module-deps --multi-release 25` over the
# extracted jars (40 s, so not run on every build), plus jcmd and JFR for diagnosing a running server, and
# jdk.zipfs. A module missing here makes the server fail at start, which the container tests would catch.
modules="java.base,java.compiler,java.desktop,java.instrument,java.naming,java.net.http,java.prefs,java.scripting"
modules+=",java.sql,jdk.attach,jdk.incubator.vector,jdk.jdi,jdk.jfr,jdk.jcmd,jdk.management,jdk.management.jfr"
modules+=",jdk.unsupported,jdk.zipfs"
packages="${TRTLLM_BASE_PACKAGES:-libc6 libgcc-s1 gcc-12-base libstdc++6 dash base-files}"
epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
stage=target/image
jar="sample-app/target/trtllm-sample-app-$version.jar"
start=$SECONDS

if ! $skip_maven; then
  echo "build-image: packaging the sample app ..." >&2
  mvn -B -q -pl sample-app -am package -DskipTests
fi
[[ -f "$jar" ]] || { echo "build-image: $jar not found; run without --skip-maven" >&2; exit 1; }

mkdir -p "$stage"
context="$stage/context"
rm -rf "$context"
mkdir -p "$context"

# The runtime: kept between builds while the JDK and the module list stay the same (jlink takes ~20 s).
jre_key="$("$JAVA_HOME/bin/java" -version 2>&1 | head -1) $modules"
if [[ ! -d "$stage/jre" || "$(cat "$stage/jre.key" 2>/dev/null)" != "$jre_key" ]]; then
  echo "build-image: jlink ..." >&2
  rm -rf "$stage/jre" "$stage/jre.key"
  "$JAVA_HOME/bin/jlink" --add-modules "$modules" --strip-debug --no-header-files --no-man-pages \
    --generate-cds-archive --output "$stage/jre" > "$stage/jlink.log" 2>&1 \
    || { cat "$stage/jlink.log" >&2; exit 1; }
  echo "$jre_key" > "$stage/jre.key"
fi
cp -a "$stage/jre" "$context/jre"

if [[ -z "$cuda_base" ]]; then
  echo "build-image: Debian packages ($packages) ..." >&2
  rm -rf "$stage/debs" && mkdir -p "$stage/debs"
  # shellcheck disable=SC2086  # a list of package names
  if ! (cd "$stage/debs" && apt-get download -q -o APT::Sandbox::User=root $packages >/dev/null); then
    echo "build-image: apt-get download failed; run 'apt-get update' first (the package lists may be missing)" >&2
    exit 1
  fi
  base_packages="$(for d in "$stage"/debs/*.deb; do dpkg-deb -f "$d" Package Version | paste -sd= ; done | paste -sd' ')"
  python3 image/rootfs.py --output "$context/rootfs.tar" --epoch "$epoch" "$stage"/debs/*.deb
fi

echo "build-image: extracting the application's layers ..." >&2
"$JAVA_HOME/bin/java" -Djarmode=tools -jar "$jar" extract --layers --application-filename app.jar \
  --destination "$context/app"
cp image/Containerfile image/Containerfile.cuda image/trtllm-server "$context/"

echo "build-image: podman build $tag ..." >&2
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
if [[ -n "$cuda_base" ]]; then
  containerfile=Containerfile.cuda
  base_args=(--build-arg "CUDA_BASE=$cuda_base" --label io.trtllm.base-image="$cuda_base")
else
  containerfile=Containerfile
  base_args=(--label io.trtllm.base-packages="$base_packages")
fi
podman build --quiet --timestamp "$epoch" -f "$context/$containerfile" -t "$tag" "${base_args[@]}" \
  --label org.opencontainers.image.title=trtllm-server \
  --label org.opencontainers.image.description="TensorRT-LLM's LLM API in Java: the OpenAI-compatible server" \
  --label org.opencontainers.image.version="$version" \
  --label org.opencontainers.image.revision="$revision" \
  "$context" >/dev/null
if [[ "$tag" == *:"$version" ]]; then
  podman tag "$tag" "${tag%:*}:latest"
fi
rm -rf "$context"
echo "build-image: $tag ($(podman image inspect "$tag" --format '{{.Id}}' | cut -c1-12), $(( $(podman image inspect "$tag" --format '{{.Size}}') / 1048576 )) MiB) in $(( SECONDS - start )) s" >&2
