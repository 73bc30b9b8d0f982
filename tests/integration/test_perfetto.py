# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""report --format perfetto: one recording of real workloads (st-cronjob
eating its memory cgroup until the OOM killer fires, st-tlsstorm flooding
nginx with full handshakes) written as a Trace Event Format trace and
checked against the format (what each ph requires, slices that nest per
thread, times within the recording) and against the JSON report of the
same recording and the generators' own numbers.

No trace reader is installed here (Debian has no trace_processor): the
format is checked by hand, as ui.perfetto.dev and chrome://tracing read it.
"""
import json
import os
import signal
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

from test_tls import Storm

REPO = Path(__file__).resolve().parents[2]
MIB = 1 << 20
PHASES = {"X", "i", "C", "M"}
META_NAMES = {"process_name", "thread_name", "process_sort_index", "thread_sort_index"}
TLS_NAMES = {"TLS full", "TLS resumed", "TLS failed", "TLS renegotiation"}
EPS_US = 1.0  # duration_s is printed to the µs (6 decimals of a second)


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_event(e, dur_us):
    """The keys the Trace Event Format requires for each ph we write."""
    assert isinstance(e, dict) and e.get("ph") in PHASES, e
    assert isinstance(e.get("name"), str) and e["name"], e
    ph = e["ph"]
    if ph == "M":
        assert e["name"] in META_NAMES, e
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int), e
        if e["name"].endswith("_name"):
            assert isinstance(e["args"]["name"], str) and e["args"]["name"], e
        else:
            assert isinstance(e["args"]["sort_index"], int), e
        return
    assert is_num(e["ts"]) and -EPS_US <= e["ts"] <= dur_us + EPS_US, (e, dur_us)
    assert isinstance(e["pid"], int), e
    if ph == "X":
        assert isinstance(e["tid"], int), e
        assert is_num(e["dur"]) and e["dur"] >= 0, e
        assert e["ts"] + e["dur"] <= dur_us + EPS_US, (e, dur_us)
    elif ph == "i":
        assert e["s"] in ("g", "p", "t"), e
        assert e["s"] != "t" or isinstance(e["tid"], int), e
    elif ph == "C":
        assert isinstance(e["args"], dict) and e["args"], e
        assert all(is_num(v) for v in e["args"].values()), e


def check_nesting(events):
    """Slices of one thread nest or do not meet, as the readers need."""
    by_thread = defaultdict(list)
    for e in events:
        if e["ph"] == "X":
            by_thread[(e["pid"], e["tid"])].append(e)
    for thread, slices in by_thread.items():
        stack = []
        for e in sorted(slices, key=lambda e: (e["ts"], -e["dur"])):
            while stack and stack[-1]["ts"] + stack[-1]["dur"] <= e["ts"] + EPS_US:
                stack.pop()
            if stack:
                top = stack[-1]
                assert e["ts"] + e["dur"] <= top["ts"] + top["dur"] + EPS_US, \
                    ("slices overlap on", thread, top, e)
            stack.append(e)


def record(start_spiketrace, run_spiketrace, run_cronjob, tmp_path):
    """Both workloads under one recording of every concern, stopped with
    SIGINT once both are done (a fixed duration ran out before the OOM kill
    in a slow guest); returns what the generators said, the JSON report and
    the trace."""
    storm = Storm(["--port", 14463, "--full", 100, "--clients", 2])
    try:
        rec = tmp_path / "pf.rec"
        st = start_spiketrace(["record", "-d", 300, "-o", rec])
        done = storm.go()
        cgroup = f"st-it-perfetto-{os.getpid()}"
        job = run_cronjob(["--cgroup", cgroup, "--mem-limit", 256, "--alloc-mb", 200,
                           "--step-mb", 16, "--step-ms", 50, "--hold-ms", 1500])
        st.send_signal(signal.SIGINT)
        res = st.finish(40)
        assert res.returncode == 0, res
    finally:
        storm.kill()
    rep = run_spiketrace(["report", rec, "--format", "json"])
    assert rep.returncode == 0, rep
    out = tmp_path / "trace.json"
    pf = run_spiketrace(["report", rec, "--format", "perfetto", "-o", out])
    assert pf.returncode == 0 and pf.stdout == "", pf
    print(f"trace: {out.stat().st_size} bytes from a {rec.stat().st_size}-byte recording")
    return storm.ready, done, job, cgroup, json.loads(rep.stdout), json.loads(out.read_text())


def test_trace_of_an_oom_and_a_tls_flood(start_spiketrace, run_spiketrace, run_cronjob,
                                         tmp_path):
    ready, done, job, cgroup, rep, trace = record(start_spiketrace, run_spiketrace,
                                                  run_cronjob, tmp_path)
    assert set(trace) == {"traceEvents", "displayTimeUnit", "metadata"}
    assert trace["displayTimeUnit"] == "ms"
    meta = trace["metadata"]
    version = subprocess.run([str(REPO / "build" / "spiketrace"), "--version"],
                             capture_output=True, text=True, check=True).stdout.split()[-1]
    assert meta["spiketrace_version"] == version
    for k in ("host", "kernel", "start_unix_s", "duration_s", "lost_events"):
        assert k in meta, meta
    assert meta["duration_s"] == rep["duration_s"] and meta["lost_events"] == rep["lost_events"]
    assert meta["start_unix_s"] == rep["start_unix_s"] and meta["host"] == rep["host"]
    dur_us = rep["duration_s"] * 1e6

    events = trace["traceEvents"]
    for e in events:
        check_event(e, dur_us)
    check_nesting(events)
    print("events by ph:", dict(Counter(e["ph"] for e in events)))

    # One group per cause, the top 20 of the report, in rank order.
    groups = {e["pid"]: e["args"]["name"] for e in events
              if e["ph"] == "M" and e["name"] == "process_name"}
    order = {e["pid"]: e["args"]["sort_index"] for e in events
             if e["ph"] == "M" and e["name"] == "process_sort_index"}
    by_name = defaultdict(set)
    for pid, name in groups.items():
        by_name[name].add(pid)
    top = rep["causes"][:20]
    for rank, c in enumerate(top, 1):
        assert any(order[p] == rank for p in by_name[c["name"]]), (c["name"], rank)
    if len(rep["causes"]) > 20:
        assert any(n.startswith("other causes (") for n in groups.values()), groups
    assert all(p > 4194304 for p in groups), "group pids are above any real pid"
    threads = defaultdict(dict)  # group pid -> tid -> thread name
    for e in events:
        if e["ph"] == "M" and e["name"] == "thread_name":
            threads[e["pid"]][e["tid"]] = e["args"]["name"]
    lifetimes = {(e["pid"], e["tid"]) for e in events
                 if e["ph"] == "X" and e.get("cat") == "process"}

    # The cron job: a thread per process, named "comm pid", with its lifetime.
    assert len(job["oom_victims"]) == 1, job
    victim = job["oom_victims"][0]
    cause = next(c for c in rep["causes"] if victim in c["pids"])
    assert cause["name"] == cgroup
    (cron,) = [p for p in by_name[cgroup]]
    for p in job["processes"]:
        assert cron in {g for g in threads if p["pid"] in threads[g]}, p
        assert threads[cron][p["pid"]] == f"{p['comm']} {p['pid']}", (p, threads[cron])
        assert (cron, p["pid"]) in lifetimes, p
    assert set(cause["pids"]) <= set(threads[cron])

    # Exactly one OOM kill: global, on the victim's thread in its cause.
    assert [k["victim_pid"] for k in rep["oom_kills"]] == [victim]
    ooms = [e for e in events if e["ph"] == "i" and e["name"].startswith("OOM kill")]
    assert len(ooms) == 1, ooms
    assert ooms[0]["tid"] == victim and ooms[0]["pid"] == cron and ooms[0]["s"] == "g"
    assert ooms[0]["args"]["victim_pid"] == victim
    assert abs(ooms[0]["ts"] - rep["oom_kills"][0]["time_s"] * 1e6) < 1
    victim_life = next(e for e in events if e["ph"] == "X" and e.get("cat") == "process"
                       and e["tid"] == victim)
    assert victim_life["args"]["exit_code"] == 137 and victim_life["args"]["oom_killed"]

    # The nginx worker: a TLS slice per handshake the report counts for it.
    worker = ready["worker_pids"][0]
    tls = next(p for p in rep["tls"]["processes"] if p["pid"] == worker)
    assert tls["handshakes"] >= done["handshakes"] * 0.99, (tls, done)
    slices = [e for e in events if e["ph"] == "X" and e.get("cat") == "tls"
              and e["args"]["pid"] == worker]
    assert not meta["tls_truncated"] and meta["tls_handshakes_unplaced"] == 0, meta
    assert len(slices) == tls["handshakes"] + tls["failed"], (len(slices), tls)
    names = Counter(e["name"] for e in slices)
    assert set(names) <= TLS_NAMES and names["TLS failed"] == tls["failed"], names
    assert names["TLS full"] + names["TLS renegotiation"] == tls["full"], (names, tls)
    (nginx,) = {e["pid"] for e in slices}
    assert groups[nginx] == tls["cause"]
    for e in slices:
        assert e["tid"] == worker or threads[nginx][e["tid"]].startswith(f"nginx {worker} TLS")
        assert e["args"]["latency_us"] > 0 and e["args"]["peer"].startswith("127.0.0."), e
    assert sum(e["tid"] == worker for e in slices) > 0

    # Counter tracks per cause: CPU, RSS, handshakes/s; and the host's CPU.
    counters = defaultdict(lambda: defaultdict(list))
    for e in events:
        if e["ph"] == "C":
            counters[e["pid"]][e["name"]].append((e["ts"], e["args"]["value"]))
    for pid in (cron, nginx):
        assert {"cpu (cores)", "rss_bytes", "handshakes/s", "faults/s", "resets/s"} \
            <= set(counters[pid]), counters[pid].keys()
    assert max(v for _, v in counters[cron]["rss_bytes"]) >= 128 * MIB
    iv = meta["interval_s"]
    series = next(s["values"] for s in rep["timeline"]["series"]
                  if s["cause"] == tls["cause"] and s["metric"] == "tls_handshakes")
    per_s = [v for _, v in sorted(counters[nginx]["handshakes/s"])]
    assert [round(v * iv, 6) for v in per_s] == [round(v, 6) for v in series]
    (host,) = [p for p, n in groups.items() if n == "host " + rep["host"]]
    busy = [v for _, v in counters[host]["cpu busy (cores)"]]
    assert busy and max(busy) > 0 and all(v >= 0 for v in busy)
