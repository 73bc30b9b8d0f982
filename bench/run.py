#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""What spiketrace costs the traced box, side by side with bpftrace and
libbpf-tools (issue 9; results and method in docs/performance.md).

    bench/run.py [--quick] [--json FILE] [--rows P1,P3] [--reps N] [--keep]

Rows P1-P4, P7 and P8 each run one workload untraced, under spiketrace and under each
peer, alternating within one run (the order rotates every repetition), and
report medians, spread and the median of the per-repetition ratios to the
untraced run next to it. P5 is the agent itself (CPU %, peak RSS, start-up),
idle and under each of them; P6 the events counted vs generated. Everything prints
as one table and goes to --json as well. --quick is the CI smoke run: small
sizes, one repetition; it checks the harness and that numbers come out,
never a threshold.

A row is one entry of ROWS: a workload function (returns its figure and the
generator's JSON), a count function (the events each tracer counted vs those
generated, for P6), the tracers to compare (spiketrace's configuration first),
the goal on the ratio, and its sizes in SIZES. P5 and P6 follow from the rows
by themselves. Needs root and `make all`.
"""

import argparse
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as H  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
ST = BUILD / "spiketrace"
TOOLS = BUILD / "tools"
BT_DIR = ROOT / "bench" / "bt"
BPFTRACE = "/usr/bin/bpftrace"
LIBBPF_TOOLS = Path("/usr/sbin")
READY_TIMEOUT_S = 60  # bpftrace compiles its script first: seconds on a busy box
# Another session's tracer attached while we measure makes "untraced" traced:
# wait (bounded: per run, and in all) for it to go, and say in the results
# when it did not. The quick mode does not wait.
FOREIGN_WAIT_S = {"quick": (0, 0), "full": (10, 180)}
STOP_TIMEOUT_S = 120

SIZES = {
    "quick": {"reps": 1, "tls_full": 150, "tls_requests": 2000, "fault_mb": 256, "forks": 300,
              "conns": 2000,
              "net_mb": 256, "idle_s": 3},
    "full": {"reps": 5, "tls_full": 2000, "tls_requests": 50000, "fault_mb": 2048,
             "forks": 10000, "conns": 10000,
             "net_mb": 4096, "idle_s": 10},
}


# ---- tracers ---------------------------------------------------------------


class Tracer:
    """One way of tracing a workload: argv (given the run's temp dir), the
    line that says it is attached, and where that line goes."""

    def __init__(self, key, label, argv=None, ready=None, stream="out", reason=None,
                 sigstop=False):
        self.key, self.label = key, label
        self.argv, self.ready, self.stream = argv, ready, stream
        self.reason = reason  # why it cannot run (set up front, or at its first failure)
        # Diagnostic: the agent is SIGSTOPped while the workload runs, so what
        # is left is the cost of the BPF programs in the traced tasks alone
        # (no consumer: no wakeups, no agent CPU competing for the cores).
        self.sigstop = sigstop

    def start(self, tmp):
        p = H.Proc(self.argv(tmp), f"{tmp}/{self.key}.out", f"{tmp}/{self.key}.err")
        try:
            p.ready_s = p.wait_match(self.ready, self.stream, READY_TIMEOUT_S)
        except H.BenchError:
            p.kill()
            raise
        return p


def spiketrace(only, sigstop=False, binary=None):
    """binary: another build (--baseline), for A/B of a change in one run."""
    t = Tracer(
        f"spiketrace-{only or 'all'}{'-stopped' if sigstop else ''}"
        f"{'-baseline' if binary else ''}".replace(",", "+"),
        f"spiketrace {only or '(all)'}{', agent stopped' if sigstop else ''}"
        f"{f' (baseline {binary})' if binary else ''}",
        lambda tmp: [binary or ST, "record", *(["--only", only] if only else []), "-d", "900",
                     "-o", f"{tmp}/st.rec"],
        r"^spiketrace: tracing ", "err", sigstop=sigstop)
    t.only = only
    return t


def bpftrace(script):
    return Tracer(f"bpftrace-{script}", f"bpftrace {script}",
                  lambda tmp: [BPFTRACE, "-B", "line", BT_DIR / script], r"^ready", "out")


def libbpf_tool(name, header):
    # Line-buffered (stdbuf execs the tool: same pid), as on a terminal, so
    # the header it prints once attached is seen at once.
    return Tracer(name, f"libbpf-tools {name}",
                  lambda tmp: ["stdbuf", "-oL", LIBBPF_TOOLS / name], rf"^{header}", "out")


def unavailable(key, label, reason):
    return Tracer(key, label, reason=reason)


# ---- workloads: each returns (figure, what the generator said) -------------


def tls_prepare(sz, tmp, work=None):
    """nginx and the client, waiting for a line before they start."""
    work = work or ["--full", sz["tls_full"]]
    p = H.Proc([TOOLS / "st-tlsstorm", *work, "--wait-stdin", "--timeout", 600],
               f"{tmp}/tls.out", f"{tmp}/tls.err", stdin=True, stop_sig=signal.SIGTERM)
    p.wait_match(r'"type": "ready"', "out", 60)
    return p


def tls_run(sz, p):
    p.popen.stdin.write(b"\n")
    p.popen.stdin.flush()
    try:
        p.popen.wait(timeout=600)
    except Exception:
        p.stop()
        raise
    p.stop()
    done = H.parse_last_json(p.text(), "st-tlsstorm")
    if done.get("type") != "done" or done["failed"] or not done["elapsed_s"]:
        raise H.BenchError(f"st-tlsstorm: {done}")
    return done["full"] / done["elapsed_s"], done


def requests_prepare(sz, tmp):
    return tls_prepare(sz, tmp, ["--full", 0, "--requests", sz["tls_requests"]])


def requests_run(sz, p):
    _, done = tls_run(sz, p)
    if done["requests"] != sz["tls_requests"]:
        raise H.BenchError(f"st-tlsstorm: {done}")
    return done["requests"] / done["elapsed_s"], done


def fault_run(sz, _):
    g = H.run_json([TOOLS / "st-faultstorm", "--mb", sz["fault_mb"], "--warm"], 600)
    return g["elapsed_s"], g


def fork_run(sz, _):
    g = H.run_json([TOOLS / "st-forkstorm", "--count", sz["forks"], "--warm", 20,
                    "--timeout", 600], 660)
    if g["failed"] or g["interrupted"]:
        raise H.BenchError(f"st-forkstorm: {g}")
    return g["elapsed_s"], g


def conn_run(sz, _):
    g = H.run_json([TOOLS / "st-connstorm", "--count", sz["conns"], "--warm", 100,
                    "--timeout", 600], 660)
    if g["failed"] or g["interrupted"]:
        raise H.BenchError(f"st-connstorm: {g}")
    return g["elapsed_s"], g


def net_prepare(sz, tmp):
    """The server of a bulk download, listening on a free loopback port."""
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        port = so.getsockname()[1]
    p = H.Proc([TOOLS / "st-netpump", "server", "--port", port, "--conns", 1, "--max-s", 600],
               f"{tmp}/netpump.out", f"{tmp}/netpump.err")
    p.wait_match(r'"type":"ready"', "out", 60)
    p.port = port
    return p


def net_run(sz, p):
    g = H.run_json([TOOLS / "st-netpump", "client", "--port", p.port, "--down",
                    sz["net_mb"] * 1024 * 1024, "--up", 0, "--max-s", 600], 660)
    if g["rx_bytes"] != sz["net_mb"] * 1024 * 1024 or not g["elapsed_s"]:
        raise H.BenchError(f"st-netpump: {g}")
    return g["elapsed_s"], g


# ---- counts: (events counted, generated) per tracer -------------------------


def report_json(rec):
    cp = subprocess.run([ST, "report", rec, "--format", "json"], capture_output=True,
                        timeout=300)
    if cp.returncode != 0:
        raise H.BenchError(f"spiketrace report: {H.last_line(cp.stderr.decode())}")
    return json.loads(cp.stdout)


def bt_map(text, name):
    """{key tuple: value} of a bpftrace map printed at exit: @name[a, b]: N."""
    out = {}
    for m in re.finditer(rf"^@{name}\[([^\]]*)\]: (\d+)$", text, re.M):
        out[tuple(k.strip() for k in m.group(1).split(","))] = int(m.group(2))
    return out


def tls_count(tr, p, g, tmp):
    gen = g["full"]
    workers = {int(w) for w in g["worker_pids"]}
    if tr.key.startswith("spiketrace"):
        rep = report_json(f"{tmp}/st.rec")
        n = sum(x["handshakes"] for x in rep["tls"]["processes"] if x["pid"] in workers)
        return n, gen, rep["lost_events"]
    hs = bt_map(p.text(), "hs")
    return sum(v for (pid, ret), v in hs.items() if int(pid) in workers and ret == "1"), gen, None


def fault_count(tr, p, g, tmp):
    gen = g["pages_touched"] + g["warm_pages"]
    if tr.key.startswith("spiketrace"):
        rep = report_json(f"{tmp}/st.rec")
        n = sum(x.get("page_faults", 0) for x in rep["processes"] if x["pid"] == g["pid"])
        return n, gen, rep["lost_events"]
    return bt_map(p.text(), "").get((str(g["pid"]),), 0), gen, None


def fork_count(tr, p, g, tmp):
    gen = g["count"] + g["warm"]
    if tr.key.startswith("spiketrace"):
        rep = report_json(f"{tmp}/st.rec")
        n = sum(x["execs"] for x in rep["processes"] if x["ppid"] == g["pid"])
        return n, gen, rep["lost_events"]
    # execsnoop: PCOMM PID PPID RET ARGS
    n = 0
    for line in p.text().splitlines()[1:]:
        f = line.split()
        if len(f) >= 4 and f[2] == str(g["pid"]) and f[3] == "0":
            n += 1
    return n, gen, None


def conn_count(tr, p, g, tmp):
    gen = g["count"] + g["warm"]
    if tr.key.startswith("spiketrace"):
        rep = report_json(f"{tmp}/st.rec")
        n = sum(r["connections"] for r in rep["tcp"]["by_remote"]
                if r.get("direction") == "out" and r["raddr"] == "127.0.0.1"
                and r["rport"] == g["port"])
        # The same from the per-CPU transition counters, exact even when
        # records drop; the box's other connections come on top.
        est = sum(t["count"] for t in rep["tcp"]["transitions_by_state"]
                  if (t["from"], t["to"]) == ("SYN_SENT", "ESTABLISHED"))
        return n, gen, rep["lost_events"], {
            "counted": est, "what": "SYN_SENT->ESTABLISHED transitions (per-CPU counters)"}
    # tcpstates: SKADDR PID COMM LADDR LPORT RADDR RPORT OLDSTATE -> NEWSTATE MS
    n = 0
    for line in p.text().splitlines()[1:]:
        f = line.split()
        if len(f) >= 10 and f[6] == str(g["port"]) and f[7] == "SYN_SENT" \
                and f[9] == "ESTABLISHED":
            n += 1
    return n, gen, None


def net_count(tr, p, g, tmp):
    gen = g["rx_bytes"]
    if tr.key.startswith("spiketrace"):
        rep = report_json(f"{tmp}/st.rec")
        n = sum(x.get("net_rx_bytes", 0) for x in rep["processes"] if x["pid"] == g["pid"])
        return n, gen, rep["lost_events"]
    return bt_map(p.text(), "rx").get((str(g["pid"]),), 0), gen, None


# ---- the rows ----------------------------------------------------------------


class Row:
    """A workload row: what it measures, how, against which tracers."""

    def __init__(self, rid, what, unit, higher, run, count, tracers, goal, events, size,
                 prepare=None, diag=(), cpu_per_op=None):
        self.id, self.what, self.unit, self.higher = rid, what, unit, higher
        self.size = size  # fn(SIZES entry) -> how big the workload is, in words
        self.run, self.count, self.prepare = run, count, prepare
        self.tracers = tracers  # the first is spiketrace's configuration
        self.diag = list(diag)  # --diagnose: variants that split spiketrace's cost
        # (what, fn(generator JSON) -> µs): CPU time per operation, a second figure
        # far less sensitive to other work on the box than a rate or a wall time.
        self.cpu_per_op = cpu_per_op
        self.goal = goal  # (comparison, limit) on the ratio to untraced
        self.events = events  # what P6 counts for this workload


SSLSNIFF_REASON = ("not packaged: Debian 12's libbpf-tools 0.26 has no sslsniff "
                   "(bpftrace's sslsnoop.bt prints every SSL_read/write too)")

ROWS = [
    Row("P1", "nginx TLS full handshakes on loopback", "handshakes/s", True, tls_run, tls_count,
        [spiketrace("tls,cpu"), bpftrace("tls_handshake.bt"),
         unavailable("sslsniff", "libbpf-tools sslsniff --handshake", SSLSNIFF_REASON)],
        (">=", 0.98), "handshakes", lambda sz: f"{sz['tls_full']} full handshakes",
        prepare=tls_prepare,
        diag=[spiketrace("tls"), spiketrace("tls,cpu", sigstop=True)],
        cpu_per_op=("nginx worker CPU per handshake",
                    lambda g: 1e6 * g["server_cpu_s"] / g["full"] if g["full"] else None)),
    Row("P2", "page-fault storm, warm memory", "s", False, fault_run, fault_count,
        [spiketrace("mem"), bpftrace("page_faults.bt")], ("<=", 1.03), "page faults",
        lambda sz: f"{sz['fault_mb']} MiB, 4 KiB pages",
        diag=[spiketrace("mem", sigstop=True)]),
    Row("P3", "fork+exec storm of /bin/true", "s", False, fork_run, fork_count,
        [spiketrace("proc"), libbpf_tool("execsnoop", "PCOMM")], ("<=", 1.05), "execs",
        lambda sz: f"{sz['forks']} x fork+exec",
        diag=[spiketrace("proc", sigstop=True)]),
    Row("P4", "short TCP connections on loopback", "s", False, conn_run, conn_count,
        [spiketrace("tcp"), libbpf_tool("tcpstates", "SKADDR")], ("<=", 1.05), "connections",
        lambda sz: f"{sz['conns']} connections",
        diag=[spiketrace("tcp", sigstop=True)]),
    Row("P7", "bulk TCP download on loopback", "s", False, net_run, net_count,
        [spiketrace("net"), bpftrace("net_bytes.bt")], ("<=", 1.05), "bytes",
        lambda sz: f"{sz['net_mb']} MiB in one connection", prepare=net_prepare,
        diag=[spiketrace("net", sigstop=True)]),
    # The same probes in a TLS server's steady state: every request is an
    # SSL_read and an SSL_write on each side, no handshake (tls_count: the
    # connection's one).
    Row("P8", "nginx TLS requests on one kept-alive connection", "requests/s", True,
        requests_run, tls_count,
        [spiketrace("tls,cpu"), bpftrace("tls_handshake.bt")],
        (">=", 0.98), "handshakes", lambda sz: f"{sz['tls_requests']} HTTP/1.1 GETs",
        prepare=requests_prepare,
        cpu_per_op=("nginx worker CPU per request",
                    lambda g: 1e6 * g["server_cpu_s"] / g["requests"] if g["requests"] else None)),
]

# P5 idle: spiketrace with every concern, and each peer alone.
IDLE_TRACERS = [spiketrace(None), bpftrace("tls_handshake.bt"), bpftrace("page_faults.bt"),
                libbpf_tool("execsnoop", "PCOMM"), libbpf_tool("tcpstates", "SKADDR")]


def one_sample(row, tracer, sz, log):
    """One run of the row's workload, untraced (tracer None) or traced."""
    tmp = H.tempdir()
    s = {"foreign_tracers": H.wait_no_foreign_tracers(*sz["foreign_wait"])}
    prep = row.prepare(sz, tmp) if row.prepare else None
    p = None
    try:
        if tracer:
            p = tracer.start(tmp)
            s["startup_s"] = p.ready_s
            c0 = H.cpu_s(p.pid)
            if tracer.sigstop:
                os.kill(p.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        try:
            value, gen = row.run(sz, prep)
        finally:
            if p and tracer.sigstop:
                os.kill(p.pid, signal.SIGCONT)
        wall = time.monotonic() - t0
        s["value"], s["gen"] = value, gen
        if tracer and tracer.sigstop:
            p.stop(STOP_TIMEOUT_S)
        elif tracer:
            c1 = H.cpu_s(p.pid)
            s["agent_cpu_pct"] = 100 * (c1 - c0) / wall if None not in (c0, c1) else None
            s["agent_hwm_kib"] = H.status_kib(p.pid, "VmHWM")
            rc = p.stop(STOP_TIMEOUT_S)
            if rc not in (0, None) and tracer.key.startswith("spiketrace"):
                raise H.BenchError(f"{tracer.label} exited {rc}: {H.last_line(p.text('err'))}")
            counted, generated, lost, *extra = row.count(tracer, p, gen, tmp)
            s.update(counted=counted, generated=generated, lost_events=lost,
                     rate=generated / wall if wall else None)
            if extra:
                s["aggregated"] = extra[0]
        log(f"  {row.id} {tracer.label if tracer else 'untraced':40} "
            f"{fmt_value(value, row.unit)}"
            + (f"  agent {s['agent_cpu_pct']:.1f} % cpu, start {1000 * s['startup_s']:.0f} ms,"
               f" counted {s['counted']}/{s['generated']}" if tracer and not tracer.sigstop
               else "")
            + (f"  (beside {', '.join(s['foreign_tracers'])})" if s["foreign_tracers"] else ""))
        return s
    finally:
        if p:
            p.stop(STOP_TIMEOUT_S)
        if prep:
            prep.stop()
        H.cleanup_dir(tmp)


def run_row(row, sz, log, diagnose=False):
    """reps rounds of (untraced, spiketrace, peers...), the order rotated
    each round so no variant always runs first or after the same one."""
    variants = [None] + [t for t in row.tracers + (row.diag if diagnose else [])
                         if not t.reason]
    samples = {id(v): [] for v in variants}
    for rep in range(sz["reps"]):
        k = rep % len(variants)
        for v in variants[k:] + variants[:k]:
            if v is not None and v.reason:
                continue  # failed in an earlier round
            try:
                samples[id(v)].append((rep, one_sample(row, v, sz, log)))
            except H.BenchError as e:
                if v is None or v is row.tracers[0]:
                    raise
                v.reason = f"cannot run here: {e}"
                log(f"  {row.id} {v.label}: {v.reason}")
    return variants, samples


def paired_ratios(base, other):
    """Per repetition: other / untraced of the same round."""
    by_rep = {rep: s["value"] for rep, s in base}
    return [s["value"] / by_rep[rep] for rep, s in other if by_rep.get(rep)]


def idle_sample(tracer, secs, log):
    tmp = H.tempdir()
    try:
        p = tracer.start(tmp)
        c0 = H.cpu_s(p.pid)
        threads0 = H.thread_cpu(p.pid)
        time.sleep(secs)
        c1 = H.cpu_s(p.pid)
        threads1 = H.thread_cpu(p.pid)
        s = {"startup_s": p.ready_s, "agent_cpu_pct": 100 * (c1 - c0) / secs,
             "agent_hwm_kib": H.status_kib(p.pid, "VmHWM"),
             "memory_kib": H.memory_kib(p.pid),
             "threads": {f"{threads1[t][0]}[{t}]": round(threads1[t][1] - threads0[t][1], 3)
                         for t in threads1 if t in threads0}}
        p.stop(STOP_TIMEOUT_S)
        log(f"  P5 idle {tracer.label:32} cpu {s['agent_cpu_pct']:.2f} %, "
            f"hwm {s['agent_hwm_kib'] / 1024:.1f} MiB, start {1000 * s['startup_s']:.0f} ms")
        return s
    finally:
        H.cleanup_dir(tmp)


# ---- the table -----------------------------------------------------------------


def fmt_value(v, unit):
    if v is None:
        return "-"
    if unit.endswith("/s"):
        return f"{v:.0f}/s"
    if unit == "s":
        return f"{v:.3f} s"
    if unit == "%":
        return f"{v:.2f} %"
    if unit == "MiB":
        return f"{v:.1f} MiB"
    if unit == "ms":
        return f"{v:.0f} ms"
    if unit == "us":
        return f"{v:.0f} us"
    return f"{v:g}"


def fmt_spread(s, unit):
    if not s or s["n"] < 2:
        return ""
    lo, hi = fmt_value(s["min"], unit), fmt_value(s["max"], unit)
    if " " in hi:  # "97-146 ms": the unit once
        lo = lo.split()[0]
    return f"{lo}-{hi}"


def verdict(value, goal):
    if value is None or goal is None:
        return None
    op, limit = goal
    return value >= limit if op == ">=" else value <= limit


def line(rid, measure, who, unit, stat=None, ratio=None, goal=None, met=None, note="",
         error=None, **extra):
    """One row of the table (and of the JSON)."""
    return {"id": rid, "measure": measure, "tracer": who, "unit": unit,
            "median": stat["median"] if stat else None,
            "stat": stat, "ratio": ratio,
            "goal": f"{goal[0]} {goal[1]}" if goal else None, "met": met, "note": note,
            "error": error, **extra}


def workload_lines(row, sz, variants, samples):
    out = []
    what = f"{row.what} ({row.size(sz)})"
    base = samples[id(None)]
    beside = sum(1 for _, x in base if x["foreign_tracers"])
    out.append(line(row.id, what, "untraced", row.unit, H.summary([s["value"] for _, s in base]),
                    note=f"{beside} run(s) beside another session's tracer" if beside else ""))
    st_stat = None
    for t in row.tracers + [d for d in row.diag if samples.get(id(d))]:
        if t.reason and not samples.get(id(t)):
            out.append(line(row.id, what, t.label, row.unit, error=t.reason))
            continue
        stat = H.summary([s["value"] for _, s in samples[id(t)]])
        r = H.summary(paired_ratios(base, samples[id(t)]))
        is_st = t is row.tracers[0]
        ratio = r["median"] if r else None
        notes = ["diagnostic"] if t in row.diag else []
        if r and r["n"] > 1:
            notes.append(f"ratio spread {r['min']:.3f}-{r['max']:.3f}")
        if is_st:
            st_stat = stat
        elif st_stat and stat and t not in row.diag:
            notes.append(f"spiketrace/peer {st_stat['median'] / stat['median']:.3f}")
        if t.reason:
            notes.append(t.reason)
        beside = sum(1 for _, x in samples[id(t)] if x["foreign_tracers"])
        if beside:
            notes.append(f"{beside} run(s) beside another session's tracer")
        note = "; ".join(notes)
        out.append(line(row.id, what, t.label, row.unit, stat, ratio,
                        row.goal if is_st else None,
                        verdict(ratio, row.goal) if is_st else None, note))
    return out


def cpu_per_op_lines(row, samples):
    """The row's CPU-per-operation figure for each variant, with paired ratios."""
    what, fn = row.cpu_per_op
    base = [(rep, {"value": fn(s["gen"])}) for rep, s in samples[id(None)]]
    out = [line(row.id, what, "untraced", "us", H.summary([s["value"] for _, s in base]))]
    for t in row.tracers + row.diag:
        mine = [(rep, {"value": fn(s["gen"])}) for rep, s in samples.get(id(t)) or []]
        if not mine:
            continue
        r = H.summary(paired_ratios(base, mine))
        out.append(line(row.id, what, t.label, "us", H.summary([s["value"] for _, s in mine]),
                        r["median"] if r else None,
                        note="diagnostic" if t in row.diag else ""))
    return out


def p5_lines(rows_done, idle, sz):
    out = []
    for t, s in idle:
        if s is None:
            out.append(line("P5", "agent idle", t.label, "%", error=t.reason))
            continue
        cpu = H.summary([s["agent_cpu_pct"]])
        hwm = H.summary([s["agent_hwm_kib"] / 1024])
        st = t.key.startswith("spiketrace")
        out.append(line("P5", f"agent CPU idle ({sz['idle_s']} s)", t.label, "%", cpu, None,
                        ("<=", 1.0) if st else None,
                        verdict(cpu["median"], ("<=", 1.0)) if st else None,
                        "busiest threads: " + ", ".join(
                            f"{k} {v:.2f} s" for k, v in sorted(
                                s["threads"].items(), key=lambda kv: -kv[1])[:3])))
        m = s["memory_kib"]
        out.append(line("P5", "agent peak RSS idle", t.label, "MiB", hwm, None,
                        ("<=", 32) if st else None,
                        verdict(hwm["median"], ("<=", 32)) if st else None,
                        f"now: anon {m['RssAnon'] / 1024:.1f}, file {m['RssFile'] / 1024:.1f}"
                        f", shmem {m['RssShmem'] / 1024:.1f} MiB, of which mapped BPF maps "
                        f"{m['bpf_maps'] / 1024:.1f} MiB" if m.get("RssAnon") is not None
                        else "", memory_kib=m))
    starts = []
    for t, s in idle:
        if s is not None:
            starts.append((t, [s["startup_s"]]))
    for row, variants, samples in rows_done:
        for t in row.tracers:
            ss = samples.get(id(t)) or []
            if not ss:
                continue
            cpu = H.summary([s["agent_cpu_pct"] for _, s in ss])
            hwm = H.summary([s["agent_hwm_kib"] / 1024 for _, s in ss if s["agent_hwm_kib"]])
            out.append(line("P5", f"agent CPU under {row.id}", t.label, "%", cpu))
            out.append(line("P5", f"agent peak RSS under {row.id}", t.label, "MiB", hwm,
                            None, ("<=", 32) if t is row.tracers[0] else None,
                            verdict(hwm["median"] if hwm else None, ("<=", 32))
                            if t is row.tracers[0] else None))
            starts.append((t, [s["startup_s"] for _, s in ss]))
    seen = {}
    for t, vals in starts:
        seen.setdefault(t.label, (t, []))[1].extend(vals)
    for label, (t, vals) in seen.items():
        stat = H.summary([1000 * v for v in vals])
        st = t.key.startswith("spiketrace")
        out.append(line("P5", "start-up to all probes attached", label, "ms", stat, None,
                        ("<=", 300) if st else None,
                        verdict(stat["median"], ("<=", 300)) if st else None))
    return out


def p6_lines(rows_done):
    out = []
    for row, variants, samples in rows_done:
        for t in row.tracers:
            ss = [s for _, s in samples.get(id(t)) or []]
            if not ss:
                continue
            # The fastest repetition: the highest rate the workload reached.
            s = max(ss, key=lambda x: x["rate"] or 0)
            worst = min(x["counted"] / x["generated"] for x in ss if x["generated"])
            lost = [x["lost_events"] for x in ss if x["lost_events"] is not None]
            st = t is row.tracers[0]
            # Page faults: the process's own start-up faults come on top.
            exact = row.id != "P2"
            ok = all((x["counted"] == x["generated"]) if exact else
                     (x["counted"] >= x["generated"]) for x in ss) and not any(lost)
            note = (f"at {s['rate']:,.0f} {row.events}/s: {s['counted']} of "
                    f"{s['generated']}; worst of {len(ss)}: {worst:.4f}")
            if lost:
                note += f"; lost_events max {max(lost)}"
            stat = H.summary([x["counted"] / x["generated"] for x in ss if x["generated"]])
            out.append(line("P6", f"{row.events} counted / generated ({row.id})", t.label,
                            "ratio", stat, None,
                            ("==", "generated, lost 0") if st else None, ok if st else None,
                            note, counted=s["counted"], generated=s["generated"],
                            lost_events=s["lost_events"], rate_per_s=s["rate"]))
            agg = [x for x in ss if x.get("aggregated")]
            if agg:
                # An aggregated path of the same events: nothing may be missing.
                s = max(agg, key=lambda x: x["rate"] or 0)
                what = s["aggregated"]["what"]
                ok = all(x["aggregated"]["counted"] >= x["generated"] for x in agg)
                stat = H.summary([x["aggregated"]["counted"] / x["generated"] for x in agg])
                out.append(line("P6", f"{what} / generated ({row.id})", t.label, "ratio", stat,
                                None, (">=", "generated"), ok,
                                f"at {s['rate']:,.0f} {row.events}/s: "
                                f"{s['aggregated']['counted']} for {s['generated']}; "
                                f"the box's other connections count too",
                                counted=s["aggregated"]["counted"], generated=s["generated"],
                                lost_events=s["lost_events"], rate_per_s=s["rate"]))
    return out


def print_table(lines, out=sys.stdout):
    hdr = ["id", "measure", "tracer", "median", "spread", "vs untraced", "goal", "met", "note"]
    rows = []
    prev = None
    for ln in lines:
        # The measure once per group of lines, so the table stays readable.
        measure = "" if (ln["id"], ln["measure"]) == prev else ln["measure"]
        prev = (ln["id"], ln["measure"])
        if ln["error"]:
            rows.append([ln["id"], measure, ln["tracer"], "-", "", "", "", "",
                         ln["error"]])
            continue
        st = ln["stat"]
        unit = ln["unit"]
        med = f"{st['median']:.4f}" if unit == "ratio" and st else \
            fmt_value(st["median"] if st else None, unit)
        rows.append([ln["id"], measure, ln["tracer"], med,
                     f"{st['min']:.4f}-{st['max']:.4f}" if unit == "ratio" and st
                     and st["n"] > 1 else fmt_spread(st, unit),
                     f"{ln['ratio']:.3f}" if ln["ratio"] is not None else "",
                     ln["goal"] or "",
                     {True: "yes", False: "MISSED", None: ""}[ln["met"]], ln["note"]])
    widths = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr) - 1)]
    for r in [hdr] + rows:
        out.write("  ".join(str(c).ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] + "\n")


# ---- the machine -------------------------------------------------------------


def cmd_out(argv):
    try:
        cp = subprocess.run(argv, capture_output=True, timeout=30)
        return (cp.stdout + cp.stderr).decode(errors="replace").strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return None


def machine():
    cpu = None
    with open("/proc/cpuinfo") as f:
        for ln in f:
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    pkgs = {}
    for pkg in ("bpftrace", "libbpf-tools", "nginx", "libssl3", "libbpf1"):
        pkgs[pkg] = cmd_out(["dpkg-query", "-W", "-f=${Version}", pkg])
    try:
        debian = Path("/etc/debian_version").read_text().strip()
    except OSError:
        debian = None
    return {"host": platform.node(), "kernel": platform.release(), "arch": platform.machine(),
            "cpu": cpu, "cpus": os.cpu_count(), "mem_gib": round(mem_kib / 2**20, 1),
            "debian": debian, "spiketrace": cmd_out([ST, "--version"]),
            "git": cmd_out(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]),
            "packages": pkgs, "nice": os.nice(0)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="CI smoke run: small, one repetition")
    ap.add_argument("--json", metavar="FILE", help="write the table as JSON too")
    ids = [r.id for r in ROWS] + ["P5", "P6"]
    ap.add_argument("--rows", default=",".join(ids),
                    help="comma list of rows (P5 idle and P6 use what the workload rows ran)")
    ap.add_argument("--reps", type=int, help="repetitions per variant (default 5, quick 1)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary files")
    ap.add_argument("--baseline", metavar="BIN",
                    help="another spiketrace build, run as one more variant of each row "
                    "(same concerns): a change's A/B in one alternating run")
    ap.add_argument("--diagnose", action="store_true",
                    help="also run the variants that split spiketrace's cost (P1 tls alone; "
                    "each row with the agent stopped: the BPF programs' cost alone)")
    a = ap.parse_args()
    want = set(a.rows.upper().split(","))
    bad = want - set(ids)
    if bad:
        ap.error(f"unknown rows: {','.join(sorted(bad))}")
    if a.reps is not None and not 1 <= a.reps <= 100:
        ap.error("--reps wants 1..100")
    if a.baseline:
        if not os.access(a.baseline, os.X_OK):
            ap.error(f"--baseline {a.baseline}: not an executable")
        for row in ROWS:
            row.tracers.insert(1, spiketrace(row.tracers[0].only, binary=a.baseline))
    if os.geteuid() != 0:
        sys.exit("bench/run.py: needs root (BPF, uprobes): run `sudo make bench`")
    missing = [str(p) for p in [ST, TOOLS / "st-tlsstorm", TOOLS / "st-faultstorm",
                                TOOLS / "st-forkstorm", TOOLS / "st-connstorm"] if not p.exists()]
    if missing:
        sys.exit(f"bench/run.py: missing {', '.join(missing)}: run `make all` first")
    mode = "quick" if a.quick else "full"
    sz = dict(SIZES[mode])
    if a.reps:
        sz["reps"] = a.reps
    sz["foreign_wait"] = FOREIGN_WAIT_S[mode]
    # Ctrl-C, SIGTERM and SIGHUP all unwind through the clean-up below (SIGINT
    # explicitly: a shell's background job starts with it ignored).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, H.on_terminate)
    H.KEEP = a.keep

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    t_start = time.time()
    meta = {"mode": mode, "sizes": sz, "diagnose": a.diagnose, "started_unix_s": round(t_start),
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t_start)),
            "loadavg_start": H.loadavg(), "machine": machine()}
    rows_done, idle, lines = [], [], []
    try:
        for row in ROWS:
            if row.id not in want:
                continue
            log(f"{row.id}: {row.what}, {sz['reps']} repetition(s)")
            variants, samples = run_row(row, sz, log, a.diagnose)
            rows_done.append((row, variants, samples))
            lines += workload_lines(row, sz, variants, samples)
            if row.cpu_per_op:
                lines += cpu_per_op_lines(row, samples)
        if "P5" in want:
            log(f"P5: agents idle, {sz['idle_s']} s each")
            for t in IDLE_TRACERS:
                try:
                    idle.append((t, idle_sample(t, sz["idle_s"], log)))
                except H.BenchError as e:
                    t.reason = t.reason or f"cannot run here: {e}"
                    idle.append((t, None))
            lines += p5_lines(rows_done, idle, sz)
        if "P6" in want:
            lines += p6_lines(rows_done)
    except KeyboardInterrupt:
        log("bench/run.py: interrupted, cleaning up")
        H.cleanup(a.keep)
        sys.exit(130)
    except H.BenchError as e:
        log(f"bench/run.py: {e}")
        H.cleanup(a.keep)
        sys.exit(1)
    finally:
        H.cleanup(a.keep)
    meta["duration_s"] = round(time.time() - t_start, 1)
    meta["loadavg_end"] = H.loadavg()
    m = meta["machine"]
    print(f"spiketrace bench ({mode}): {m['spiketrace']} ({m['git']}), kernel {m['kernel']}, "
          f"{m['cpus']} x {m['cpu']}, {meta['started']}, {meta['duration_s']} s, "
          f"load {meta['loadavg_start'][0]:.2f} -> {meta['loadavg_end'][0]:.2f}")
    print_table(lines)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        with open(a.json, "w") as f:
            json.dump({"meta": meta, "rows": lines}, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
