#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Where spiketrace's in-kernel cost goes: per BPF program, how often it ran
and its mean run time, under each workload of bench/run.py.

    bench/bpfcost.py [--quick] [--rows P1,P2,P3,P4] [--json FILE]

Turns kernel.bpf_stats_enabled on for the run (the old value is put back on
every exit path), runs each row's workload once under its spiketrace
configuration, and reads run_cnt and run_time_ns of the agent's programs from
/proc/PID/fdinfo. This is the BPF program alone: the tracepoint's own
dispatch and, for uprobes, the trap and the single-step of the probed
instruction are not in it (bench/run.py --diagnose measures the whole).
Stats cost a clock read per program run, so timings here are a little high.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as H  # noqa: E402
import run as R  # noqa: E402

STATS = Path("/proc/sys/kernel/bpf_stats_enabled")


def agent_progs(pid):
    """{prog_id: (run_cnt, run_time_ns)} of the BPF programs pid holds."""
    out = {}
    fd_dir = Path(f"/proc/{pid}/fdinfo")
    for fd in fd_dir.iterdir():
        try:
            info = dict(ln.split(":", 1) for ln in fd.read_text().splitlines() if ":" in ln)
        except OSError:
            continue
        if "prog_id" in info and "run_cnt" in info:
            out[int(info["prog_id"])] = (int(info["run_cnt"]), int(info["run_time_ns"]))
    return out


def prog_name(pid_id):
    cp = subprocess.run(["bpftool", "prog", "show", "id", str(pid_id), "--json"],
                        capture_output=True, timeout=30)
    try:
        return json.loads(cp.stdout).get("name", f"id{pid_id}")
    except ValueError:
        return f"id{pid_id}"


def measure(row, sz, stopped=False):
    tracer = row.tracers[0]
    tmp = H.tempdir()
    prep = row.prepare(sz, tmp) if row.prepare else None
    p = None
    try:
        p = tracer.start(tmp)
        before = agent_progs(p.pid)
        if stopped:
            os.kill(p.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        try:
            value, gen = row.run(sz, prep)
        finally:
            if stopped:
                os.kill(p.pid, signal.SIGCONT)
        wall = time.monotonic() - t0
        after = agent_progs(p.pid)
        progs = []
        for pid_id, (cnt, ns) in after.items():
            c0, n0 = before.get(pid_id, (0, 0))
            if cnt - c0 > 0:
                progs.append({"program": prog_name(pid_id), "runs": cnt - c0,
                              "ns_per_run": (ns - n0) / (cnt - c0), "total_ms": (ns - n0) / 1e6})
        progs.sort(key=lambda x: -x["total_ms"])
        return {"row": row.id, "tracer": tracer.label + (", agent stopped" if stopped else ""),
                "workload_s": wall,
                "figure": value, "unit": row.unit, "programs": progs}
    finally:
        if p:
            p.stop(R.STOP_TIMEOUT_S)
        if prep:
            prep.stop()
        H.cleanup_dir(tmp)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rows", default="P1,P2,P3,P4")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--agent-stopped", action="store_true",
                    help="also with the agent SIGSTOPped during the workload: no ring "
                    "buffer consumer, so no wakeups")
    a = ap.parse_args()
    sz = dict(R.SIZES["quick" if a.quick else "full"])
    want = set(a.rows.upper().split(","))
    old = STATS.read_text().strip()
    results = []
    try:
        STATS.write_text("1")
        for row in R.ROWS:
            if row.id in want:
                results.append(measure(row, sz))
                if a.agent_stopped:
                    results.append(measure(row, sz, stopped=True))
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        STATS.write_text(old)
        H.cleanup()
    for r in results:
        print(f"{r['row']} {r['tracer']}: workload {r['workload_s']:.3f} s "
              f"({R.fmt_value(r['figure'], r['unit'])})")
        for p in r["programs"]:
            print(f"    {p['program']:24} {p['runs']:>10} runs  {p['ns_per_run']:8.0f} ns/run  "
                  f"{p['total_ms']:9.1f} ms")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
