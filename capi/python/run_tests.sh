#!/usr/bin/env bash
# `make test`'s Python suite: installs capi/python into the project venv with
# pip (as a user would), then runs its pytest suite against the build tree's
# libloom.so. Usage: run_tests.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd) src=$(cd "$2" && pwd)
py=$src/.venv/bin/python
"$py" -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps "$src/capi/python"
export LOOM_LIBRARY=$build/capi/libloom.so
export LOOM_TEST_TOKENIZER=$src/.cache/assets/qwen3/tokenizer.json
export LOOM_TEST_NOVEL=/usr/share/gocode/src/github.com/colinmarc/hdfs/testdata/mobydick.txt
export LOOM_TEST_SOURCE=$src
cd "$build"
exec "$py" -m pytest -q -p no:cacheprovider "$src/capi/python/tests"
