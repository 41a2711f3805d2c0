#!/usr/bin/env bash
# expect.sh EXIT_CODE REGEX -- CMD ...
# Runs CMD; passes when it exits with EXIT_CODE and its combined output
# matches the extended REGEX. Prints the output either way.
set -u
want_code=$1; regex=$2; shift 2
[ "$1" = "--" ] && shift
out=$("$@" 2>&1); code=$?
printf '%s\n' "$out"
if [ "$code" -ne "$want_code" ]; then
  echo "expect.sh: exit code $code, wanted $want_code" >&2; exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq -- "$regex"; then
  echo "expect.sh: output does not match /$regex/" >&2; exit 1
fi
