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
# caches for the process's life). valgrind.supp names the reports that come
# from the tests' own harness code.
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
		--error-exitcode=1 --suppressions=tests/fuzz/valgrind.supp --num-callers=30 \
		--log-file="$log" "build/tests/$t" >"build/valgrind/$t.out" 2>&1
	st=$?
	# Summed over the test and its forked children (one summary each).
	errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" |
		awk '{ n += $1 } END { print n + 0 }')
	defl=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tr -d , |
		awk '{ n += $1 } END { print n + 0 }')
	tests_failed=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:.*/\1/p' \
		"build/valgrind/$t.out")
	if [ $st = 0 ]; then
		pass=$((pass + 1))
		printf 'PASS  %-24s errors %s, definitely lost %s bytes\n' "$t" "$errs" "$defl"
	else
		fail=$((fail + 1))
		failed+=("$t")
		why="memory errors"
		[ "$errs" = 0 ] && why="the test itself failed under valgrind ($tests_failed cases)"
		printf 'FAIL  %-24s %s: errors %s, definitely lost %s bytes (%s)\n' "$t" "$why" \
			"$errs" "$defl" "$log"
	fi
done
echo "valgrind: $pass passed, $fail failed${failed[*]:+: ${failed[*]}}"
[ $fail = 0 ]
