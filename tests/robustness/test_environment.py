# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Environment: privileges, tracefs/bpffs, BTF, a tracepoint the kernel lacks.

A concern the kernel cannot give us is named in one warning and the others
run; when nothing asked for can run, one error line and exit 1.
"""

import json
import subprocess
import textwrap

from conftest import Running, free_port, one_error_line, report_json, run

NO_CAPS = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]
BPF_PERFMON = ["setpriv", "--inh-caps=-all,+bpf,+perfmon", "--bounding-set=-all,+bpf,+perfmon"]
NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all",
          "--bounding-set=-all"]


def header_concerns(path):
    with open(path, "rb") as f:
        return int.from_bytes(f.read(36)[32:36], "little")


def test_not_root_and_no_caps(st, ledger, tmp_path):
    cases = 0
    for prefix in (NOBODY, NO_CAPS):
        for cmd in (["record", "-d", "1", "-o", tmp_path / "x.rec"], ["proc", "-d", "1"],
                    ["serve", "--listen", f"127.0.0.1:{free_port()}", "-d", "1"],
                    ["features"]):
            res = run([*prefix, st, *cmd])
            line = one_error_line(res, rc=1)
            assert "needs root" in line and "sudo" in line, res
            cases += 1
    # CAP_BPF or CAP_PERFMON alone is not enough either.
    for cap in ("bpf", "perfmon"):
        res = run(["setpriv", f"--inh-caps=-all,+{cap}", f"--bounding-set=-all,+{cap}", st,
                   "record", "-d", "1", "-o", tmp_path / "x.rec"])
        assert "needs root" in one_error_line(res, rc=1)
        cases += 1
    assert not (tmp_path / "x.rec").exists()
    # CAP_SYS_ADMIN alone implies both (and covers tls): every concern runs.
    res = run(["setpriv", "--inh-caps=-all,+sys_admin", "--bounding-set=-all,+sys_admin", st,
               "record", "-d", "1", "-o", tmp_path / "sa.rec"], timeout=120)
    assert res.returncode == 0 and "warning" not in res.stderr, res
    assert header_concerns(tmp_path / "sa.rec") & 0b11111 == 0b11111
    ledger.add("privileges", inputs=cases + 1)


def test_bpf_perfmon_without_sys_admin(st, ledger, tmp_path):
    """CAP_BPF+CAP_PERFMON: proc, mem, tcp and cpu run (mem used to fail: libbpf
    walked module BTF for a CO-RE type, which needs CAP_SYS_ADMIN); tls
    (uprobes need CAP_SYS_ADMIN) is named and left out."""
    rec = tmp_path / "caps.rec"
    res = run([*BPF_PERFMON, st, "record", "-d", "2", "-o", rec], timeout=60)
    assert res.returncode == 0, res
    warn = [ln for ln in res.stderr.splitlines() if "warning" in ln]
    assert len(warn) == 1 and "tls" in warn[0] and "CAP_SYS_ADMIN" in warn[0], res
    tracing = [ln for ln in res.stderr.splitlines() if ln.startswith("spiketrace: tracing")][0]
    for c in ("proc(", "mem(", "tcp(", "cpu("):
        assert c in tracing, tracing
    assert "tls(" not in tracing
    # The header says tls was not recorded (bit 2), the rest was.
    bits = header_concerns(rec)
    assert not bits & 4 and bits & 0b11011 == 0b11011, hex(bits)
    rep, _ = report_json(st, rec)
    assert rep["complete"] and sum(c["page_faults"] for c in rep["causes"]) > 0
    # Only tls asked for: nothing can run, one line.
    res = run([*BPF_PERFMON, st, "tls", "-d", "1"])
    assert "CAP_SYS_ADMIN" in one_error_line(res, rc=1)
    ledger.add("privileges", inputs=2)


def test_tracefs_and_bpffs_unmounted(st, ledger, tmp_path):
    """In a private mount namespace with tracefs, debugfs and bpffs gone, the
    tool mounts what it needs. SPIKETRACE_NO_TP_BTF makes it take the classic
    tracepoints, which need tracefs."""
    rec = tmp_path / "mnt.rec"
    script = textwrap.dedent(f"""
        set -e
        for m in /sys/kernel/debug/tracing /sys/kernel/tracing /sys/kernel/debug /sys/fs/bpf; do
            while mountpoint -q $m; do umount -l $m; done
        done
        ! test -e /sys/kernel/tracing/events
        SPIKETRACE_NO_TP_BTF=1 {st} record --only proc,tcp -d 3 -o {rec} &
        rec=$!
        sleep 1.5
        /bin/sh -c 'exit 7' || true
        wait $rec
        mountpoint -q /sys/kernel/tracing
        mountpoint -q /sys/fs/bpf
    """)
    res = run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], timeout=60)
    assert res.returncode == 0, res
    assert "proc(exec=sched_process_exec" in res.stderr, res  # the classic tracepoint
    rep, _ = report_json(st, rec)
    # The exit seen through the classic sched_process_exit tracepoint.
    assert rep["complete"] and any(x["exit_code"] == 7 for x in rep["processes"]), rep
    # The host's own mounts were not touched.
    mounts = open("/proc/self/mounts").read()
    assert " /sys/kernel/tracing tracefs " in mounts
    ledger.add("mounts", inputs=1)


def test_no_btf(st, ledger, tmp_path):
    cases = 0
    for btf, want in (("/nonexistent", "cannot read BTF file /nonexistent"),
                      ("/etc/passwd", "not a BTF file"),
                      (tmp_path, "not a BTF file")):
        for cmd in (["record", "-d", "1", "-o", tmp_path / "b.rec"], ["features"]):
            res = run([st, *cmd, "--btf", btf])
            assert want in one_error_line(res, rc=1), res
            cases += 1
    assert not (tmp_path / "b.rec").exists()
    ledger.add("btf", inputs=cases)


def test_missing_tracepoint_others_run(st, ledger, tmp_path):
    """SPIKETRACE_FAIL_ATTACH=tcp: the tcp concern's attach fails as on a
    kernel without its tracepoint. record goes on with the others and the
    recording says tcp was not recorded; `spiketrace tcp` fails in one line."""
    rec = tmp_path / "tp.rec"
    env = {"SPIKETRACE_FAIL_ATTACH": "tcp", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    p = Running([st, "record", "-d", "2", "-o", rec], env=env).wait_ready()
    # Processes of our own: a quiet box may start none in 2 s (a CI run saw none).
    pids = set()
    for _ in range(3):
        t = subprocess.Popen(["/bin/true"])
        t.wait(timeout=10)
        pids.add(t.pid)
    res = p.finish(60)
    assert res.returncode == 0, res
    warn = [ln for ln in res.stderr.splitlines() if "warning" in ln]
    assert any("tcp: cannot attach" in w and "the other concerns run" in w for w in warn), res
    tracing = [ln for ln in res.stderr.splitlines() if ln.startswith("spiketrace: tracing")][0]
    assert "tcp(" not in tracing and "proc(" in tracing and "cpu(" in tracing
    assert not header_concerns(rec) & 8
    rep, _ = report_json(st, rec)
    assert rep["complete"]
    assert pids <= {x["pid"] for x in rep["processes"]}, (pids, rep["processes"])
    res = run([st, "tcp", "-d", "1"], env=env)
    assert "tcp: cannot attach" in one_error_line(res, rc=1)
    # A dependency failing (proc under `spiketrace mem`): mem still runs.
    env["SPIKETRACE_FAIL_ATTACH"] = "proc"
    res = run([st, "mem", "--json", "-d", "1"], env=env)
    assert res.returncode == 0, res
    assert "proc: cannot attach" in res.stderr
    # Every concern failing: one line.
    env["SPIKETRACE_FAIL_ATTACH"] = "proc,mem,tls,tcp,cpu,net"
    res = run([st, "record", "-d", "1", "-o", rec.with_suffix(".none")], env=env)
    lines = res.stderr.splitlines()
    assert res.returncode == 1 and "cannot attach" in lines[-1], res
    assert not rec.with_suffix(".none").exists()
    ledger.add("tracepoint", inputs=4, faults=4)


def test_features_json_names_every_concern(st):
    res = run([st, "features", "--json"])
    assert res.returncode == 0, res
    feats = json.loads(res.stdout)
    assert feats["btf"] and feats["ringbuf"]
    subprocess.run(["true"])


def test_missing_tracepoint_flight_dump_header(st, ledger, tmp_path):
    """The flight recorder's dumps also say which concerns ran."""
    out = tmp_path / "fl"
    out.mkdir()
    fire = tmp_path / "st-rbenvfire"
    fire.write_bytes(open("/bin/true", "rb").read())
    fire.chmod(0o755)
    env = {"SPIKETRACE_FAIL_ATTACH": "tcp", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    from conftest import Running
    import signal
    import time
    p = Running([st, "record", "--only", "proc,tcp,cpu", "--flight", "1", "--trigger",
                 "exec=st-rbenvfire", "-o", out], env=env).wait_ready()
    assert "tcp: cannot attach" in p.stderr
    time.sleep(0.5)
    subprocess.run([str(fire)], check=True)
    deadline = time.monotonic() + 30
    while not list(out.glob("*.rec")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # the 1 s after the trigger
    p.proc.send_signal(signal.SIGINT)
    assert p.finish(60).returncode == 0
    dumps = list(out.glob("*.rec"))
    assert dumps, p.stderr
    bits = header_concerns(dumps[0])
    assert bits & 1 and bits & 16 and not bits & 8, hex(bits)
    ledger.add("tracepoint", inputs=1, faults=1)
