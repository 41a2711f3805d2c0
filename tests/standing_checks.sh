#!/usr/bin/env bash
# Standing architectural checks:
#  1. models/ never includes parallel/ (model code is computation only);
#  2. lower layers never include higher ones (ops <- models <- parallel <- sdk);
#  3. the loom binary links no gloo library: the only gloo is LibTorch's own.
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
if ldd "$bin" | grep -qi gloo; then
  echo "FAIL: $bin links a gloo library besides LibTorch's:"; ldd "$bin" | grep -i gloo; fail=1
else
  echo "ok: no second gloo linked into $(basename "$bin")"
fi
exit $fail
