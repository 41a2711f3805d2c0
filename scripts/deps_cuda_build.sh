#!/usr/bin/env bash
# What `make build-cuda` needs on a machine without a GPU (../shared/NOTES-gpu.md):
# .venv-cuda (scripts/deps_cuda_venv.sh: torch 2.14.1 + the nvidia cu13
# wheels it depends on), plus the pip nvcc that find_package(Torch) insists
# on for a CUDA wheel, the dev symlinks the wheels leave out (libX.so ->
# libX.so.N; lib64 -> lib) and the cusolver headers CUDAContextLight.h
# includes. Idempotent; prints the CUDA root (nvidia/cu13) on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps_cuda_venv.sh
PY=.venv-cuda/bin/python
EXTRA=(nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-cuda-cccl==13.0.85)
stamp=".venv-cuda/.loom-cuda-build-$(echo "${EXTRA[*]}" | md5sum | cut -c1-8)"
site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cu="$site/nvidia/cu13"
if [ ! -f "$stamp" ]; then
  echo "deps: nvcc for the CUDA build (${EXTRA[*]})" >&2
  .venv-cuda/bin/pip install -q --disable-pip-version-check --no-deps "${EXTRA[@]}" 2>&1 | grep -v "^WARNING: Location" >&2 || true
  [ -x "$cu/bin/nvcc" ] || { echo "deps: $cu/bin/nvcc is missing after installing ${EXTRA[*]}" >&2; exit 1; }
  # Wheels ship libX.so.N only; CMake's CUDAToolkit and nvcc link libX.so and lib64.
  for lib in "$cu"/lib/lib*.so.*; do
    base="${lib%%.so.*}.so"
    [ -e "$base" ] || ln -s "$(basename "$lib")" "$base"
  done
  [ -e "$cu/lib64" ] || ln -s lib "$cu/lib64"
  # CUDAContextLight.h includes cusolverDn.h: its headers, from the wheel torch pulled in.
  [ -f "$cu/include/cusolverDn.h" ] || { echo "deps: no cusolverDn.h under $cu/include (install nvidia-cusolver)" >&2; exit 1; }
  rm -f .venv-cuda/.loom-cuda-build-*
  touch "$stamp"
fi
echo "$cu"
