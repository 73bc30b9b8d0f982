"""TLS concern against real servers: nginx, `openssl s_server`, and our own
server linked statically against Debian's libssl.a. The generator
(tools/tlsstorm.c) says what it made from the client's own view (OpenSSL's
SSL_session_reused, completed renegotiations, aborted handshakes, per source
address); every expected number below comes from it."""
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "build" / "tools"
TLSSTORM = TOOLS / "st-tlsstorm"
STATIC_SERVER = TOOLS / "st-tlsserver-static"
SHARED_SERVER = TOOLS / "st-tlsserver"


class Storm:
    """st-tlsstorm started with --wait-stdin: the server is up (ready) and
    the flood starts when go() is called, after the tracer is attached."""

    def __init__(self, args, env=None):
        self.proc = subprocess.Popen(
            [str(TLSSTORM), "--wait-stdin", *map(str, args)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=30)
            pytest.fail(f"st-tlsstorm {args} did not start its server "
                        f"(exit {self.proc.returncode})", pytrace=False)
        self.ready = json.loads(line)

    def go(self):
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        done = json.loads(self.proc.stdout.readline())
        assert self.proc.wait(timeout=120) == 0
        assert done["failed"] == 0, done
        return done

    def kill(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@pytest.fixture
def storm():
    made = []

    def start(args, env=None):
        s = Storm(args, env)
        made.append(s)
        return s

    yield start
    for s in made:
        s.kill()


def stop(st, seconds=60):
    """SIGINT the tracer after the last events are in; returns its Result."""
    # The generator is done when its last packet is out; the server may
    # still be tearing down that connection (an abort ends in SSL_free).
    time.sleep(1.0)
    st.send_signal(signal.SIGINT)
    res = st.finish(seconds)
    assert res.returncode == 0, res
    return res


def record(start_spiketrace, run_spiketrace, tmp_path, storm_args, extra=(), env=None,
           storm=None, by_pid=True):
    """Runs the storm while recording; returns (ready, done, report, tracer stderr)."""
    s = storm(storm_args, env)
    rec = tmp_path / "tls.rec"
    args = ["record", "-o", rec, *extra]
    if by_pid:
        args += ["-p", s.ready["server_pid"]]
    st = start_spiketrace(args)
    done = s.go()
    res = stop(st)
    rep = run_spiketrace(["report", rec, "--format", "json"])
    assert rep.returncode == 0, rep
    return s.ready, done, json.loads(rep.stdout), res.stderr


def tls_proc(report, pid):
    hits = [p for p in report["tls"]["processes"] if p["pid"] == pid]
    assert len(hits) == 1, report["tls"]["processes"]
    return hits[0]


def within(value, expected, rel):
    return abs(value - expected) <= max(1, rel * expected)


def test_nginx_flood_full_resumed_failed_and_clients(start_spiketrace, run_spiketrace,
                                                     tmp_path, storm):
    n, m, aborts = 300, 60, 5
    ready, done, rep, err = record(
        start_spiketrace, run_spiketrace, tmp_path,
        ["--port", 14433, "--full", n, "--resumed", m, "--abort", aborts, "--clients", 4],
        storm=storm)
    assert rep["lost_events"] == 0
    # Debian 12's SSL_read/_ex, SSL_write/_ex, SSL_peek/_ex and SSL_free (libssl),
    # BIO_int_ctrl (libcrypto) open with an instruction the kernel single-steps:
    # their probes sit elsewhere (user/tls.c place()). The counts below need
    # them: the moved BIO_int_ctrl probe gives each SSL its socket (clients);
    # renegotiations run inside SSL_read (the test after the next).
    for lib, moved in (("libssl.so.3", 7), ("libcrypto.so.3", 1)):
        assert re.search(rf"tls: attached \S*{lib}: \d+ probes, {moved} moved off a "
                         r"single-stepped instruction", err), err
    worker = tls_proc(rep, ready["worker_pids"][0])
    assert worker["comm"] == "nginx"
    assert worker["lib"].endswith("libssl.so.3")
    # The generator's full count includes the one that seeds the resumed phase.
    assert within(worker["handshakes"], done["handshakes"], 0.01), (worker, done)
    assert within(worker["resumed"], done["resumed"], 0.05), (worker, done)
    assert done["resumed"] == m
    assert worker["full"] == worker["handshakes"] - worker["resumed"]
    assert worker["failed"] == done["aborted"] == aborts
    assert worker["renegotiations"] == 0
    assert 0 < worker["latency_us"]["p50"] <= worker["latency_us"]["p99"]
    # Per client address: what each source address completed, server side.
    clients = {c["addr"]: c for c in rep["tls"]["clients"]}
    for addr, count in done["clients"].items():
        assert clients[addr]["handshakes"] == count, (addr, clients, done)
    assert sum(c["failed"] for c in clients.values()) == aborts
    # The timeline has the handshakes, per cause, and they add up.
    series = [s for s in rep["timeline"]["series"]
              if s["metric"] == "tls_handshakes" and s["cause"] == worker["cause"]]
    assert len(series) == 1
    assert sum(series[0]["values"]) >= worker["handshakes"]


def test_cpu_by_phase_matches_independent_measures(start_spiketrace, run_spiketrace,
                                                   tmp_path, storm):
    """A flood of full TLS 1.3 handshakes (RSA-2048 certificate, X25519).

    1. The sampler's CPU for the nginx worker must agree with the kernel's
       own utime+stime for it (the generator reads /proc/PID/stat before and
       after the flood): same CPU, two accountings; 10 ms tick granularity
       and sampling noise at 999 Hz (~1 %) allow 15 % + 50 ms.
    2. key_exchange + signature must agree with the cost of those operations
       measured in-process by the generator (median of 5 rounds of RSA-PSS
       sign, X25519 keygen and derive) times the full handshakes. The
       server does a little more than the microbenchmark inside those
       phases (parameter setup, EVP_DigestSign's size query, fresh contexts,
       and the uprobes' own cost, ~2 us per hit), so ours is expected to be
       at or somewhat above it: accepted 0.8x to 1.6x. Losing samples to
       "other" or attributing the signature elsewhere would fall below.
    """
    n = 2000
    ready, done, rep, _ = record(start_spiketrace, run_spiketrace, tmp_path,
                                 ["--port", 14453, "--full", n, "--clients", 2],
                                 extra=["-F", 999], storm=storm)
    worker = tls_proc(rep, ready["worker_pids"][0])
    assert worker["full"] == done["full"] == n
    ops = json.loads(subprocess.run([str(TLSSTORM), "--measure-ops", "300"], check=True,
                                    capture_output=True, text=True).stdout)
    kernel_cpu = done["server_cpu_s"]
    assert abs(worker["cpu_s"] - kernel_cpu) <= 0.15 * kernel_cpu + 0.05, (worker, done)

    phases = worker["cpu_by_phase"]
    expected = n * (ops["rsa_pss_sign_us"] + ops["x25519_keygen_us"]
                    + ops["x25519_derive_us"]) / 1e6
    measured = phases["key_exchange"] + phases["signature"]
    assert 0.8 * expected <= measured <= 1.6 * expected, (phases, ops, expected)
    # The signature alone dominates with RSA-2048 and is the better-known cost.
    assert 0.8 * n * ops["rsa_pss_sign_us"] / 1e6 <= phases["signature"], (phases, ops)
    assert phases["signature"] > phases["key_exchange"] > phases["rng"]
    total = sum(phases.values())
    assert abs(total - worker["cpu_s"]) < 0.01


def test_s_server_renegotiation_per_client_streamed(start_spiketrace, storm):
    k = 8
    s = storm(["--server", "s_server", "--port", 14473, "--full", 10, "--reneg", k])
    st = start_spiketrace(["tls", "--json", "-p", s.ready["server_pid"]])
    done = s.go()
    res = stop(st)
    lines = [json.loads(x) for x in res.stdout.splitlines() if x.strip()]
    assert all(x["type"] == "tls_handshake" for x in lines), lines[:3]
    server = [x for x in lines if x["pid"] == s.ready["server_pid"]]
    assert done["renegotiations"] == k
    renegs = [x for x in server if x["renegotiation"]]
    assert len(renegs) == k, server
    # Attributed to the one client that renegotiated, and only to it.
    assert {x["peer"].rsplit(":", 1)[0] for x in renegs} == {done["reneg_client"]}
    assert all(x["ok"] and x["role"] == "server" and x["implicit"] for x in renegs), renegs
    firsts = [x for x in server if not x["renegotiation"]]
    assert len(firsts) == done["handshakes"]
    assert all(x["latency_us"] > 0 and x["peer"] for x in server)


def test_statically_linked_server_is_found_and_traced(start_spiketrace, run_spiketrace,
                                                      tmp_path, storm):
    ready, done, rep, err = record(
        start_spiketrace, run_spiketrace, tmp_path,
        ["--server", f"exec:{STATIC_SERVER}", "--port", 14493, "--full", 20, "--resumed", 5,
         "--reneg", 3, "--abort", 2], storm=storm)
    assert re.search(r"tls: attached \S*st-tlsserver-static: \d+ probes "
                     r"\(statically linked OpenSSL\)", err), err
    server = tls_proc(rep, ready["server_pid"])
    assert server["lib"].endswith("st-tlsserver-static")
    assert server["handshakes"] == done["handshakes"] + done["renegotiations"]
    assert server["resumed"] == done["resumed"] == 5
    assert server["renegotiations"] == done["renegotiations"] == 3
    assert server["failed"] == done["aborted"] == 2
    libs = {x["path"]: x["static"] for x in rep["tls"]["libraries"]}
    assert any(p.endswith("st-tlsserver-static") and st for p, st in libs.items()), libs


def test_private_copy_of_libssl_is_found(start_spiketrace, run_spiketrace, tmp_path, storm):
    """A server that loads its own copy of libssl/libcrypto from another path
    (another inode): found through its /proc/PID/maps, attached separately."""
    libdir = tmp_path / "vendored"
    libdir.mkdir()
    for name in ("libssl.so.3", "libcrypto.so.3"):
        shutil.copy(Path("/usr/lib/x86_64-linux-gnu") / name, libdir / name)
    env = dict(os.environ, LD_LIBRARY_PATH=str(libdir))
    ready, done, rep, err = record(
        start_spiketrace, run_spiketrace, tmp_path,
        ["--server", f"exec:{SHARED_SERVER}", "--port", 14513, "--full", 15], env=env,
        storm=storm)
    assert f"attached {libdir}/libssl.so.3" in err, err
    server = tls_proc(rep, ready["server_pid"])
    assert server["lib"] == f"{libdir}/libssl.so.3"
    assert server["handshakes"] == done["handshakes"] == 15


def test_no_payload_bytes_anywhere(start_spiketrace, run_spiketrace, tmp_path):
    """Application data sent through a traced TLS session never shows up in
    the recording, the reports or the stream."""
    secret = f"SPIKETRACE-SECRET-{os.getpid()}-{os.urandom(6).hex()}"
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    server = subprocess.Popen([str(STATIC_SERVER), "--port", "14533", "--cert", str(cert),
                               "--key", str(key)])
    try:
        rec = tmp_path / "p.rec"
        st = start_spiketrace(["record", "-o", rec, "-p", server.pid])
        stream = start_spiketrace(["tls", "--json", "-p", server.pid])
        for _ in range(3):
            # Without -quiet, s_client closes the session at the end of its input.
            res = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:14533"],
                                 input=(secret + "\n") * 50, text=True, capture_output=True,
                                 timeout=20)
            assert res.returncode == 0, res.stderr
        streamed = stop(stream).stdout
        stop(st)
    finally:
        server.terminate()
        server.wait(timeout=10)
    text = run_spiketrace(["report", rec]).stdout
    js = run_spiketrace(["report", rec, "--format", "json"]).stdout
    assert tls_proc(json.loads(js), server.pid)["handshakes"] == 3
    for blob, what in ((rec.read_bytes(), "recording"), (text.encode(), "text report"),
                       (js.encode(), "json report"), (streamed.encode(), "stream")):
        assert secret.encode() not in blob, what
        assert b"SPIKETRACE-SECRET" not in blob, what


def test_tls_bad_usage(run_spiketrace):
    res = run_spiketrace(["tls", "-F", "0"])
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1, res
    assert "-F" in res.stderr
