# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Faults: signals at random moments, SIGKILL of the recorder (what is left
in the kernel), traced processes dying at bad moments, a library replaced
under its uprobes, process churn."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from conftest import (Running, free_port, one_error_line, perf_event_fds, report_json, rng, run,
                      vm_rss_kb)


def held_ids(pid):
    """BPF program, link and map ids a process holds, from /proc/PID/fdinfo."""
    ids = {"prog_id": set(), "link_id": set(), "map_id": set()}
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            text = open(f"/proc/{pid}/fdinfo/{fd}").read()
        except OSError:
            continue
        for line in text.splitlines():
            k, _, v = line.partition(":")
            if k in ids and v.strip().isdigit():
                ids[k].add(int(v))
    return ids


def still_there(ids, timeout=120):
    """Which of those ids the kernel still has, once it had time to free
    them (programs go after their last reference, via RCU)."""
    deadline = time.monotonic() + timeout
    while True:
        live = {"prog_id": {p["id"] for p in bpftool("prog")},
                "link_id": {ln["id"] for ln in bpftool("link")},
                "map_id": {m["id"] for m in bpftool("map")}}
        left = {k: sorted(ids[k] & live[k]) for k in ids}
        if not any(left.values()) or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def bpftool(kind):
    cp = subprocess.run(["bpftool", "-j", kind, "show"], capture_output=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    return json.loads(cp.stdout or b"[]")


def uprobe_lines(pid):
    try:
        text = Path("/sys/kernel/tracing/uprobe_events").read_text()
    except FileNotFoundError:
        return []
    return [ln for ln in text.splitlines() if f"_{pid}_" in ln]


def pins():
    return sorted(str(p) for p in Path("/sys/fs/bpf").rglob("*"))


def test_signals_at_random_moments(st, ledger, tmp_path):
    """SIGINT or SIGTERM anywhere from start-up (attach) to steady state:
    exit 0, a complete recording, and nothing of ours left in the kernel."""
    r = rng(20)
    n = 8
    pins0 = pins()
    held = {"prog_id": set(), "link_id": set(), "map_id": set()}
    for i in range(n):
        sig = r.choice((signal.SIGINT, signal.SIGTERM))
        delay = r.uniform(0.02, 2.5)
        rec = tmp_path / f"sig{i}.rec"
        # Without tls: its uprobes make every stop wait on the kernel (below).
        p = Running([st, "record", "--only", "proc,mem,tcp,cpu", "-o", rec])
        time.sleep(delay)
        try:
            for k, v in held_ids(p.proc.pid).items():
                held[k] |= v
        except FileNotFoundError:
            pass
        p.proc.send_signal(sig)
        res = p.finish(30)
        assert res.returncode == 0, (sig, delay, res)
        rep, _ = report_json(st, rec)
        assert rep["complete"] and rep["cut_short"] is None, (sig, delay, rep["cut_short"])
    assert still_there(held) == {"prog_id": [], "link_id": [], "map_id": []}
    assert pins() == pins0
    ledger.add("signals", inputs=n, faults=n, ids_checked=sum(len(v) for v in held.values()))


def test_sigint_while_the_stream_reader_lags_loses_no_line(st, ledger):
    """A stream whose reader reads only at the end (a pipe into a slow
    consumer, a script's communicate()): spiketrace blocks writing into the
    full pipe, SIGINT comes. Every line written before still arrives, and
    after it the rest (a blocked write interrupted by the signal used to fail
    with EINTR, and stdio dropped the line it held: seen as one TCP
    transition missing from 200)."""
    n = 150  # 10 transitions and 2 closes each, ~300 bytes a line: ~500 KiB
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    port = lst.getsockname()[1]
    proc = subprocess.Popen([str(st), "tcp", "--json", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # stderr alone is read until ready: stdout stays unread, as a lagging reader's.
        deadline = time.monotonic() + 60
        while b"spiketrace: tracing" not in proc.stderr.readline():
            assert proc.poll() is None and time.monotonic() < deadline, "never became ready"
        lst.listen(64)
        for _ in range(n):
            c = socket.create_connection(("127.0.0.1", port))
            s, _ = lst.accept()
            c.sendall(b"x")
            s.recv(1)
            c.close()
            s.recv(1)
            s.close()
        lst.close()
        time.sleep(1.5)  # the stream has filled the pipe and waits in write()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    lines = [json.loads(ln) for ln in out.splitlines()]
    states = [e for e in lines if e["type"] == "tcp_state"]
    closes = [e for e in lines if e["type"] == "tcp_close"]
    # Per connection: 5 transitions each side; the listener's 2.
    assert len(states) == 10 * n + 2, len(states)
    assert len(closes) == 2 * n, len(closes)
    assert len(out) > 2 * 65536, len(out)  # it did fill the pipe
    ledger.add("signals", inputs=1, faults=1, lines=len(lines))


def test_sigkill_leaves_nothing_and_a_readable_recording(st, ledger, tmp_path):
    """Every program, link, map and perf event of a SIGKILLed recorder goes
    with it; the recording reads up to its last flush and says it was cut."""
    pins0 = pins()
    rec = tmp_path / "killed.rec"
    p = Running([st, "record", "-o", rec]).wait_ready()
    held = held_ids(p.proc.pid)
    perf = perf_event_fds(p.proc.pid)
    assert held["prog_id"] and held["link_id"] and perf > 0, (held, perf)
    for i in range(30):
        subprocess.run(["/bin/sh", "-c", f"exit {i % 4}"])
    time.sleep(2.5)  # past two flushes
    p.proc.kill()
    # Each uprobe's release waits for the kernel (seconds under load).
    p.finish(120)
    left = still_there(held)
    assert left == {"prog_id": [], "link_id": [], "map_id": []}, left
    assert uprobe_lines(p.proc.pid) == [] and pins() == pins0
    res = run([st, "report", rec, "--format", "json"])
    assert res.returncode == 0, res
    rep = json.loads(res.stdout)
    assert not rep["complete"] and "cut short" in rep["cut_short"], rep["cut_short"]
    assert "did not finish" in res.stderr and len(res.stderr.splitlines()) == 1, res
    assert rep["duration_s"] >= 1.0 and rep["processes"]
    text = run([st, "report", rec])
    assert text.returncode == 0 and "INCOMPLETE" in text.stdout, text
    ledger.add("sigkill", faults=1, progs=len(held["prog_id"]), links=len(held["link_id"]),
               maps=len(held["map_id"]), perf_events=perf, left=0)


def test_sigkill_repeated_at_random_moments(st, ledger, tmp_path):
    """SIGKILL during attach too: nothing accumulates in the kernel."""
    r = rng(21)
    pins0 = pins()
    held = {"prog_id": set(), "link_id": set(), "map_id": set()}
    n = 6
    readable = 0
    for i in range(n):
        rec = tmp_path / f"k{i}.rec"
        p = Running([st, "record", "--only", "proc,mem,tcp,cpu", "-o", rec])
        time.sleep(r.uniform(0.05, 2.0))
        try:
            for k, v in held_ids(p.proc.pid).items():
                held[k] |= v
        except FileNotFoundError:
            pass
        p.proc.kill()
        p.finish(10)
        if rec.exists():
            res = run([st, "report", rec, "--format", "json"])
            if res.returncode == 0:
                assert json.loads(res.stdout)["cut_short"], res
                readable += 1
            else:
                one_error_line(res, rc=1)
    assert still_there(held) == {"prog_id": [], "link_id": [], "map_id": []}
    assert pins() == pins0
    ledger.add("sigkill", faults=n, readable=readable)


def test_traced_tls_server_killed_mid_handshake(st, tool, ledger, tmp_path):
    """nginx's worker and the client killed while handshakes run: the agent
    keeps going, stops cleanly, its TLS state is released."""
    rec = tmp_path / "tls.rec"
    port = free_port(pair=True)
    storm = subprocess.Popen([str(tool("tlsstorm")), "--full", "100000", "--wait-stdin",
                              "--port", str(port), "--timeout", "60"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(storm.stdout.readline())
        p = Running([st, "record", "--only", "proc,tls", "-o", rec]).wait_ready()
        storm.stdin.write("go\n")
        storm.stdin.flush()
        time.sleep(1.5)
        killed = info["worker_pids"]
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
        storm.kill()  # the client side, mid-handshake
        time.sleep(1.0)
        assert p.proc.poll() is None, p.stderr
        p.proc.send_signal(signal.SIGINT)
        res = p.finish(30)
    finally:
        storm.kill()
        storm.wait()
    assert res.returncode == 0, res
    rep, _ = report_json(st, rec)
    assert rep["complete"]
    hs = sum(t["handshakes"] for t in rep["tls"]["processes"])
    assert hs > 0, rep["tls"]
    ledger.add("kill-mid-handshake", faults=len(killed) + 1, handshakes=hs)


def vmstat_oom_kills():
    for line in open("/proc/vmstat"):
        if line.startswith("oom_kill "):
            return int(line.split()[1])
    raise AssertionError("no oom_kill in /proc/vmstat")


def test_traced_job_killed_mid_oom(st, tool, ledger, tmp_path):
    """A job growing into its memory limit: as soon as the kernel OOM-kills in
    it, its controller is SIGKILLed (the tree dies with it, mid-OOM). The
    recording is complete and the job's kills are counted once each."""
    rec = tmp_path / "oom.rec"
    cg = f"st-rb-oom-{os.getpid()}"
    p = Running([st, "record", "--only", "proc,mem", "-o", rec]).wait_ready()
    base = vmstat_oom_kills()
    job = subprocess.Popen([str(tool("cronjob")), "--cgroup", cg, "--mem-limit", "64",
                            "--alloc-mb", "200", "--step-mb", "16", "--step-ms", "20",
                            "--hold-ms", "3000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while vmstat_oom_kills() == base and time.monotonic() < deadline:
        time.sleep(0.005)
    seen = vmstat_oom_kills() - base
    job.kill()
    job.wait()
    time.sleep(1.5)
    p.proc.send_signal(signal.SIGTERM)
    res = p.finish(30)
    assert res.returncode == 0, res
    assert seen >= 1, "the job never reached its OOM"
    rep, _ = report_json(st, rec)
    assert rep["complete"], rep["cut_short"]
    ours = [k for k in rep["oom_kills"] if cg in (k["memcg"] or "")]
    assert len(ours) >= 1, rep["oom_kills"]
    victims = [k["victim_pid"] for k in ours]
    assert len(victims) == len(set(victims)), victims
    ledger.add("kill-mid-oom", faults=1, oom_kills=len(victims))
    # The killed controller leaves its empty cgroups (st-cronjob says so): remove them.
    subprocess.run(["sh", "-c", f"find /sys/fs/cgroup -depth -type d -name '*{cg}*' "
                    "-exec rmdir {} + 2>/dev/null"], timeout=30)


SSL_SCRIPT = r"""
import socket, ssl, sys, threading
cert, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
srv_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); srv_ctx.load_cert_chain(cert, key)
cli_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); cli_ctx.check_hostname = False
cli_ctx.verify_mode = ssl.CERT_NONE
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(8)
port = ls.getsockname()[1]
def serve():
    for _ in range(n):
        c, _ = ls.accept()
        with srv_ctx.wrap_socket(c, server_side=True) as s:
            s.sendall(s.recv(100))
t = threading.Thread(target=serve); t.start()
for i in range(n):
    with cli_ctx.wrap_socket(socket.create_connection(("127.0.0.1", port))) as s:
        s.sendall(sys.argv[4].encode()); s.recv(100)
t.join()
print("done", flush=True)
sys.stdin.readline()
"""


def make_cert(d):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                    "/CN=localhost", "-days", "1", "-keyout", str(d / "k.pem"), "-out",
                    str(d / "c.pem")], check=True, capture_output=True)
    return d / "c.pem", d / "k.pem"


def test_library_replaced_while_attached(st, ledger, tmp_path):
    """A private copy of libssl/libcrypto is traced, then replaced on disk
    (new inode renamed over it) while attached and still mapped, and a new
    process maps the new file: no crash, both processes' handshakes counted."""
    libdir = tmp_path / "lib"
    libdir.mkdir()
    for name in ("libssl.so.3", "libcrypto.so.3"):
        shutil.copy(f"/lib/x86_64-linux-gnu/{name}", libdir / name)
    cert, key = make_cert(tmp_path)
    script = tmp_path / "ssl_pair.py"
    script.write_text(SSL_SCRIPT)
    env = dict(os.environ, LD_LIBRARY_PATH=str(libdir))
    first = subprocess.Popen(["/usr/bin/python3", str(script), cert, key, "5", "x"], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    rec = tmp_path / "lib.rec"
    try:
        assert first.stdout.readline().strip() == "done"
        maps = open(f"/proc/{first.pid}/maps").read()
        assert str(libdir / "libssl.so.3") in maps, "python did not map the private copy"
        # Handshakes of a process that has the library mapped since before us.
        p = Running([st, "record", "--only", "proc,tls", "-o", rec]).wait_ready()
        assert str(libdir) in p.stderr, p.stderr
        # Replace both files under the mapped, probed inodes.
        for name in ("libssl.so.3", "libcrypto.so.3"):
            shutil.copy(f"/lib/x86_64-linux-gnu/{name}", libdir / (name + ".new"))
            os.rename(libdir / (name + ".new"), libdir / name)
        # A new process maps the new files; it waits (stdin) until the agent
        # has attached them (it looks for new libraries every 2 s).
        pair = tmp_path / "pair.py"
        pair.write_text(SSL_SCRIPT.replace("sys.argv[4].encode()", "b'y'").replace(
            "t = threading.Thread", "sys.stdin.readline()\nt = threading.Thread"))
        before = p.stderr.count(f"attached {libdir}/libssl.so.3")
        second = subprocess.Popen(["/usr/bin/python3", str(pair), cert, key, "7"], env=env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while (p.stderr.count(f"attached {libdir}/libssl.so.3") == before and
               time.monotonic() < deadline):
            time.sleep(0.1)
        reattached = p.stderr.count(f"attached {libdir}/libssl.so.3") > before
        out, _ = second.communicate("\n\n", timeout=60)
        assert second.returncode == 0 and "done" in out
        time.sleep(2.5)  # the TLS concern looks for new libraries every 2 s
        first.stdin.write("\n")
        first.stdin.flush()
        first.wait(timeout=10)
        # The library's last user is gone: its file deleted while probed.
        for name in ("libssl.so.3", "libcrypto.so.3"):
            os.unlink(libdir / name)
        time.sleep(0.5)
        assert p.proc.poll() is None, p.stderr
        p.proc.send_signal(signal.SIGINT)
        res = p.finish(30)
    finally:
        first.kill()
        first.wait()
    assert res.returncode == 0, res
    rep, _ = report_json(st, rec)
    assert rep["complete"]
    assert reattached, "the replaced library (a new file at the same path) was not attached: " \
        + p.stderr
    hs = {t["pid"]: t["handshakes"] for t in rep["tls"]["processes"]}
    assert hs.get(second.pid) == 2 * 7, (hs, second.pid)  # client and server side
    ledger.add("library-replaced", faults=3, handshakes=sum(hs.values()))


def proc_map_entries(pid):
    """Entries of each per-process hash map the agent pid holds (bpftool)."""
    out = {}
    mine = held_ids(pid)["map_id"]
    maps = json.loads(subprocess.run(["bpftool", "-j", "map", "show"], capture_output=True,
                                     check=True).stdout)
    for m in maps:
        if m["id"] not in mine or "hash" not in m.get("type", ""):
            continue
        if m.get("name") not in ("tasks", "procs", "procmem", "followed", "faults", "last",
                                 "threads", "ssls", "bios", "tls_pids", "runnable"):
            continue
        dump = subprocess.run(["bpftool", "-j", "map", "dump", "id", str(m["id"])],
                              capture_output=True)
        if dump.returncode == 0:
            out[f'{m["name"]}#{m["id"]}'] = len(json.loads(dump.stdout or b"[]"))
    return out


def cgroup2_root():
    for line in open("/proc/self/mounts"):
        if line.split()[2] == "cgroup2":
            return Path(line.split()[1])
    raise AssertionError("no cgroup2 mount")


def test_thousands_of_short_lived_processes(st, ledger, tmp_path):
    """3 x 1000 short-lived processes in a cgroup of their own, recorded with
    -c (so the box's other churn stays out of the maps): the agent's BPF maps
    hold the live processes, not the dead ones, and its RSS grows by what the
    model keeps per process for the report, not more."""
    rec = tmp_path / "churn.rec"
    name = f"st-rb-churn-{os.getpid()}"
    cg = cgroup2_root() / name
    cg.mkdir()
    try:
        p = Running([st, "record", "-c", f"/{name}", "-o", rec]).wait_ready()
        time.sleep(1.5)
        rss = [vm_rss_kb(p.proc.pid)]
        batch = 1000
        for _ in range(3):
            subprocess.run(["/bin/sh", "-c", f"echo $$ > {cg}/cgroup.procs; i=0; "
                            f"while [ $i -lt {batch} ]; do /bin/true; i=$((i+1)); done"],
                           check=True, timeout=120)
            time.sleep(1.5)
            rss.append(vm_rss_kb(p.proc.pid))
        # Gone processes are forgotten a few ticks after their exit (ticks come
        # late while the agent reads 1000 new processes' maps on a busy box).
        deadline = time.monotonic() + 30
        while True:
            time.sleep(1)
            entries = proc_map_entries(p.proc.pid)
            if max(entries.values(), default=0) <= 10 or time.monotonic() > deadline:
                break
        p.proc.send_signal(signal.SIGINT)
        res = p.finish(120)
    finally:
        for _ in range(50):
            try:
                cg.rmdir()
                break
            except OSError:
                time.sleep(0.1)
    assert res.returncode == 0, res
    assert entries, "no per-process maps found"
    # Nothing is left in the cgroup: its processes are all gone from the maps
    # (a few slots for a process caught between two ticks).
    for mname, n in entries.items():
        assert n <= 10, (mname, n)
    rep, _ = report_json(st, rec)
    trues = [x for x in rep["processes"] if x["comm"] == "true"]
    # Each one seen, or counted as lost (a busy box can fill the ring buffer).
    assert len(trues) + rep["lost_events"] >= 3 * batch, (len(trues), rep["lost_events"])
    # A recording's model keeps every process for the report; nothing else
    # may grow with the churn: at most 4 KiB per process seen.
    assert rss[-1] - rss[0] <= 4 * 3 * batch, rss
    ledger.add("churn", inputs=3 * batch, rss_kb=rss, max_map_entries=max(entries.values()),
               seen=len(trues), lost=rep["lost_events"])
