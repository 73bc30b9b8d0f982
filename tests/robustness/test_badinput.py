# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Bad input: usage errors, impossible targets, hostile recordings, output paths.

Each case: one clear line on stderr, the documented exit code (2 bad usage,
1 runtime failure), no crash, nothing half-written.
"""

import json
import os
import shutil
import stat
import struct
import subprocess
import time
import zlib
from pathlib import Path

import pytest

from conftest import one_error_line, report_json, rng, run

USAGE_ERRORS = [
    ["record", "--bogus"],
    ["record", "-x"],
    ["record", "-d"],
    ["record", "-d", "-1"],
    ["record", "-d", "0"],
    ["record", "-d", "abc"],
    ["record", "-d", "1e9"],
    ["record", "-d", "inf"],
    ["record", "-F", "0"],
    ["record", "-F", "1000000"],
    ["record", "-F", "-5"],
    ["record", "-F", " 99"],
    ["record", "-p", "0"],
    ["record", "-p", "-1"],
    ["record", "-p", "12abc"],
    ["record", "-p", "99999999999"],
    ["record", "--only", "proc,bogus"],
    ["record", "--only", ""],
    ["record", "--ringbuf-kb", "3"],
    ["record", "--ringbuf-kb", "0"],
    ["record", "--ringbuf-kb", "99999999"],
    ["record", "--flight", "10"],
    ["record", "--trigger", "oom"],
    ["record", "--flight", "0", "--trigger", "oom", "-o", "/tmp"],
    ["record", "--flight", "10", "--trigger", "bogus>1", "-o", "/tmp"],
    ["record", "-o", ""],
    ["record", "extra-argument"],
    ["report", "--format", "xml"],
    ["report", "a.rec", "b.rec"],
    ["report", "-d", "1"],
    ["proc", "--format", "json"],
    ["tcp", "--port", "0"],
    ["tcp", "--port", "65536"],
    ["cpu", "-i", "0"],
    ["top", "-i", "-1"],
    ["serve", "--listen", "nonsense"],
    ["serve", "--listen", "999.1.1.1:80"],
    ["serve", "--listen", "127.0.0.1:99999"],
    ["serve", "--listen", "127.0.0.1:"],
    ["features", "-p", "1"],
    ["nosuchcommand"],
]


def test_usage_errors_one_line_exit_2(st, ledger):
    for args in USAGE_ERRORS:
        res = run([st, *args], timeout=20)
        one_error_line(res, rc=2)
        assert res.stdout == "", res
    ledger.add("usage", inputs=len(USAGE_ERRORS))


def test_no_arguments_prints_usage_exit_2(st):
    res = run([st])
    assert res.returncode == 2 and "Usage:" in res.stderr, res


def exited_pid():
    p = subprocess.Popen(["/bin/true"])
    p.wait()
    return p.pid


def test_missing_and_exited_pid(st, ledger, tmp_path):
    out = tmp_path / "x.rec"
    for pid in (4194303, exited_pid()):
        for cmd in (["record", "-d", "1", "-o", out], ["proc", "-d", "1"], ["tls", "-d", "1"]):
            res = run([st, *cmd, "-p", pid])
            line = one_error_line(res, rc=1)
            assert f"-p {pid}: no such process" in line, res
    assert not out.exists()
    ledger.add("pid", inputs=6)


def test_pid_without_openssl(st, ledger):
    """A process with no libssl: the TLS concern says so and keeps running."""
    p = subprocess.Popen(["/bin/sleep", "30"])
    try:
        res = run([st, "tls", "--json", "-d", "2", "-p", p.pid])
    finally:
        p.kill()
        p.wait()
    assert res.returncode == 0, res
    assert "no OpenSSL library found" in res.stderr, res
    assert res.stdout == "", res
    ledger.add("no-openssl", inputs=1)


def test_stripped_binary(st, tool, ledger, tmp_path):
    """A stripped executable: CPU stacks still come out (addresses, [unknown]
    or the libc part), the report neither crashes nor invents names."""
    exe = tmp_path / "burn-stripped"
    shutil.copy(tool("cpuburn"), exe)
    subprocess.run(["strip", "--strip-all", str(exe)], check=True)
    assert "burn_x" not in subprocess.run(["nm", "-D", str(exe)], capture_output=True,
                                           text=True).stdout
    rec = tmp_path / "s.rec"
    burn = subprocess.Popen([str(exe), "-d", "4"], stdout=subprocess.DEVNULL)
    try:
        res = run([st, "record", "--only", "proc,cpu", "-d", "2", "-p", burn.pid, "-o", rec])
    finally:
        burn.kill()
        burn.wait()
    assert res.returncode == 0, res
    folded = run([st, "report", rec, "--format", "folded"])
    assert folded.returncode == 0, folded
    lines = [ln for ln in folded.stdout.splitlines() if "burn-stripped" in ln]
    assert lines, folded.stdout[:2000]
    # The symbols are gone: no frame may claim the stripped functions' names.
    assert not any("burn_" in ln for ln in lines), lines[:5]
    samples = sum(int(ln.rsplit(" ", 1)[1]) for ln in lines)
    assert samples > 0
    ledger.add("stripped", inputs=1, samples=samples)


def test_stripped_static_tls_server(st, tool, ledger, tmp_path):
    """OpenSSL linked into a stripped executable: nothing to find, said in
    one warning, no crash, the other concerns record."""
    exe = tmp_path / "tlsserver-stripped"
    shutil.copy(tool("tlsserver-static"), exe)
    subprocess.run(["strip", "--strip-all", str(exe)], check=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                    "/CN=localhost", "-days", "1", "-keyout", str(tmp_path / "k.pem"),
                    "-out", str(tmp_path / "c.pem")], check=True, capture_output=True)
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    srv = subprocess.Popen([str(exe), "--port", str(port), "--cert", str(tmp_path / "c.pem"),
                            "--key", str(tmp_path / "k.pem")], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        res = run([st, "tls", "--json", "-d", "2", "-p", srv.pid])
    finally:
        srv.kill()
        srv.wait()
    assert res.returncode == 0, res
    assert "Segmentation" not in res.stderr
    assert "no OpenSSL library found" in res.stderr, res
    ledger.add("stripped", inputs=1)


# --- hostile recordings -------------------------------------------------------------------

HDR = 168
FRAME = struct.Struct("<IIII")


def frames_of(data):
    """(offset, type, len) of every frame of a recording."""
    off, out = HDR, []
    while off + 16 <= len(data):
        typ, ln, _crc, _pad = FRAME.unpack_from(data, off)
        out.append((off, typ, ln))
        off += 16 + ((ln + 7) & ~7)
    return out


def frame(typ, payload):
    pad = (-len(payload)) % 8
    return FRAME.pack(typ, len(payload), zlib.crc32(payload), 0) + payload + b"\0" * pad


def make_small(src):
    """A small valid recording from a real one: the header, one process seed,
    the first cgroup frame, a dozen events of distinct kinds, a lost frame and
    an end frame. Every byte of it is then worth truncating."""
    data = Path(src).read_bytes()
    keep, seen_ev, seed, cg, lost = [], set(), False, False, None
    for off, typ, ln in frames_of(data):
        body = data[off:off + 16 + ((ln + 7) & ~7)]
        if typ == 3 and not seed:
            seed = True
            keep.append(body)
        elif typ == 2 and not cg:
            cg = True
            keep.append(body)
        elif typ == 1 and len(seen_ev) < 12:
            evtype = struct.unpack_from("<I", data, off + 16)[0] & 0xFFFF
            if (evtype, ln) not in seen_ev:
                seen_ev.add((evtype, ln))
                keep.append(body)
        elif typ == 4:
            lost = body
    assert seed and seen_ev and lost, "the source recording lacks frames"
    keep.append(lost)
    end = struct.pack("<QQ", struct.unpack_from("<Q", lost, 16)[0], len(keep))
    return data[:HDR] + b"".join(keep) + frame(5, end)


def check_report(st, path, tag):
    """report --format json: a JSON report (maybe marked cut short) or one
    error line with exit 1. Never a crash, never a partial stdout."""
    res = run([st, "report", path, "--format", "json"], timeout=20)
    assert res.returncode in (0, 1), (tag, res)
    if res.returncode == 1:
        one_error_line(res)
        assert res.stdout == "", (tag, res)
        return "error", None
    try:
        rep = json.loads(res.stdout)
    except ValueError:
        pytest.fail(f"{tag}: stdout is not JSON: {res!r}", pytrace=False)
    assert len(res.stderr.splitlines()) <= 1, (tag, res)
    return ("cut" if rep["cut_short"] else "ok"), rep


def test_every_truncation(st, recorded, ledger, tmp_path):
    small = make_small(recorded)
    full = tmp_path / "small.rec"
    full.write_bytes(small)
    kind, rep = check_report(st, full, "full")
    assert kind == "ok" and rep["complete"], rep
    nframes = len(frames_of(small))
    cut_path = tmp_path / "cut.rec"
    kinds = {"error": 0, "cut": 0, "ok": 0}
    bounds = {HDR} | {o for o, _, _ in frames_of(small)}
    for n in range(len(small)):
        cut_path.write_bytes(small[:n])
        kind, rep = check_report(st, cut_path, f"cut at {n}")
        kinds[kind] += 1
        if n < HDR:
            assert kind == "error", n
        else:
            # Cut anywhere past the header: what was readable, and said so.
            assert kind == "cut", n
            assert "cut short" in rep["cut_short"], rep["cut_short"]
            if n in bounds:
                assert f"at byte {n}" in rep["cut_short"], (n, rep["cut_short"])
    assert kinds["error"] == HDR and kinds["cut"] == len(small) - HDR
    ledger.add("truncation", inputs=len(small), frames=nframes, errors=kinds["error"],
               cut_short=kinds["cut"], size=len(small))


def test_random_bit_flips(st, recorded, ledger, tmp_path):
    """Seeded bit flips in the small recording (every region: header, frame
    headers, payloads, padding) and in the big one."""
    r = rng(10)
    small = make_small(recorded)
    big = Path(recorded).read_bytes()
    path = tmp_path / "flip.rec"
    kinds = {"error": 0, "cut": 0, "ok": 0}
    n_small, n_big = 600, 60
    for i in range(n_small + n_big):
        src = small if i < n_small else big
        data = bytearray(src)
        for _ in range(r.choice((1, 1, 2, 8))):
            pos = r.randrange(len(data))
            data[pos] ^= 1 << r.randrange(8)
        path.write_bytes(bytes(data))
        kind, rep = check_report(st, path, f"flip case {i}")
        kinds[kind] += 1
        if kind == "cut":
            assert "corrupt" in rep["cut_short"] or "cut short" in rep["cut_short"], rep
    # Flips in payloads are caught by the CRC: most cases must be reported as such.
    assert kinds["cut"] > (n_small + n_big) // 2, kinds
    ledger.add("bitflip", inputs=n_small + n_big, **kinds)


def test_recording_from_a_pipe_and_oddities(st, recorded, ledger, tmp_path):
    data = Path(recorded).read_bytes()
    cases = 0
    # A directory, an empty file, a FIFO with a truncated recording, /dev/null.
    empty = tmp_path / "empty.rec"
    empty.write_bytes(b"")
    for p, want in ((tmp_path, 1), (empty, 1), ("/dev/null", 1)):
        res = run([st, "report", p, "--format", "json"])
        one_error_line(res, rc=want)
        cases += 1
    res = subprocess.run(["sh", "-c", f"head -c {len(data) // 2} {recorded} | "
                          f"{st} report /dev/stdin --format json"], capture_output=True,
                         timeout=30)
    assert res.returncode == 0, res
    assert json.loads(res.stdout)["cut_short"], res.stderr
    cases += 1
    # A header claiming a huge header size and a frame claiming 4 GiB.
    bad = bytearray(data)
    struct.pack_into("<I", bad, 12, 0xFFFFFFF0)
    p = tmp_path / "hdr.rec"
    p.write_bytes(bytes(bad))
    one_error_line(run([st, "report", p]), rc=1)
    bad = bytearray(data)
    struct.pack_into("<I", bad, HDR + 4, 0xFFFFFFFF)
    p.write_bytes(bytes(bad))
    kind, rep = check_report(st, p, "huge frame")
    assert kind == "cut" and "too large" in rep["cut_short"], rep
    cases += 2
    # A newer version.
    bad = bytearray(data)
    struct.pack_into("<I", bad, 8, 99)
    p.write_bytes(bytes(bad))
    assert "version 99" in one_error_line(run([st, "report", p]), rc=1)
    cases += 1
    ledger.add("odd-recordings", inputs=cases)


def test_unreadable_recording(st, recorded, ledger, tmp_path):
    """Mode 000 read by an unprivileged user: one line, exit 1."""
    p = tmp_path / "locked.rec"
    shutil.copy(recorded, p)
    os.chmod(p, 0)
    os.chmod(tmp_path, 0o755)
    res = run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", st,
               "report", p])
    line = one_error_line(res, rc=1)
    assert "Permission denied" in line, line
    ledger.add("unreadable", inputs=1)


# --- output paths -------------------------------------------------------------------------

def test_record_output_paths(st, ledger, tmp_path):
    cases = 0
    # A missing directory: refused before anything is traced.
    res = run([st, "record", "-d", "1", "-o", tmp_path / "no" / "such" / "x.rec"])
    assert "No such file or directory" in one_error_line(res, rc=1)
    cases += 1
    # A symlink: never followed, the target untouched, the link still there.
    target = tmp_path / "target"
    target.write_text("precious\n")
    link = tmp_path / "link.rec"
    link.symlink_to(target)
    res = run([st, "record", "-d", "1", "-o", link])
    assert "symlink" in one_error_line(res, rc=1)
    assert target.read_text() == "precious\n" and link.is_symlink()
    cases += 1
    # A dangling symlink: not created through either.
    dangling = tmp_path / "dangling.rec"
    dangling.symlink_to(tmp_path / "nowhere")
    one_error_line(run([st, "record", "-d", "1", "-o", dangling]), rc=1)
    assert not (tmp_path / "nowhere").exists()
    cases += 1
    # An existing file (world-readable): replaced, and private afterwards.
    old = tmp_path / "old.rec"
    old.write_bytes(b"x" * 100000)
    os.chmod(old, 0o644)
    res = run([st, "record", "--only", "proc", "-d", "1", "-o", old])
    assert res.returncode == 0, res
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert old.read_bytes()[:8] == b"SPKTRACE"
    rep, _ = report_json(st, old)
    assert rep["complete"]
    cases += 1
    # A failed start (bad BTF) leaves an existing recording as it was.
    before = old.read_bytes()
    res = run([st, "record", "-d", "1", "--btf", "/nonexistent", "-o", old])
    one_error_line(res, rc=1)
    assert old.read_bytes() == before
    cases += 1
    # A fresh file: 0600 whatever the umask.
    fresh = tmp_path / "fresh.rec"
    res = run([st, "record", "--only", "proc", "-d", "1", "-o", fresh],
              preexec_fn=lambda: os.umask(0))
    assert res.returncode == 0, res
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    cases += 1
    ledger.add("output-paths", inputs=cases)


def test_report_output_paths(st, recorded, ledger, tmp_path):
    cases = 0
    res = run([st, "report", recorded, "-o", tmp_path / "no" / "out.txt"])
    assert "No such file or directory" in one_error_line(res, rc=1)
    cases += 1
    target = tmp_path / "target"
    target.write_text("precious\n")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    res = run([st, "report", recorded, "--format", "json", "-o", link])
    assert "symlink" in one_error_line(res, rc=1), res
    assert target.read_text() == "precious\n" and link.is_symlink()
    cases += 1
    # An existing output: replaced whole; 0600 like the recording it comes from.
    out = tmp_path / "out.json"
    out.write_text("old " * 50000)
    os.chmod(out, 0o644)
    res = run([st, "report", recorded, "--format", "json", "-o", out],
              preexec_fn=lambda: os.umask(0))
    assert res.returncode == 0, res
    json.loads(out.read_text())
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    cases += 1
    # A report that fails leaves no partial output and no temporary file.
    garbage = tmp_path / "garbage.rec"
    garbage.write_bytes(b"not a recording")
    before = out.read_bytes()
    one_error_line(run([st, "report", garbage, "-o", out]), rc=1)
    assert out.read_bytes() == before
    newout = tmp_path / "new.html"
    one_error_line(run([st, "report", garbage, "--format", "html", "-o", newout]), rc=1)
    assert not newout.exists()
    cases += 2
    # /dev/stdout (a symlink to a stream) is fine; a block device is refused.
    res = run([st, "report", recorded, "--format", "json", "-o", "/dev/stdout"])
    assert res.returncode == 0 and json.loads(res.stdout)["version"] == 1, res
    blk = tmp_path / "blk"
    os.mknod(blk, 0o600 | stat.S_IFBLK, os.makedev(7, 250))
    assert "block device" in one_error_line(run([st, "report", recorded, "-o", blk]), rc=1)
    cases += 2
    # A full disk mid-write: error line, nothing left behind. A 16 KiB tmpfs: the page's
    # own script and style alone are over 50 KiB, whatever the recording holds.
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tiny", str(mnt)], check=True)
    try:
        res = run([st, "report", recorded, "--format", "html", "-o", mnt / "r.html"])
        assert "No space left" in one_error_line(res, rc=1), res
        assert os.listdir(mnt) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    cases += 1
    ledger.add("output-paths", inputs=cases)


def test_flight_output_dir(st, ledger, tmp_path):
    cases = 0
    res = run([st, "record", "--flight", "5", "--trigger", "oom", "-o", tmp_path / "nodir"])
    assert "create the directory first" in one_error_line(res, rc=1)
    f = tmp_path / "afile"
    f.write_text("")
    res = run([st, "record", "--flight", "5", "--trigger", "oom", "-o", f])
    assert "not a directory" in one_error_line(res, rc=2)
    cases += 2
    ledger.add("output-paths", inputs=cases)


# --- serve --listen -----------------------------------------------------------------------

def test_listen_busy_privileged_bad(st, ledger, tmp_path):
    import socket
    cases = 0
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        res = run([st, "serve", "--listen", f"127.0.0.1:{port}", "-d", "1"])
        assert "already in use" in one_error_line(res, rc=1), res
    finally:
        s.close()
    cases += 1
    # Privileged port as an unprivileged user: refused with a clear line.
    res = run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
               "--inh-caps=-all", "--bounding-set=-all", st, "serve", "--listen",
               "127.0.0.1:81", "-d", "1"])
    line = one_error_line(res, rc=1)
    assert "81" in line and ("1024" in line or "root" in line), line
    cases += 1
    # An address this host does not have.
    res = run([st, "serve", "--listen", "192.0.2.1:9464", "-d", "1"])
    assert "not an address of this host" in one_error_line(res, rc=1), res
    cases += 1
    ledger.add("listen", inputs=cases)


def test_frames_written_while_attaching_are_kept(st, tmp_path):
    """The recording is opened once every concern is attached; what the
    concerns said while attaching (the TLS libraries found) is in it."""
    rec = tmp_path / "early.rec"
    res = run([st, "record", "--only", "proc,tls", "-d", "1", "-o", rec], timeout=120)
    assert res.returncode == 0, res
    rep, _ = report_json(st, rec)
    libs = [x["path"] for x in rep["tls"]["libraries"]]
    assert any(p.endswith("libssl.so.3") for p in libs), rep["tls"]
