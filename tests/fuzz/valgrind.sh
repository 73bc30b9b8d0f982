#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# Every unit test binary under valgrind memcheck (tests/fuzz/README.md):
# definite leaks and memory errors fail a test.
#
#   tests/fuzz/valgrind.sh [TEST...]     (names as in build/tests/, default all)
#
# Builds the plain unit tests first (make build/tests/...), then runs each
# niced, its log in build/valgrind/TEST.log; prints pass/fail per test and
# exits non-zero when any failed. "Possibly lost" and "still reachable"
# blocks are reported by valgrind but do not fail (libelf and zlib keep
# caches for the process's life).
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
if ! command -v valgrind >/dev/null; then
	echo "valgrind.sh: valgrind not installed (make deps, or apt-get install valgrind)" >&2
	exit 2
fi

if [ $# -gt 0 ]; then
	tests="$*"
else
	tests=$(cd tests/unit && ls test_*.c | sed 's/\.c$//')
fi
bins=()
for t in $tests; do
	bins+=("build/tests/$t")
done
if ! nice -n 10 make -s "${bins[@]}"; then
	echo "valgrind.sh: building the unit tests failed" >&2
	exit 1
fi

mkdir -p build/valgrind
pass=0
fail=0
failed=()
for t in $tests; do
	log=build/valgrind/$t.log
	# Forked children (a test's writer it kills) are checked too, in the same log.
	nice -n 10 valgrind --leak-check=full --errors-for-leak-kinds=definite \
		--error-exitcode=1 --num-callers=30 --log-file="$log" "build/tests/$t" \
		>"build/valgrind/$t.out" 2>&1
	st=$?
	errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -1)
	defl=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -1)
	if [ $st = 0 ]; then
		pass=$((pass + 1))
		printf 'PASS  %-24s errors %s, definitely lost %s bytes\n' "$t" "${errs:-0}" "${defl:-0}"
	else
		fail=$((fail + 1))
		failed+=("$t")
		printf 'FAIL  %-24s exit %d, errors %s, definitely lost %s bytes (%s)\n' "$t" $st \
			"${errs:-?}" "${defl:-0}" "$log"
	fi
done
echo "valgrind: $pass passed, $fail failed${failed[*]:+: ${failed[*]}}"
[ $fail = 0 ]
