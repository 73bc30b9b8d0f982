#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# libFuzzer over every parser of outside input (tests/fuzz/README.md).
#
#   tests/fuzz/run.sh [SECS] [TARGET...]     (make fuzz FUZZ_SECS=SECS)
#
# Builds the fuzz_*.c targets into build-fuzz/ (user/*.c but main.c, with
# clang and ASan+UBSan+libFuzzer instrumentation), replays the committed
# seed corpus (corpus/TARGET/) and crash regressions (crashes/TARGET/),
# then fuzzes each target for SECS seconds (0: build and replay only),
# niced. Exits non-zero on any crash, leak, timeout or build failure; new
# crash inputs land in build-fuzz/artifacts/TARGET/. Needs `make all`
# first (the BPF skeleton headers in build/skel/).
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
SECS=${1:-60}
shift $(($# > 0 ? 1 : 0))
case $SECS in
'' | *[!0-9]*)
	echo "run.sh: SECS must be a whole number of seconds, got '$SECS'" >&2
	exit 2
	;;
esac

CLANG=${CLANG:-clang}
OUT=build-fuzz
FZ=tests/fuzz
# UBSan stays recoverable so that ubsan.supp can name known bugs in code
# this work may not change (RESULTS.md); halt_on_error makes the rest fatal.
SAN="-fsanitize=address,undefined"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:report_error_type=1:suppressions=$ROOT/tests/fuzz/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
CFLAGS="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
	-Wno-missing-field-initializers -Wstrict-prototypes -iquote include -iquote user
	-Ibuild/skel -g -O1 -fno-omit-frame-pointer $SAN"
LIBS="-Wl,-Bstatic -lbpf -Wl,-Bdynamic -lelf -lz -lm"
NICE="nice -n 10"

if ! ls build/skel/*.skel.h >/dev/null 2>&1; then
	echo "run.sh: build/skel/*.skel.h missing: run 'make all' first" >&2
	exit 2
fi
if ! command -v "$CLANG" >/dev/null; then
	echo "run.sh: $CLANG not found (apt-get install clang libclang-rt-14-dev)" >&2
	exit 2
fi

if [ $# -gt 0 ]; then
	TARGETS="$*"
else
	TARGETS=$(cd $FZ && ls fuzz_*.c | sed 's/\.c$//')
fi
for t in $TARGETS; do
	if [ ! -f "$FZ/$t.c" ]; then
		echo "run.sh: no target $t ($FZ/$t.c)" >&2
		exit 2
	fi
done

mkdir -p $OUT/obj $OUT/logs $OUT/tmp || exit 2
# The targets' scratch trees (fuzz.h); removed even when a target crashed.
export ST_FUZZ_TMP=$ROOT/$OUT/tmp
trap 'rm -rf "$ST_FUZZ_TMP"/st-fuzz-*' EXIT

# ---- build: objects only when their source or a header is newer ----
# New flags or compiler: everything again.
if [ "$(cat $OUT/flags 2>/dev/null)" != "$CLANG $CFLAGS" ]; then
	rm -f $OUT/obj/*.o $OUT/libst.a $OUT/fuzz_*
	echo "$CLANG $CFLAGS" >$OUT/flags
fi
newest_hdr=$(ls -t user/*.h include/*.h build/skel/*.skel.h $FZ/*.h user/html/* | head -1)
objs=()
fail=0
running=0
for src in user/*.c; do
	[ "$src" = user/main.c ] && continue
	o=$OUT/obj/$(basename "$src" .c).o
	objs+=("$o")
	if [ ! -f "$o" ] || [ "$src" -nt "$o" ] || [ "$newest_hdr" -nt "$o" ]; then
		echo "  CC-FUZZ  $o"
		# Two at a time: the machine is shared.
		if [ $running -ge 2 ]; then
			wait -n || fail=1
			running=$((running - 1))
		fi
		# shellcheck disable=SC2086
		$NICE $CLANG $CFLAGS -fsanitize=fuzzer-no-link -c "$src" -o "$o" &
		running=$((running + 1))
	fi
done
while [ $running -gt 0 ]; do
	wait -n || fail=1
	running=$((running - 1))
done
[ $fail = 0 ] || { echo "run.sh: build failed" >&2; exit 1; }
# An archive: a target that compiles a user/*.c into itself (fuzz_symbolize)
# takes that file's symbols from itself, not from the archive.
if [ ! -f $OUT/libst.a ] || [ -n "$(find $OUT/obj -newer $OUT/libst.a -name '*.o')" ]; then
	rm -f $OUT/libst.a
	ar rcs $OUT/libst.a "${objs[@]}" || exit 1
fi
for t in $TARGETS; do
	if [ ! -x $OUT/$t ] || [ $FZ/$t.c -nt $OUT/$t ] || [ $OUT/libst.a -nt $OUT/$t ] ||
		[ "$newest_hdr" -nt $OUT/$t ]; then
		echo "  LD-FUZZ  $OUT/$t"
		# shellcheck disable=SC2086
		$NICE $CLANG $CFLAGS -fsanitize=fuzzer $FZ/$t.c $OUT/libst.a $LIBS -o $OUT/$t ||
			{ echo "run.sh: building $t failed" >&2; exit 1; }
	fi
done

# ---- replay: the committed seeds and every crash found so far ----
rc=0
for t in $TARGETS; do
	dirs=()
	for d in $FZ/corpus/$t $FZ/crashes/$t; do
		[ -d "$d" ] && dirs+=("$d")
	done
	n=0
	[ ${#dirs[@]} -gt 0 ] && n=$(find "${dirs[@]}" -type f | wc -l)
	if $NICE $OUT/$t -runs=0 -timeout=25 -rss_limit_mb=2048 "${dirs[@]}" \
		>$OUT/logs/$t.replay.log 2>&1; then
		echo "replay   $t: $n inputs ok"
	else
		echo "replay   $t: FAILED (build-fuzz/logs/$t.replay.log)"
		grep -E 'ERROR|SUMMARY|Running|failed' $OUT/logs/$t.replay.log | tail -8
		rc=1
	fi
done
if [ "$SECS" = 0 ]; then
	exit $rc
fi

# ---- fuzz: SECS per target, new inputs in build-fuzz/corpus/TARGET ----
summary=$OUT/summary.md
{
	echo "| target | seconds | executions | exec/s | corpus (seeds + found) | crashes |"
	echo "|---|---|---|---|---|---|"
} >$summary
for t in $TARGETS; do
	mkdir -p $OUT/corpus/$t $OUT/artifacts/$t
	dict=()
	[ -f $FZ/$t.dict ] && dict=(-dict=$FZ/$t.dict)
	seeds=$(find $FZ/corpus/$t -type f 2>/dev/null | wc -l)
	before=$(find $OUT/artifacts/$t -type f | wc -l)
	# -close_fd_mask=3: the targets' own chatter (report warnings) is not
	# worth the time; libFuzzer and the sanitizers still report on a dup.
	$NICE $OUT/$t -max_total_time="$SECS" -timeout=25 -rss_limit_mb=2048 \
		-close_fd_mask=3 -print_final_stats=1 -artifact_prefix=$OUT/artifacts/$t/ \
		"${dict[@]}" $OUT/corpus/$t $FZ/corpus/$t >$OUT/logs/$t.fuzz.log 2>&1
	st=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: //p' $OUT/logs/$t.fuzz.log)
	persec=$(sed -n 's/^stat::average_exec_per_sec: //p' $OUT/logs/$t.fuzz.log)
	found=$(find $OUT/corpus/$t -type f | wc -l)
	crashes=$(($(find $OUT/artifacts/$t -type f | wc -l) - before))
	echo "| $t | $SECS | ${execs:-?} | ${persec:-?} | $seeds + $found | $crashes |" >>$summary
	if [ $st = 0 ]; then
		echo "fuzz     $t: ${SECS}s, ${execs:-?} executions, corpus $seeds + $found, no crash"
	else
		echo "fuzz     $t: CRASH after ${execs:-?} executions (build-fuzz/logs/$t.fuzz.log):"
		grep -E '^(==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)' \
			$OUT/logs/$t.fuzz.log | head -6
		grep -E '^    #[0-9]+ ' $OUT/logs/$t.fuzz.log | head -8
		rc=1
	fi
done
echo
cat $summary
exit $rc
