#!/usr/bin/env bash
# tools/check-format on a throw-away git tree: a formatted tree passes; an
# unformatted file (tracked or new) fails the check with one line naming it
# and the command that fixes it; running that command makes the check pass.
# Usage: test-check-format.sh SOURCE_DIR
set -euo pipefail
source_dir=$1
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

cp "$source_dir/.clang-format" "$tree/"
git -C "$tree" init -q
printf 'int answer();\n' >"$tree/formatted.h"
git -C "$tree" add formatted.h .clang-format
"$source_dir/tools/check-format" -C "$tree" 2>"$tree/.out" || fail "a formatted tree fails: $(cat "$tree/.out")"

mkdir "$tree/src"
printf 'int  answer( ){return 42;}\n' >"$tree/src/sloppy.cpp" # new, not yet added
if "$source_dir/tools/check-format" -C "$tree" 2>"$tree/.out"; then
    fail "an unformatted file passes"
fi
cat "$tree/.out"
grep -qx 'src/sloppy.cpp: not formatted (fix: clang-format -i src/sloppy.cpp)' "$tree/.out" \
    || fail "no line names src/sloppy.cpp with its fix"
grep -q 'formatted.h' "$tree/.out" && fail "a formatted file is named"

# The command it prints fixes it.
fix=$(sed -n 's/^  \(clang-format -i .*\)$/\1/p' "$tree/.out")
[[ -n "$fix" ]] || fail "no command to fix them all"
(cd "$tree" && $fix)
"$source_dir/tools/check-format" -C "$tree" 2>"$tree/.out" || fail "still failing after '$fix': $(cat "$tree/.out")"
echo "PASS"
