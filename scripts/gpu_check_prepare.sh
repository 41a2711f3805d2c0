#!/usr/bin/env bash
# Run here (a Debian 12 machine with network), before scripts/gpu_check.sh
# runs on a GPU machine (no network, no Debian dev packages): downloads the
# Debian packages Loom's build needs beyond LibTorch and CUDA (headers,
# CMake configs, pkg-config files and the shared libraries they point at)
# as .debs into .cache/gpu-debs (~8 MB), and a small token dataset of the
# packaged novel for the GPU training run into .cache/gpu-data (~1 MB, made
# with build/loom; LOOM=path overrides). Carry both. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=(
  libgtest-dev nlohmann-json3-dev libyaml-cpp-dev libyaml-cpp0.7 libcli11-dev libsqlite3-dev libsqlite3-0
  libpcre2-dev libpcre2-8-0 libutf8proc-dev libutf8proc2 libstb-dev libstb0 libsndfile1-dev libsndfile1
  libflac12 libvorbis0a libvorbisenc2 libopus0 libogg0 libmpg123-0 libmp3lame0 libsoxr-dev libsoxr0
  zlib1g-dev libgloo-dev
)
out=.cache/gpu-debs
stamp="$out/.loom-$(echo "${PACKAGES[*]}" | md5sum | cut -c1-8)"
if [ ! -f "$stamp" ]; then
  rm -rf "$out" && mkdir -p "$out"
  (cd "$out" && apt-get download "${PACKAGES[@]}" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true)
  [ "$(ls "$out"/*.deb | wc -l)" -eq "${#PACKAGES[@]}" ] || { echo "gpu-debs: not every package downloaded into $out" >&2; exit 1; }
  touch "$stamp"
fi
echo "gpu-debs: $(ls "$out"/*.deb | wc -l) packages, $(du -sh "$out" | cut -f1) in $out"
data=.cache/gpu-data
if [ ! -f "$data/novel-train.json" ]; then
  mkdir -p "$data"
  "${LOOM:-build/loom}" data build --tokenizer .cache/assets/qwen3/tokenizer.json --format text \
    --input /usr/share/gocode/src/github.com/colinmarc/hdfs/testdata/mobydick.txt --output "$data/novel" --eval-fraction 0.05
fi
echo "gpu-data: $(du -sh "$data" | cut -f1) in $data"
