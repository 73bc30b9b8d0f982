#!/usr/bin/env bash
# `make demo`: replays the scenarios (1 to 4) while
# recording them, then writes demo/report.txt, report.json, report.html,
# trace.json (Perfetto), cpu.folded and cpu.pb.gz and prints the text report. Bounded; cleans up
# after itself.
set -euo pipefail
cd "$(dirname "$0")/.."

ST=build/spiketrace
OUT=demo
mkdir -p "$OUT"
rm -f "$OUT/demo.rec"

rec_pid=
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
made_cgroups=()
cleanup() {
	[ -n "$rec_pid" ] && kill -INT "$rec_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	for cg in "${made_cgroups[@]}"; do rmdir "$cg" 2>/dev/null || true; done
}
trap cleanup EXIT

# Runs a command in a cgroup2 group of its own, as a service manager would
# (the subshell moves itself in, then execs): each scenario is its own cause.
# The groups are made before recording (mkdir is not a builtin).
for cg in "st-demo-tls-$$" "st-demo-net-$$"; do
	mkdir "$CG2/$cg" && made_cgroups+=("$CG2/$cg")
done
in_cgroup() {
	local cg="$CG2/$1"
	shift
	(echo "$BASHPID" >"$cg/cgroup.procs" && exec "$@")
}

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
# steps until the OOM killer fires. The updater first downloads 200 MiB from
# a local "mirror" (the network-in spike the dashboard showed first). An
# unrelated busy process runs beside it and must not rank above the job.
build/tools/st-cronjob --cgroup "st-demo-cron-$$" --mem-limit 256 --alloc-mb 200 \
	--step-mb 16 --step-ms 100 --hold-ms 2000 --distractor-ms 5000 --download-mb 200 \
	>"$OUT/cronjob.json"

echo "demo: scenario 2, the TLS handshake storm (nginx: full, then resumed; s_server: renegotiations)"
# nginx with session cache and tickets off takes a flood of full handshakes
# from four client addresses, then resumptions on a port that allows them,
# then aborted handshakes; s_server takes renegotiations from one client.
in_cgroup "st-demo-tls-$$" build/tools/st-tlsstorm --port 14433 --full 1500 --resumed 300 \
	--abort 10 --clients 4 | tail -n 1 >"$OUT/tls-nginx.json"
in_cgroup "st-demo-tls-$$" build/tools/st-tlsstorm --server s_server --port 14443 --full 20 \
	--reneg 12 | tail -n 1 >"$OUT/tls-s_server.json"
read -r -t 1 <> <(:) || true # the servers' last SSL_free

echo "demo: scenario 3, the noisy neighbour (8 busy workers beside a 10 ms periodic service)"
# One job fans out CPU-bound workers on this box's cores for 4 s while a small
# latency-sensitive service wakes every 10 ms in its own cgroup.
build/tools/st-noisy -n 8 -d 4 --cgroup "st-demo-noisy-$$" --service-cgroup "st-demo-svc-$$" \
	| tail -n 1 >"$OUT/noisy.json"

echo "demo: scenario 4, idle connections reset by a middlebox (3 s conntrack timeout)"
# Client, middlebox and server namespaces; connections idle 1 to 6 s, all at
# once; the middlebox forgets flows idle over 3 s and answers them with a RST.
in_cgroup "st-demo-net-$$" build/tools/st-idlereset --timeout-s 3 --idle 1,2,3.5,4,4.2 \
	--family both --parallel | tail -n 1 >"$OUT/idlereset.json"

kill -INT "$rec_pid"
wait "$rec_pid"
rec_pid=
cat "$OUT/record.log" >&2

"$ST" report "$OUT/demo.rec" -o "$OUT/report.txt"
"$ST" report "$OUT/demo.rec" --format json -o "$OUT/report.json"
"$ST" report "$OUT/demo.rec" --format html -o "$OUT/report.html"
"$ST" report "$OUT/demo.rec" --format perfetto -o "$OUT/trace.json"
"$ST" report "$OUT/demo.rec" --format folded -o "$OUT/cpu.folded"
"$ST" report "$OUT/demo.rec" --format pprof -o "$OUT/cpu.pb.gz"
cat "$OUT/report.txt"

# Each scenario's culprit must be the top cause of the window that covers
# most of the scenario's run (the generator's exec to its exit).
python3 - "$OUT/report.json" "$$" <<'PY'
import json, sys
rep, tag = json.load(open(sys.argv[1])), sys.argv[2]
marks = rep["timeline"]["marks"]
bad = 0
for n, tool, culprit in ((1, "st-cronjob", "st-demo-cron"), (2, "st-tlsstorm", "st-demo-tls"),
                         (3, "st-noisy", "st-demo-noisy"), (4, "st-idlereset", "st-demo-net")):
    culprit = f"{culprit}-{tag}"
    ex = next((m for m in marks if m["kind"] == "exec" and m["detail"] == tool), None)
    end = ex and next((m["time_s"] for m in marks
                       if m["kind"] == "exit" and m["pid"] == ex["pid"]), None)
    if ex is None or end is None:
        print(f"demo: MISMATCH, scenario {n}: no exec/exit of {tool} in the marks")
        bad += 1
        continue
    def overlap(w):
        return min(w["end_s"], end) - max(w["start_s"], ex["time_s"])
    wins = [w for w in rep["timeline"]["windows"] if overlap(w) > 0]
    top = max(wins, key=overlap)["cause"] if wins else None
    ok = top == culprit
    bad += not ok
    print(f"demo: {'OK' if ok else 'MISMATCH'}, scenario {n} ({ex['time_s']:.1f}-{end:.1f} s): "
          f"top cause of its window is {top}, expected {culprit}")
sys.exit(1 if bad else 0)
PY
# Scenario 2: what the report says about each server against what the
# generator made (its own client-side view).
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
rep = json.load(open(f"{out}/report.json"))
procs = {p["pid"]: p for p in rep["tls"]["processes"]}
bad = 0
for name in ("tls-nginx", "tls-s_server"):
    made = json.load(open(f"{out}/{name}.json"))
    seen = procs.get(made["worker_pids"][0], {})
    want = (made["handshakes"] + made["renegotiations"], made["resumed"],
            made["renegotiations"], made["aborted"])
    got = tuple(seen.get(k) for k in ("handshakes", "resumed", "renegotiations", "failed"))
    ok = got == want
    bad += not ok
    print(f"demo: {'OK' if ok else 'MISMATCH'}, {name}: handshakes/resumed/renegotiations/"
          f"failed made {want}, reported {got}")
# Scenario 1's download: the job that filled memory also pulled the bytes.
made = json.load(open(f"{out}/cronjob.json"))
job = next((c for c in rep["causes"] if c["cgroup"] == made["cgroup_v2"]), {})
got, want = job.get("net_rx_bytes", 0), made["download_bytes"]
ok = abs(got - want) <= 0.02 * want
bad += not ok
print(f"demo: {'OK' if ok else 'MISMATCH'}, cron job download: made {want} bytes, "
      f"the job's net_rx_bytes {got}")
# Scenario 3: while the burst ran, the noisy job used the most CPU of any
# cause in each interval, all its workers were runnable at once, and the
# service waited for a CPU.
made = json.load(open(f"{out}/noisy.json"))
causes = {c["name"]: c for c in rep["causes"]}
job = causes.get(made["job_cgroup"].rsplit("/", 1)[-1], {})
svc = causes.get(made["service_cgroup"].rsplit("/", 1)[-1], {})
cpu = {s["cause"]: s["values"] for s in rep["timeline"]["series"] if s["metric"] == "cpu_s"}
iv = rep["timeline"]["interval_s"]
mine = cpu.get(job.get("name"), [])
busy = [i for i, v in enumerate(mine) if v >= 0.5 * iv]
top_cpu = job.get("name") if busy and all(
    mine[i] >= max(v[i] for v in cpu.values()) for i in busy) else "another cause"
ok = (top_cpu == job.get("name") and job.get("max_concurrency") == made["workers"]
      and svc.get("run_delay_s", 0) > 0)
bad += not ok
print(f"demo: {'OK' if ok else 'MISMATCH'}, noisy neighbour: {job.get('name')} "
      f"{job.get('cpu_s', 0):.1f} CPU-s, {job.get('max_concurrency')} of {made['workers']} "
      f"workers runnable at once (top by CPU during the burst: {top_cpu}); the service waited "
      f"{1000 * svc.get('run_delay_s', 0):.0f} ms for a CPU (it measured "
      f"{made['service']['during']['late_mean_us']:.0f} us mean lateness during the burst, "
      f"{made['service']['before']['late_mean_us']:.0f} us before)")
# Scenario 4: every reset the client saw is in the report, and the idle
# times cluster at the middlebox timeout, not at any other value.
made = json.load(open(f"{out}/idlereset.json"))
want = {(c["laddr"], c["lport"]) for c in made["connections"] if c["outcome"] == "reset"}
got = {(r["laddr"], r["lport"]) for r in rep["tcp"]["resets"] if r["direction"] == "received"}
cl = rep["tcp"]["reset_idle"]["cluster"] or {}
ok = want and want <= got and cl.get("lo_ms", 0) >= 1000 * made["timeout_s"]
bad += not ok
print(f"demo: {'OK' if ok else 'MISMATCH'}, idle-reset: {len(want)} connections reset, "
      f"{len(want & got)} of them reported; resets cluster at {cl.get('idle_ms')} ms idle "
      f"(timeout {made['timeout_s']} s)")
sys.exit(1 if bad else 0)
PY
echo "demo: reports in $OUT/"

