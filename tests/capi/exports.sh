#!/usr/bin/env bash
# The dynamic symbols libloom.so defines are exactly the loom_* functions
# loom.h declares: nothing of the C++ core (or of LibTorch) leaks.
# Usage: exports.sh LIBLOOM_SO LOOM_H
set -euo pipefail
lib=$1 header=$2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
nm -D --defined-only "$lib" | awk '$2 ~ /^[TWDBRVi]$/ { print $3 }' | sed 's/@.*//' | sort -u > "$work/exported"
grep -oE '^LOOM_API [^(]*\(' "$header" | grep -oE 'loom_[a-z0-9_]+ *\($' | tr -d ' (' | sort -u > "$work/declared"
echo "libloom.so exports $(wc -l < "$work/exported") symbols; loom.h declares $(wc -l < "$work/declared") functions"
if ! diff "$work/declared" "$work/exported" > "$work/diff"; then
  echo "FAIL: exported != declared ('<' declared only, '>' exported only):"; cat "$work/diff"; exit 1
fi
echo "ok: exactly the loom_* set"
