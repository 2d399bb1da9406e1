#!/bin/sh
# check-format.sh: fail if any tracked C file differs from what the checked-in
# .clang-format makes of it.  Prints TAP so each file counts as a test case.
cd "$(dirname "$0")/.." || exit 1
command -v clang-format >/dev/null 2>&1 || { echo "1..0 # SKIP clang-format not installed"; exit 0; }
files=$(git ls-files '*.c' '*.h' 2>/dev/null)
[ -n "$files" ] || files=$(find lib server cli bench tests -name '*.[ch]' 2>/dev/null)
n=0
for f in $files; do n=$((n + 1)); done
echo "1..$n"
i=0
rc=0
for f in $files; do
	i=$((i + 1))
	if clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "ok $i - $f"
	else
		echo "not ok $i - $f (run 'make format')"
		rc=1
	fi
done
exit $rc
