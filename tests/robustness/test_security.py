# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Security: no TLS payload anywhere, serve on localhost by default, private
files, and the capabilities kept after attach."""

import gzip
import os
import secrets
import shutil
import signal
import stat
import subprocess
import time

from conftest import REPO, Running, report_json, run
from test_faults import SSL_SCRIPT, make_cert

# The secret goes in on stdin, never on a command line (argv is recorded).
PAIR = SSL_SCRIPT.replace("sys.argv[4].encode()", "SECRET").replace(
    "cert, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])",
    "cert, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
    "SECRET = sys.stdin.readline().strip().encode()\n")


def caps_of(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("CapEff:"):
            eff = int(line.split()[1], 16)
        if line.startswith("CapBnd:"):
            bnd = int(line.split()[1], 16)
        if line.startswith("NoNewPrivs:"):
            nnp = int(line.split()[1])
    return eff, bnd, nnp


CAP = {"dac_override": 1, "dac_read_search": 2, "kill": 5, "setuid": 7, "net_bind": 10,
       "net_admin": 12, "sys_module": 16, "sys_rawio": 17, "sys_ptrace": 19, "sys_admin": 21,
       "syslog": 34, "perfmon": 38, "bpf": 39, "checkpoint_restore": 40}


def bits(*names):
    return sum(1 << CAP[n] for n in names)


def test_no_tls_payload_in_any_output(st, tool, ledger, tmp_path):
    """A random secret sent both ways through TLS (a private libssl copy loaded
    after the agent attached, and a CPU-burning neighbour for the stacks)
    while every concern records: not in the recording, not in any report
    format, not in the tls stream."""
    secret = "STSECRET" + secrets.token_hex(12)
    libdir = tmp_path / "lib"
    libdir.mkdir()
    for name in ("libssl.so.3", "libcrypto.so.3"):
        shutil.copy(f"/lib/x86_64-linux-gnu/{name}", libdir / name)
    cert, key = make_cert(tmp_path)
    script = tmp_path / "pair.py"
    script.write_text(PAIR)
    rec = tmp_path / "secret.rec"
    p = Running([st, "record", "-F", "499", "-o", rec]).wait_ready()
    stream = Running([st, "tls", "--json"]).wait_ready()
    eff, bnd, nnp = caps_of(p.proc.pid)
    # The pair maps the private copy, then waits for its secret on stdin
    # until both agents say they attached the copy (found every 2 s).
    pair = subprocess.Popen(["/usr/bin/python3", str(script), cert, key, "20"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, LD_LIBRARY_PATH=str(libdir)))
    deadline = time.monotonic() + 60
    want = f"attached {libdir}/libssl.so.3"
    while not (want in p.stderr and want in stream.stderr) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert want in p.stderr and want in stream.stderr, (p.stderr, stream.stderr)
    out, err = pair.communicate(secret + "\n\n", timeout=60)
    assert pair.returncode == 0, err
    time.sleep(1.5)
    for r in (p, stream):
        r.proc.send_signal(signal.SIGINT)
    res, sres = p.finish(120), stream.finish(120)
    assert res.returncode == 0 and sres.returncode == 0, (res, sres)
    needle = secret.encode()
    outputs = {"recording": rec.read_bytes(), "tls-stream": sres.stdout.encode()}
    for fmt in ("text", "json", "html", "perfetto", "folded"):
        r = run([st, "report", rec, "--format", fmt], binary_out=True, timeout=60)
        assert r.returncode == 0, r
        outputs[fmt] = r.stdout
    r = run([st, "report", rec, "--format", "pprof"], binary_out=True, timeout=60)
    outputs["pprof"] = gzip.decompress(r.stdout)
    for name, data in outputs.items():
        assert needle not in data, f"the secret is in the {name} output"
        assert needle.hex().encode() not in data, name
    # It was traced: the handshakes of the library found after attach.
    rep, _ = report_json(st, rec)
    ours = [t for t in rep["tls"]["processes"] if str(libdir) in (t["lib"] or "")]
    # Client and server side of 20 connections, in one process.
    assert ours and sum(t["handshakes"] for t in ours) == 2 * 20, \
        (rep["tls"], res.stderr.splitlines())
    assert sres.stdout.count('"tls_handshake"') >= 2 * 20, sres.stderr
    # Dropped after attach, still working: see test_capabilities_after_attach.
    assert eff & bits("sys_admin") and not eff & bits("sys_module", "setuid")
    ledger.add("secret", outputs=len(outputs), handshakes=sum(t["handshakes"] for t in ours),
               bytes_searched=sum(len(v) for v in outputs.values()))


def test_capabilities_after_attach(st, tool, ledger, tmp_path):
    """What the agent holds once attached: exactly the documented set; a
    process started afterwards is still symbolized (maps and ELF read)."""
    rec = tmp_path / "caps.rec"
    p = Running([st, "record", "--only", "proc,cpu", "-o", rec]).wait_ready()
    eff, bnd, nnp = caps_of(p.proc.pid)
    burn = subprocess.run([str(tool("cpuburn")), "-d", "2"], capture_output=True, text=True,
                          timeout=60)
    assert burn.returncode == 0
    storm = subprocess.run([str(tool("faultstorm")), "--mb", "512"], capture_output=True,
                           timeout=60)
    assert storm.returncode == 0
    time.sleep(1.2)
    p.proc.send_signal(signal.SIGINT)
    assert p.finish(60).returncode == 0
    want = bits("bpf", "perfmon", "sys_ptrace", "dac_read_search", "syslog", "checkpoint_restore")
    assert eff == want and bnd == want and nnp == 1, (hex(eff), hex(bnd), nnp)
    folded = run([st, "report", rec, "--format", "folded"]).stdout
    # User stacks (maps, ELF) and kernel stacks (kallsyms: CAP_SYSLOG) resolved.
    assert "burn_alpha" in folded, folded[:1000]
    assert "handle_mm_fault_[k]" in folded, [ln for ln in folded.splitlines()
                                             if "faultstorm" in ln][:5]
    # With tls, CAP_SYS_ADMIN stays (uprobes on libraries found later).
    p = Running([st, "record", "--only", "proc,tls", "-o", tmp_path / "t.rec"]).wait_ready()
    eff2, _, _ = caps_of(p.proc.pid)
    p.proc.send_signal(signal.SIGINT)
    assert p.finish(120).returncode == 0
    assert eff2 == bits("bpf", "perfmon", "sys_ptrace", "dac_read_search", "syslog",
                        "sys_admin"), hex(eff2)
    # The flight recorder also keeps CAP_DAC_OVERRIDE (new files in its DIR).
    d = tmp_path / "fl"
    d.mkdir()
    p = Running([st, "record", "--only", "proc", "--flight", "2", "--trigger", "exec=st-none", "-o",
                 d]).wait_ready()
    eff3, _, _ = caps_of(p.proc.pid)
    p.proc.send_signal(signal.SIGINT)
    assert p.finish(60).returncode == 0
    assert eff3 == want | bits("dac_override"), hex(eff3)
    ledger.add("capabilities", inputs=3)


def test_serve_listens_on_localhost_by_default(st, ledger):
    """In a private network namespace (the default port may be taken on the
    host): no --listen binds 127.0.0.1:9464 and nothing else."""
    script = f"""
        ip link set lo up
        {st} serve --only proc -d 3 &
        sleep 2
        ss -Hltnp | grep spiketrace
        wait
    """
    res = run(["unshare", "-n", "sh", "-c", script], timeout=60)
    assert res.returncode == 0, res
    lines = res.stdout.splitlines()
    assert len(lines) == 1 and lines[0].split()[3] == "127.0.0.1:9464", lines
    assert "http://127.0.0.1:9464/metrics" in res.stderr
    ledger.add("serve-localhost", inputs=1)


def test_created_files_are_private(st, ledger, tmp_path):
    """umask 000: the recording, each report format and a flight dump are 0600."""
    def umask0():
        os.umask(0)

    rec = tmp_path / "r.rec"
    assert run([st, "record", "--only", "proc", "-d", "1", "-o", rec],
               preexec_fn=umask0).returncode == 0
    files = [rec]
    for fmt in ("text", "json", "html", "perfetto", "folded", "pprof"):
        out = tmp_path / f"r.{fmt}"
        assert run([st, "report", rec, "--format", fmt, "-o", out],
                   preexec_fn=umask0).returncode == 0
        files.append(out)
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert sorted(os.listdir(tmp_path)) == sorted(f.name for f in files)
    ledger.add("permissions", inputs=len(files))


def test_no_setuid_or_world_writable_in_build():
    """What `make install` would copy: no setuid bit, nothing world-writable."""
    for p in [REPO / "build" / "spiketrace", *(REPO / "build" / "tools").glob("st-*")]:
        mode = p.stat().st_mode
        assert not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_IWOTH), p
