#!/usr/bin/env bash
# Fetches the studio's UI libraries as plain sources, idempotently: Dear ImGui
# 1.93 (docking branch), ImPlot, imgui-node-editor and the Dear ImGui Test
# Engine, from the pinned PyPI source distribution imgui-bundle==1.93.0
# (Debian 12 ships only Dear ImGui 1.86 and neither add-on). Only the 4 source
# folders studio/CMakeLists.txt builds are kept (~7 MB), under
#   .cache/imgui-bundle-1.93.0/{imgui,implot,imgui-node-editor,imgui_test_engine}
# Licences: ImGui, ImPlot, imgui-node-editor MIT; the Test Engine its own
# (imgui_test_engine/LICENSE.txt: free for open-source projects, individuals,
# education and small companies). It is linked only when
# LOOM_STUDIO_TEST_ENGINE is ON (the UI tests), see docs/design/studio.md.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=1.93.0
SHA256=10ad1dab8258a6787b4f07bb926b08d0efc648a7906242568c8dd778c5e719bf
DEST=.cache/imgui-bundle-${VERSION}
[ -f "$DEST/.ok" ] && exit 0

PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "deps: fetching imgui-bundle==${VERSION} sources (studio UI libraries)"
"$PY" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
  "imgui-bundle==${VERSION}" -d "$tmp" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
tarball="$tmp/imgui_bundle-${VERSION}.tar.gz"
echo "${SHA256}  ${tarball}" | sha256sum -c --quiet - || {
  echo "deps: imgui-bundle ${VERSION} tarball checksum mismatch; delete $tmp and retry, or update SHA256 in $0" >&2
  exit 1
}
src="imgui_bundle-${VERSION}/external"
tar -xzf "$tarball" -C "$tmp" "$src/imgui/imgui" "$src/implot/implot" \
  "$src/imgui-node-editor/imgui-node-editor" "$src/imgui_test_engine/imgui_test_engine/imgui_test_engine"
rm -rf "$DEST" && mkdir -p "$DEST"
mv "$tmp/$src/imgui/imgui" "$DEST/imgui"
mv "$tmp/$src/implot/implot" "$DEST/implot"
mv "$tmp/$src/imgui-node-editor/imgui-node-editor" "$DEST/imgui-node-editor"
mv "$tmp/$src/imgui_test_engine/imgui_test_engine/imgui_test_engine" "$DEST/imgui_test_engine"
rm -rf "$DEST"/imgui/{examples,misc/fonts,docs}
touch "$DEST/.ok"
