#!/usr/bin/env bash
# Standing architectural checks:
#  1. models/ never includes parallel/ (model code is computation only);
#  2. lower layers never include higher ones (ops <- models <- parallel <- sdk);
#  3. the loom binary links no gloo library: the only gloo is LibTorch's own;
#  4. nothing under models/ can reach a collective: no communication header
#     (c10d, gloo, MPI, NCCL, torch.distributed), loom_models links only
#     loom::ops and header-only JSON, and no model holds a callback a plan
#     could set (std::function appears only in the hook points of
#     models/core/module.h and the registry's build function).
set -u
src=$1; bin=$2; fail=0
check() {  # check DIR FORBIDDEN-REGEX WHY
  local hits
  hits=$(grep -rIlE "#include[[:space:]]*[<\"]($2)/" "$src/$1" 2>/dev/null)
  if [ -n "$hits" ]; then echo "FAIL: $3:"; echo "$hits"; fail=1; else echo "ok: $3"; fi
}
check ops "models|parallel|sdk|capi|studio" "ops/ includes only ops/"
check models "parallel|sdk|capi|studio" "models/ never includes parallel/ or above"
check parallel "sdk|capi|studio" "parallel/ never includes sdk/ or above"
check sdk "capi|studio" "sdk/ never includes capi/ or studio/"
hits=$(grep -rIlE "#include[[:space:]]*[<\"](torch/csrc/distributed|c10d|gloo|mpi\.h|nccl|torch/distributed)" "$src/models")
if [ -n "$hits" ]; then echo "FAIL: models/ includes a communication header:"; echo "$hits"; fail=1
else echo "ok: models/ includes no communication header"; fi
links=$(grep -E "target_link_libraries\(loom_models" "$src/models/CMakeLists.txt")
extra=$(echo "$links" | sed -E 's/target_link_libraries\(loom_models PUBLIC//; s/loom::ops//; s/nlohmann_json::nlohmann_json//; s/[() ]//g')
if [ -n "$extra" ]; then echo "FAIL: loom_models links more than loom::ops and JSON: $links"; fail=1
else echo "ok: loom_models links only loom::ops and JSON"; fi
hits=$(grep -rIl "std::function" "$src/models" | grep -vE "models/core/(module|registry)\.h$")
if [ -n "$hits" ]; then echo "FAIL: a model holds a callback a plan could set (move the work to the loss boundary or a hook point):"; echo "$hits"; fail=1
else echo "ok: no callbacks inside models/ besides the hook points"; fi
if ldd "$bin" | grep -qi gloo; then
  echo "FAIL: $bin links a gloo library besides LibTorch's:"; ldd "$bin" | grep -i gloo; fail=1
else
  echo "ok: no second gloo linked into $(basename "$bin")"
fi
exit $fail
