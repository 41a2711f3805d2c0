#!/usr/bin/env bash
# The install tree on its own: `cmake --install` into a fresh prefix, then
#  1. samples/c/train.c built with -std=c99 -pedantic -Werror against only
#     the installed header and library (through pkg-config), trains the
#     small model and reads its metrics back;
#  2. an external CMake project finds it with find_package(Loom) and runs.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" --component loom_sdk > "$work/install.log"
test -f "$prefix/include/loom/loom.h" && test -f "$prefix/lib/libloom.so"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
echo "pkg-config loom: $(pkg-config --modversion loom): $(pkg-config --cflags --libs loom)"
# shellcheck disable=SC2046
cc -std=c99 -pedantic -Wall -Wextra -Werror "$src/samples/c/train.c" $(pkg-config --cflags --libs loom) -o "$work/train"
mkdir -p "$work/run"
head -c 60000 /usr/share/gocode/src/github.com/colinmarc/hdfs/testdata/mobydick.txt > "$work/novel.txt"
(cd "$work" && ./train "$src/.cache/assets/qwen3/tokenizer.json" "$work/novel.txt" "$work/run" 6) | tee "$work/train.log"
grep -q '^ok$' "$work/train.log"

cmake -S "$src/tests/capi/find_package" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" > "$work/consumer.log"
cmake --build "$work/consumer" > "$work/consumer-build.log"
"$work/consumer/consumer" | tee "$work/consumer.out"
grep -q "^consumer: libloom 0.2.0, ABI ok, 4 llm families$" "$work/consumer.out"
echo "ok: the install tree builds a C99 program (pkg-config) and a CMake project (find_package(Loom))"
