#!/usr/bin/env bash
# A second Python venv, .venv-cuda, with the CUDA 13 build of torch 2.14.1
# and torchvision 0.29.1 (both lie on this machine's disk; about 5.6 GB in
# the venv), transformers 4.57.1 and pillow. It is what the image
# processor's oracle needs: transformers' Qwen2VLImageProcessorFast resizes
# with torchvision, and PyPI's torchvision does not import beside the CPU
# torch of .venv. It runs on the CPU (no GPU needed). Idempotent and quiet
# when already there.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUIREMENTS=(torch==2.14.1 torchvision==0.29.1 "transformers==4.57.1" pillow numpy safetensors)
stamp=".venv-cuda/.loom-deps-$(echo "${REQUIREMENTS[*]}" | md5sum | cut -c1-8)"
[ -f "$stamp" ] && exit 0
PY=${PYTHON:-python3}
[ -x .venv-cuda/bin/python ] || { echo "deps: creating .venv-cuda (torch 2.14.1 + torchvision, ~5.6 GB)"; "$PY" -m venv .venv-cuda; }
.venv-cuda/bin/pip install -q --disable-pip-version-check "${REQUIREMENTS[@]}" 2>&1 | grep -v "^WARNING: Location" || true
.venv-cuda/bin/python -c "import torch, torchvision, transformers, PIL" \
  || { echo "deps: .venv-cuda is broken (torch/torchvision do not import); remove it and rerun" >&2; exit 1; }
rm -f .venv-cuda/.loom-deps-*
touch "$stamp"
