#!/usr/bin/env bash
# The prepared GPU check (issue 18), for a GPU machine: one NVIDIA GPU, its
# own python3 with a CUDA torch, nvcc, CMake and ninja, no network and no
# Debian dev packages. Carry .cache/gpu-debs (scripts/gpu_check_prepare.sh).
#   1. unpacks the .debs into a prefix (dpkg -x) and builds loom,
#      gpu_parity_test and gpu_step_bench against the torch found there;
#   2. ctest -L gpu: CUDA vs CPU parity (fp32 tight, bf16 autocast stated);
#   3. loom comm-check --backend nccl (one rank, cuda:0);
#   4. the step benchmark at ~1B Qwen3 / 8K tokens / bf16: Loom's
#      gpu_step_bench next to PyTorch eager (tests/bench/qwen3_eager_step.py),
#      tokens/s, MFU, and their ratio;
#   5. `loom train --train.device cuda` on the novel (.cache/gpu-data, tiny
#      Qwen3, 20 steps, fp32) against the same run on the CPU: per-step losses.
# The dry run on a CPU machine: GPU_CHECK_DEVICE=cpu, GPU_CHECK_SHAPE (the
# benchmark's shape options, a tiny one), GPU_CHECK_BUILD=build with
# GPU_CHECK_SKIP_BUILD=1 (an existing build), GPU_CHECK_PYTHON=.venv/bin/python.
# Everything it prints goes to $OUT/gpu_check.log (OUT unset: /tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
log=${OUT:-/tmp}/gpu_check.log
exec > >(tee "$log") 2>&1
t0=$(date +%s)
stamp() { echo "== [$(( $(date +%s) - t0 )) s] $*"; }
device=${GPU_CHECK_DEVICE:-cuda}
py=${GPU_CHECK_PYTHON:-python3}
prefix=$PWD/.cache/gpu-prefix
b=${GPU_CHECK_BUILD:-build-gpu}
stamp "1. unpack the Debian packages, configure, build"
if [ "${GPU_CHECK_SKIP_BUILD:-0}" != 1 ]; then
[ -d .cache/gpu-debs ] || { echo "no .cache/gpu-debs: run scripts/gpu_check_prepare.sh on a Debian machine and carry it" >&2; exit 1; }
rm -rf "$prefix" && mkdir -p "$prefix"
for d in .cache/gpu-debs/*.deb; do dpkg -x "$d" "$prefix"; done
lib=$prefix/usr/lib/x86_64-linux-gnu
# Loom links these shared: their .pc files' private requirements (static
# links only) name -dev packages not carried; pkg-config would refuse.
sed -i '/^Requires.private:/d' "$lib"/pkgconfig/*.pc
export PKG_CONFIG_LIBDIR=$lib/pkgconfig:$prefix/usr/share/pkgconfig PKG_CONFIG_SYSROOT_DIR=$prefix
export LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
torch_cmake=$("$py" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
"$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "device", torch.cuda.is_available() and torch.cuda.get_device_name(0))'
cuda_args=()
if "$py" -c 'import torch, sys; sys.exit(0 if torch.version.cuda else 1)'; then
  cu=$("$py" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')
  cuda_args=(-DLOOM_CUDA_ROOT="$cu" -DCMAKE_CUDA_STANDARD=17 -DTORCH_CUDA_ARCH_LIST=9.0)
fi
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DLOOM_BUILD_STUDIO=OFF \
  -DCMAKE_PREFIX_PATH="$torch_cmake;$prefix/usr" -DCMAKE_CXX_FLAGS="-isystem $prefix/usr/include" \
  "${cuda_args[@]}" > build-gpu.configure.log || { tail -40 build-gpu.configure.log; exit 1; }
grep -E "Loom .*CUDA=" build-gpu.configure.log
cmake --build build-gpu -j "$(nproc)" --target loom gpu_parity_test gpu_step_bench > build-gpu.log \
  || { grep -E "error|Error" build-gpu.log | head -40; exit 1; }
fi
stamp "2. GPU tests (ctest -L gpu)"
(cd "$b" && ctest -L gpu --output-on-failure) || true
stamp "3. comm-check on NCCL (one rank)"
if [ "$device" = cuda ]; then
  LOCAL_RANK=0 "$b"/loom comm-check --backend nccl --bytes 67108864 --iters 5 || true
fi
stamp "4. the step benchmark: Loom vs PyTorch eager"
shape=(${GPU_CHECK_SHAPE:---hidden 2048 --layers 16 --heads 16 --kv-heads 8 --head-dim 128 --intermediate 6144 --vocab 151936 --seq 8192 --rows 1 --steps 8 --warmup 3})
loom_line=$("$b"/tests/gpu_step_bench --device "$device" --dtype bf16 "${shape[@]}" | tee /dev/stderr | grep "^loom_step_ms")
eager_line=$("$py" tests/bench/qwen3_eager_step.py --device "$device" --dtype bf16 "${shape[@]}" | tee /dev/stderr | grep "^eager_step_ms")
"$py" - "$loom_line" "$eager_line" <<'PY'
import sys
loom, eager = (dict(zip(l.split()[::2], map(float, l.split()[1::2]))) for l in sys.argv[1:3])
ratio = loom["tokens_per_s"] / eager["tokens_per_s"]
print(f"tokens/s: Loom {loom['tokens_per_s']:.0f}, PyTorch eager {eager['tokens_per_s']:.0f} (Loom / eager {ratio:.3f}; "
      f"target >= 1); MFU: Loom {loom['mfu']:.3f}, eager {eager['mfu']:.3f} (target >= 0.45)")
PY
stamp "5. loom train on the GPU vs the CPU (tiny Qwen3, 20 steps, fp32)"
if [ -f .cache/gpu-data/novel-train.json ]; then
  for dev in cpu "$device"; do
    $b/loom train samples/configs/tiny_qwen3.yaml --data.train .cache/gpu-data/novel-train --data.eval "" \
      --train.steps 20 --train.log_every 1 --train.device "$dev" --run.db "$b/runs_$dev.sqlite" \
      --run.dir $b/runs --run.name "gpu_check_$dev" > "$b/train_$dev.log" 2>&1 || { tail -5 "$b/train_$dev.log"; }
  done
  "$py" - "$device" "$b" <<'PY'
import sqlite3, sys
dev, build = sys.argv[1], sys.argv[2]
def losses(d):
    return [r[0] for r in sqlite3.connect(f"{build}/runs_{d}.sqlite").execute(
        "SELECT s.loss FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.name = ? ORDER BY s.step", (f"gpu_check_{d}",))]
cpu, other = losses("cpu"), losses(dev)
worst = max(abs(a - b) / abs(b) for a, b in zip(other, cpu)) if cpu and other else float("nan")
print(f"train losses cpu {cpu[0]:.4f} -> {cpu[-1]:.4f}, {dev} {other[0]:.4f} -> {other[-1]:.4f}; "
      f"largest per-step relative difference {worst:.2e} over {min(len(cpu), len(other))} steps (fp32; target <= 1e-3)")
PY
fi
stamp "done"
