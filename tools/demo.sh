#!/usr/bin/env bash
# `make demo`: replays the scenarios that spiketrace explains today while
# recording them, then writes demo/report.txt and demo/report.json and
# prints the text report. Bounded; cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."

ST=build/spiketrace
OUT=demo
mkdir -p "$OUT"
rm -f "$OUT/demo.rec"

rec_pid=
cleanup() {
	[ -n "$rec_pid" ] && kill -INT "$rec_pid" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT

# The recorder runs until the scenarios are done (hard bound: 120 s).
"$ST" record -d 120 -o "$OUT/demo.rec" 2>"$OUT/record.log" &
rec_pid=$!
# Bash builtins only while recording: the demo's own helpers stay out of the report.
ready() { [[ -f $OUT/record.log && $(<"$OUT/record.log") == *"spiketrace: tracing"* ]]; }
for _ in $(seq 200); do
	ready && break
	kill -0 "$rec_pid" 2>/dev/null || { cat "$OUT/record.log" >&2; exit 1; }
	read -r -t 0.05 <> <(:) || true
done
ready || { echo "demo: recorder did not start" >&2; exit 1; }

echo "demo: scenario 1, the memory-eating cron job (cron -> run-parts -> updater -> daemons)"
# A 256 MiB memory cgroup stands for the small VM; the daemons allocate in
# steps until the OOM killer fires. An unrelated busy process runs beside it
# and must not rank above the job.
build/tools/st-cronjob --cgroup "st-demo-cron-$$" --mem-limit 256 --alloc-mb 200 \
	--step-mb 16 --step-ms 100 --hold-ms 2000 --distractor-ms 5000 >"$OUT/cronjob.json"

kill -INT "$rec_pid"
wait "$rec_pid"
rec_pid=
cat "$OUT/record.log" >&2

"$ST" report "$OUT/demo.rec" -o "$OUT/report.txt"
"$ST" report "$OUT/demo.rec" --format json -o "$OUT/report.json"
cat "$OUT/report.txt"

top=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["causes"][0]["name"])' \
	"$OUT/report.json")
if [ "$top" = "st-demo-cron-$$" ]; then
	echo "demo: OK, scenario 1's job $top is the top cause; reports in $OUT/"
else
	echo "demo: top cause is '$top', expected st-demo-cron-$$" >&2
	exit 1
fi
