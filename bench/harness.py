# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""What bench/run.py needs to start, watch and stop processes.

Everything started goes through spawn(): its own session (so a Ctrl-C on the
terminal reaches only us, and we stop things in order), PR_SET_PDEATHSIG so
nothing outlives a SIGKILLed harness, and a registry that cleanup() empties
on every exit path. No threads: readiness is found by polling the files the
processes write to.
"""

import ctypes
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

PR_SET_PDEATHSIG = 1
CLK_TCK = os.sysconf("SC_CLK_TCK")
POLL_S = 0.002

_live = []  # Proc objects not yet reaped
_dirs = []  # temporary directories to remove


class BenchError(Exception):
    """A step of the harness failed: the message says which and why."""


def _pdeathsig():
    # The child dies (gracefully: SIGTERM) when the harness does.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except OSError:
        pass


class Proc:
    """A started process, its output files and how to stop it."""

    def __init__(self, argv, out, err, stdin=False, stop_sig=signal.SIGINT):
        self.argv = [str(a) for a in argv]
        self.out, self.err = out, err
        self.stop_sig = stop_sig
        self.t_start = time.monotonic()
        with open(out, "wb") as fo, open(err, "wb") as fe:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=fo,
                stderr=fe,
                start_new_session=True,
                preexec_fn=_pdeathsig,
            )
        self.pid = self.popen.pid
        _live.append(self)

    def alive(self):
        return self.popen.poll() is None

    def text(self, which="out"):
        with open(self.out if which == "out" else self.err, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_match(self, regex, which, timeout):
        """Seconds from the start until a line of stdout/stderr matches regex.
        Fails when the process exits first or the timeout passes."""
        rx = re.compile(regex, re.M)
        path = self.out if which == "out" else self.err
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            try:
                size = os.stat(path).st_size
            except FileNotFoundError:
                size = 0
            if size != seen:
                seen = size
                if rx.search(self.text(which)):
                    return time.monotonic() - self.t_start
            if not self.alive():
                if rx.search(self.text(which)):
                    return time.monotonic() - self.t_start
                raise BenchError(f"{self.argv[0]} exited ({self.popen.returncode}) before "
                                 f"{regex!r}: {last_line(self.text('err') or self.text())}")
            if time.monotonic() > deadline:
                raise BenchError(f"{self.argv[0]}: no {regex!r} within {timeout} s")
            time.sleep(POLL_S)

    def stop(self, timeout=60):
        """The stop signal to the whole session, SIGKILL after timeout."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, self.stop_sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._forget()
        return self.popen.returncode

    def kill(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._forget()

    def _forget(self):
        if self.popen.stdin:
            try:
                self.popen.stdin.close()
            except OSError:
                pass
        if self in _live:
            _live.remove(self)


def last_line(text):
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "(no output)"


def tempdir():
    d = tempfile.mkdtemp(prefix="st-bench-")
    _dirs.append(d)
    return d


KEEP = False  # --keep: leave the temporary directories for a look


def cleanup_dir(d):
    """Removes one temporary directory now (unless KEEP)."""
    if KEEP:
        return
    shutil.rmtree(d, ignore_errors=True)
    if d in _dirs:
        _dirs.remove(d)


def cleanup(keep=False):
    """Stops everything still running (its stop signal, then SIGKILL) and
    removes the temporary directories. Safe to call more than once."""
    for p in list(_live):
        p.stop(timeout=10)
    if not keep:
        for d in _dirs:
            shutil.rmtree(d, ignore_errors=True)
    _dirs.clear()


def on_terminate(signum, frame):
    # SIGTERM and SIGHUP take the KeyboardInterrupt path: finally blocks run.
    raise KeyboardInterrupt(f"signal {signum}")


def run_json(argv, timeout, cwd=None):
    """Runs a generator to its end; returns the last JSON line of its stdout."""
    argv = [str(a) for a in argv]
    try:
        cp = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                            timeout=timeout, cwd=cwd, start_new_session=True,
                            preexec_fn=_pdeathsig)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{' '.join(argv)}: over {timeout} s") from None
    if cp.returncode != 0:
        raise BenchError(f"{' '.join(argv)}: exit {cp.returncode}: "
                         f"{last_line(cp.stderr.decode(errors='replace'))}")
    return parse_last_json(cp.stdout.decode(errors="replace"), argv[0])


def parse_last_json(text, what):
    for line in reversed(text.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    raise BenchError(f"{what}: no JSON line in {text[-300:]!r}")


def cpu_ticks(pid):
    """utime + stime of the whole process (every thread, live or gone)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5)


def cpu_s(pid):
    """CPU seconds the process has used. The sum of its live threads'
    schedstat run time (ns) where the kernel has it: utime+stime in
    /proc/PID/stat ticks at 1/CLK_TCK (10 ms), too coarse for a 0.3 s storm;
    the agents we measure do not start and end threads while measured."""
    try:
        total = 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        pass
    try:
        return cpu_ticks(pid) / CLK_TCK
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def thread_cpu(pid):
    """{tid: (comm, seconds)} of the live threads: where an agent's CPU goes."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                s = f.read()
        except FileNotFoundError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        fields = s.rsplit(")", 1)[1].split()
        out[int(tid)] = (comm, (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return out


def status_kib(pid, key):
    """A kB field of /proc/PID/status (VmHWM, VmRSS), or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return None


def memory_kib(pid):
    """Where the RSS is: VmHWM, VmRSS, RssAnon, RssFile, RssShmem (kB) and
    "bpf_maps", the RSS of mmap()ed BPF maps (ring buffers: the kernel maps
    their data pages twice, so each counts double here)."""
    out = {k: status_kib(pid, k) for k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem")}
    bpf, cur = 0, None
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for ln in f:
                if "-" in ln.split(" ", 1)[0] and not ln.startswith(("Rss", "Pss")):
                    cur = ln.rstrip().endswith("anon_inode:bpf-map")
                elif ln.startswith("Rss:") and cur:
                    bpf += int(ln.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    out["bpf_maps"] = bpf
    return out


TRACER_COMMS = {"spiketrace", "bpftrace", "execsnoop", "tcpstates", "tcplife", "opensnoop",
                "perf", "sslsniff", "bpftool"}


def foreign_tracers():
    """"comm[pid]" of tracers running that we did not start."""
    mine = {p.pid for p in _live}
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in mine or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm in TRACER_COMMS:
            out.append(f"{comm}[{d}]")
    return out


_foreign_waited = [0.0]


def wait_no_foreign_tracers(max_s, budget_s):
    """Waits up to max_s (and up to budget_s over the whole run) for the other
    tracers to go; returns those left."""
    t0 = time.monotonic()
    deadline = t0 + min(max_s, max(0.0, budget_s - _foreign_waited[0]))
    try:
        while True:
            left = foreign_tracers()
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.2)
    finally:
        _foreign_waited[0] += time.monotonic() - t0


def summary(values):
    """median, spread (min-max and the interquartile range) of a sample list."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    s = {"n": len(vals), "median": statistics.median(vals), "min": min(vals),
         "max": max(vals), "values": vals}
    if len(vals) >= 4:
        q = statistics.quantiles(vals, n=4, method="inclusive")
        s["q1"], s["q3"] = q[0], q[2]
    return s


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]
