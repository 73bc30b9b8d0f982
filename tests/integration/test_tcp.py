# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The TCP concern: `spiketrace tcp --json` (tcp_state, tcp_reset, tcp_close
lines) and the "tcp" object of `report --format json` after
`record --only ...,tcp`.

Every number asserted here is one the test knows itself:

* Connections made by this test process on loopback, on a port it owns (the
  listener is bound first, the tracer filters on that port with --port, and
  only then does the socket listen). How Linux moves those sockets through
  the states is fixed by the kernel; with the client closing first and the
  server closing once it has read EOF:
    client    CLOSE->SYN_SENT (lport still 0: the port is chosen after),
              SYN_SENT->ESTABLISHED, ESTABLISHED->FIN_WAIT1, and then
              FIN_WAIT1->FIN_WAIT2->CLOSE when the peer's ACK of our FIN
              comes alone (the server reads EOF and sends it at once with
              TCP_QUICKACK, 100 ms before it closes), else possibly
              FIN_WAIT1->CLOSE;
              TIME_WAIT lives in a separate mini-socket the tracepoint does
              not report;
    accepted  LISTEN->SYN_RECV, SYN_RECV->ESTABLISHED,
              ESTABLISHED->CLOSE_WAIT, CLOSE_WAIT->LAST_ACK, LAST_ACK->CLOSE;
    listener  CLOSE->LISTEN, LISTEN->CLOSE.
  So a deterministic connection is 5 + 5 transitions, plus 2 per listener.
  With SO_LINGER {1, 0} close() aborts: the client goes ESTABLISHED->CLOSE
  and sends a reset (in CLOSE), the accepted socket receives it (in
  ESTABLISHED) and goes ESTABLISHED->CLOSE.
* Byte counts are the payload the test sent and received (no SYN, no FIN).
* Idle times are the test's own time.monotonic() measures around its sleeps.
* build/tools/st-idlereset (tools/idlereset.c) replays a middlebox with a
  3 s conntrack timeout that answers the packets of forgotten flows with a
  reset; its done line says, per connection, the measured idle time, the
  outcome the client saw ("ok" or "reset") and the client's tuple and pid.
"""

import json
import os
import re
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest
from conftest import free_port, json_lines

# The newest kernel seen reporting a child's first transition without its peer is 6.12.
KERNEL = tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])
OLD_CHILD = KERNEL < (6, 18)
REPO = Path(__file__).resolve().parents[2]
IDLERESET = REPO / "build" / "tools" / "st-idlereset"

FAMILIES = {
    4: (socket.AF_INET, "127.0.0.1", "0.0.0.0"),
    6: (socket.AF_INET6, "::1", "::"),
}

# Per deterministic connection (see the docstring), client then accepted socket.
CLIENT_PATH = [
    ("CLOSE", "SYN_SENT"),
    ("SYN_SENT", "ESTABLISHED"),
    ("ESTABLISHED", "FIN_WAIT1"),
    ("FIN_WAIT1", "FIN_WAIT2"),
    ("FIN_WAIT2", "CLOSE"),
]
CHILD_PATH = [
    ("LISTEN", "SYN_RECV"),
    ("SYN_RECV", "ESTABLISHED"),
    ("ESTABLISHED", "CLOSE_WAIT"),
    ("CLOSE_WAIT", "LAST_ACK"),
    ("LAST_ACK", "CLOSE"),
]
LISTENER_PATH = [("CLOSE", "LISTEN"), ("LISTEN", "CLOSE")]
# An abortive close (SO_LINGER {1, 0}) right after the handshake.
ABORT_CLIENT_PATH = [("CLOSE", "SYN_SENT"), ("SYN_SENT", "ESTABLISHED"), ("ESTABLISHED", "CLOSE")]
ABORT_CHILD_PATH = [("LISTEN", "SYN_RECV"), ("SYN_RECV", "ESTABLISHED"), ("ESTABLISHED", "CLOSE")]

REQUEST, REPLY = b"hello", b"world!"
FIN_ACK_PAUSE_S = 0.1  # the accepted socket's time in CLOSE_WAIT
LINGER_ZERO = struct.pack("ii", 1, 0)


# ---- helpers -------------------------------------------------------------


def parse_lines(stdout):
    """The tcp --json stream: only tcp_* types."""
    return json_lines(stdout, ("tcp_state", "tcp_reset", "tcp_close"))


def of_type(events, kind):
    return [e for e in events if e["type"] == kind]


def by_sock(events):
    """tcp_state lines grouped per kernel socket, in stream order."""
    socks = {}
    for e in of_type(events, "tcp_state"):
        socks.setdefault(e["sock"], []).append(e)
    return socks


def path(lines):
    return [(e["old"], e["new"]) for e in lines]


def bound_listener(family):
    """A TCP socket bound to a free loopback port, not listening yet: the
    tracer starts with --port on it, then the test calls listen()."""
    af, host, _ = FAMILIES[family]
    lst = socket.socket(af, socket.SOCK_STREAM)
    lst.bind((host, 0))
    return lst, host, lst.getsockname()[1]


def own_netns():
    return os.stat("/proc/self/ns/net").st_ino


def runner_comm():
    return Path("/proc/self/comm").read_text().strip()


def connect_pair(lst, host, port, family):
    c = socket.socket(FAMILIES[family][0], socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect((host, port))
    s, _ = lst.accept()
    s.settimeout(10)
    return c, s


def exchange(c, s):
    c.sendall(REQUEST)
    assert s.recv(100) == REQUEST
    s.sendall(REPLY)
    assert c.recv(100) == REPLY


def deterministic_connection(lst, host, port, family, quickack=True):
    """Request, reply, client close, pause, server reads EOF and closes.
    Returns (client port, (lo, hi)): the accepted socket's time in CLOSE_WAIT
    lies within [lo, hi] seconds. It starts when the client's FIN is
    processed, after the client's close() began and before the server read
    EOF; it ends inside the server's close(). Bounds, not a tolerance: a
    guest under TCG can stall tens of ms between any two lines."""
    c, s = connect_pair(lst, host, port, family)
    cport = c.getsockname()[1]
    exchange(c, s)
    t_client = time.monotonic()
    c.close()
    # The ACK of the client's FIN goes now, alone, from this process: left
    # to the delayed-ACK timer it is sent from whatever the CPU runs 40 ms
    # later, and this VM's kernel hides the tracepoints of softirq work
    # done on its guest agent's thread from every BPF program (ftrace sees
    # them; docs/tcp.md). TCP_QUICKACK sends the pending ACK once the FIN
    # is read.
    if quickack:
        assert s.recv(100) == b""
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
    t_eof = time.monotonic()
    time.sleep(FIN_ACK_PAUSE_S)
    if not quickack:
        assert s.recv(100) == b""
        t_eof = time.monotonic()
    t_server = time.monotonic()
    s.close()
    return cport, (t_server - t_eof, time.monotonic() - t_client)


def aborted_connection(lst, host, port, family, idle_s=0.0):
    """Request, reply, idle_s of silence, SO_LINGER {1, 0} close by the
    client. Returns (client port, bounds): each of bounds, in ms, holds what
    the kernel measures, from the test's clock read around each step:
    "idle", the client's idle before its reset (last segment received, the
    reply, to the reset inside close()); "peer_idle_max", the most the
    server can have been idle then (its last receipt came after the request
    was sent); "established", the client's time in ESTABLISHED (entered
    inside connect(), left inside close()). Bounds, not a tolerance: a guest
    under TCG can stall tens of ms between any two lines."""
    t_connect = time.monotonic()
    c, s = connect_pair(lst, host, port, family)
    t_connected = time.monotonic()
    cport = c.getsockname()[1]
    t_request = time.monotonic()
    c.sendall(REQUEST)
    assert s.recv(100) == REQUEST
    t_reply = time.monotonic()
    s.sendall(REPLY)
    assert c.recv(100) == REPLY
    t_in = time.monotonic()  # the reply is in: the client's last segment received
    time.sleep(idle_s)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_ZERO)
    t_close = time.monotonic()
    c.close()
    t_closed = time.monotonic()
    with pytest.raises(ConnectionResetError):
        s.recv(100)
    s.close()
    ms = 1000
    return cport, {"idle": ((t_close - t_in) * ms, (t_closed - t_reply) * ms),
                   "peer_idle_max": (t_closed - t_request) * ms,
                   "established": ((t_close - t_connected) * ms, (t_closed - t_connect) * ms)}


# Idle times are in jiffies (one is 4 ms at HZ=250, 10 ms at 100): both ends
# of one can round a jiffy off. Times in a state are ns of the BPF clock.
JIFFY_MS = 10
NS_SLACK_MS = 0.01


def within(value, bounds, slack, what):
    lo, hi = bounds
    assert value is not None and lo - slack <= value <= hi + slack, (what, value, bounds)


def stop(st, seconds=60):
    """SIGINT the tracer once the last events are in; returns its Result."""
    time.sleep(0.3)
    st.send_signal(signal.SIGINT)
    res = st.finish(seconds)
    assert res.returncode == 0, res
    return res


def report_json(run_spiketrace, rec):
    rep = run_spiketrace(["report", rec, "--format", "json"], timeout=60)
    assert rep.returncode == 0, rep
    return json.loads(rep.stdout)


def pair_counts(tcp):
    counts = {}
    for t in tcp["transitions_by_state"]:
        key = (t["from"], t["to"])
        assert key not in counts, f"{key} listed twice: {tcp['transitions_by_state']}"
        counts[key] = t["count"]
    return counts


def remotes(tcp, direction, addr, port):
    """by_remote rows: outbound ones by (raddr, rport), inbound by lport."""
    key = "rport" if direction == "out" else "lport"
    return [r for r in tcp["by_remote"]
            if r["direction"] == direction and r["raddr"] == addr and r[key] == port]


def one(rows, what):
    assert len(rows) == 1, f"{what}: {rows}"
    return rows[0]


def expect_counts(*paths_and_times):
    want = {}
    for p, times in paths_and_times:
        for pair in p:
            want[pair] = want.get(pair, 0) + times
    return want


# ---- 1. the exact transitions of one connection ---------------------------


# "classic": SPIKETRACE_NO_TP_BTF makes the concern take its classic
# tracepoint programs, as on a kernel without tp_btf; the results must match.
VARIANTS = pytest.mark.parametrize("variant", ["tp_btf", "classic"])


def use_variant(monkeypatch, variant):
    if variant == "classic":
        monkeypatch.setenv("SPIKETRACE_NO_TP_BTF", "1")
    else:
        monkeypatch.delenv("SPIKETRACE_NO_TP_BTF", raising=False)


@VARIANTS
@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
def test_loopback_exact_transitions(start_spiketrace, monkeypatch, variant, family):
    use_variant(monkeypatch, variant)
    lst, host, port = bound_listener(family)
    any_addr = FAMILIES[family][2]
    try:
        st = start_spiketrace(["tcp", "--json", "--port", port])
        lst.listen(8)
        cport, (wait_lo, wait_hi) = deterministic_connection(lst, host, port, family)
    finally:
        lst.close()
    res = stop(st)
    events = parse_lines(res.stdout)
    pid, comm, netns = os.getpid(), runner_comm(), own_netns()

    socks = by_sock(events)
    assert len(socks) == 3, {k: path(v) for k, v in socks.items()}
    roles = {}
    for lines in socks.values():
        roles[path(lines)[0]] = lines
    client = roles[("CLOSE", "SYN_SENT")]
    child = roles[("LISTEN", "SYN_RECV")]
    listener = roles[("CLOSE", "LISTEN")]
    assert path(client) == CLIENT_PATH, client
    assert path(child) == CHILD_PATH, child
    assert path(listener) == LISTENER_PATH, listener

    for role, lines in (("client", client), ("child", child), ("listener", listener)):
        for i, e in enumerate(lines):
            assert e["pid"] == pid, (role, e)
            assert e["comm"] == comm, (role, e)
            assert e["family"] == family, (role, e)
            assert e["netns"] == netns, (role, e)
            assert e["laddr"] == host, (role, e)
            if i == 0:
                assert e["ms_in_old"] is None, (role, e)
            else:
                assert e["ms_in_old"] >= 0, (role, e)
    for i, e in enumerate(client):
        # The port is chosen after CLOSE->SYN_SENT.
        assert (e["lport"], e["raddr"], e["rport"]) == (0 if i == 0 else cport, host, port), e
        assert e["direction"] == "out", e
    for i, e in enumerate(child):
        # Up to 6.12 at least (seen in the vmtest guests), the kernel reports a
        # child's LISTEN -> SYN_RECV before it copies the peer into it.
        if i == 0 and OLD_CHILD and e["rport"] == 0:
            assert (e["lport"], e["raddr"]) == (port, any_addr), e
        else:
            assert (e["lport"], e["raddr"], e["rport"]) == (port, host, cport), e
        assert e["direction"] == "in", e
    for e in listener:
        assert (e["lport"], e["raddr"], e["rport"]) == (port, any_addr, 0), e
        assert e["direction"] is None, e

    # The accepted socket waited in CLOSE_WAIT between the two closes: within
    # the bounds the test measured around them.
    close_wait = child[3]
    within(close_wait["ms_in_old"], (wait_lo * 1000, wait_hi * 1000), NS_SLACK_MS, close_wait)

    closes = of_type(events, "tcp_close")
    assert len(closes) == 2, closes
    out = one([c for c in closes if c["direction"] == "out"], "client tcp_close")
    inb = one([c for c in closes if c["direction"] == "in"], "accepted tcp_close")
    assert (out["laddr"], out["lport"], out["raddr"], out["rport"]) == (host, cport, host, port)
    assert (inb["laddr"], inb["lport"], inb["raddr"], inb["rport"]) == (host, port, host, cport)
    for c in (out, inb):
        assert c["pid"] == pid and c["family"] == family, c
        assert c["resets_received"] == 0 and c["resets_sent"] == 0, c
        assert c["end_unseen"] is False, c
        assert c["retransmits"] == 0, c
    assert (out["tx_bytes"], out["rx_bytes"]) == (len(REQUEST), len(REPLY)), out
    assert (inb["rx_bytes"], inb["tx_bytes"]) == (len(REQUEST), len(REPLY)), inb
    assert of_type(events, "tcp_reset") == []


def test_prompt_close_counts_payload_only(start_spiketrace):
    """The server closes right after the client (no pause): the client's
    ACK-of-FIN and the server's FIN then come together and the client's
    socket sees that FIN (FIN_WAIT2 -> CLOSE through tcp_fin). tcp_close's
    rx_bytes is still the payload: the FIN is a sequence number, not data."""
    lst, host, port = bound_listener(4)
    n = 5
    try:
        st = start_spiketrace(["tcp", "--json", "--port", port])
        lst.listen(8)
        for _ in range(n):
            c, s = connect_pair(lst, host, port, 4)
            exchange(c, s)
            c.close()
            assert s.recv(100) == b""
            s.close()
    finally:
        lst.close()
    events = parse_lines(stop(st).stdout)
    closes = of_type(events, "tcp_close")
    assert len(closes) == 2 * n, closes
    for c in closes:
        want = (len(REPLY), len(REQUEST)) if c["direction"] == "out" else (len(REQUEST), len(REPLY))
        assert (c["rx_bytes"], c["tx_bytes"]) == want, c


# ---- 2. an abortive close: the reset sent and received ---------------------


@VARIANTS
@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
def test_linger_zero_sent_reset(start_spiketrace, monkeypatch, variant, family):
    use_variant(monkeypatch, variant)
    idle_s = 0.3
    lst, host, port = bound_listener(family)
    try:
        st = start_spiketrace(["tcp", "--json", "--port", port])
        lst.listen(8)
        cport, bounds = aborted_connection(lst, host, port, family, idle_s)
    finally:
        lst.close()
    events = parse_lines(stop(st).stdout)
    pid = os.getpid()

    resets = of_type(events, "tcp_reset")
    sent = one([r for r in resets if r["direction"] == "sent"], "sent resets")
    assert (sent["laddr"], sent["lport"], sent["raddr"], sent["rport"]) == (host, cport, host, port)
    assert sent["pid"] == pid and sent["family"] == family, sent
    assert sent["state"] == "CLOSE", sent  # sent from tcp_disconnect, after the CLOSE
    within(sent["idle_ms"], bounds["idle"], JIFFY_MS, sent)
    assert (sent["tx_bytes"], sent["rx_bytes"]) == (len(REQUEST), len(REPLY)), sent

    recv = one([r for r in resets if r["direction"] == "received"], "received resets")
    assert (recv["laddr"], recv["lport"], recv["raddr"], recv["rport"]) == (host, port, host, cport)
    assert recv["pid"] == pid and recv["family"] == family, recv
    assert recv["state"] == "ESTABLISHED", recv
    # Idle since the last segment received: the client's (maybe delayed) ACK.
    within(recv["idle_ms"], (0, bounds["peer_idle_max"]), JIFFY_MS, recv)
    assert (recv["rx_bytes"], recv["tx_bytes"]) == (len(REQUEST), len(REPLY)), recv

    socks = by_sock(events)
    paths = sorted(path(v) for v in socks.values())
    assert paths == sorted([ABORT_CLIENT_PATH, ABORT_CHILD_PATH, LISTENER_PATH]), paths
    client = next(v for v in socks.values() if path(v) == ABORT_CLIENT_PATH)
    within(client[-1]["ms_in_old"], bounds["established"], NS_SLACK_MS, client[-1])
    closes = {c["direction"]: c for c in of_type(events, "tcp_close")}
    assert sorted(closes) == ["in", "out"], closes
    assert closes["in"]["resets_received"] == 1, closes["in"]


# ---- 3. record + report: counts per pair, endpoints, causes ---------------


def recorded_connections(start_spiketrace, run_spiketrace, tmp_path, work):
    """Records `--only proc,tcp --port` into tmp_path/tcp.rec while
    work(lst, host, port) makes connections to a fresh IPv4 listener.
    Returns (report, host, port, what work returned)."""
    lst, host, port = bound_listener(4)
    rec = tmp_path / "tcp.rec"
    try:
        st = start_spiketrace(["record", "-o", rec, "--only", "proc,tcp", "--port", port])
        lst.listen(64)
        made = work(lst, host, port)
    finally:
        lst.close()
    stop(st)
    rep = report_json(run_spiketrace, rec)
    assert rep["lost_events"] == 0
    return rep, host, port, made


def test_recording_report_counts(start_spiketrace, run_spiketrace, tmp_path):
    k = 20

    def work(lst, host, port):
        cports = [deterministic_connection(lst, host, port, 4)[0] for _ in range(k)]
        # One more, closed abortively: one reset each way.
        return cports, aborted_connection(lst, host, port, 4)

    rep, host, port, made = recorded_connections(start_spiketrace, run_spiketrace, tmp_path,
                                                 work)
    cports, (abort_cport, abort_bounds) = made
    rec = tmp_path / "tcp.rec"
    pid = os.getpid()
    tcp = rep["tcp"]

    want = expect_counts((CLIENT_PATH, k), (CHILD_PATH, k), (LISTENER_PATH, 1),
                         (ABORT_CLIENT_PATH, 1), (ABORT_CHILD_PATH, 1))
    assert pair_counts(tcp) == want
    assert tcp["transitions"] == sum(want.values()) == 10 * k + 2 + 6
    assert tcp["transition_records"] == tcp["transitions"]
    assert tcp["exact_counts"] is True
    assert (tcp["resets_received"], tcp["resets_sent"]) == (1, 1), tcp
    assert tcp["retransmits"] == 0
    assert (tcp["connections_closed"], tcp["connections_open"]) == (2 * (k + 1), 0)
    # Every record started where its socket's last one left it.
    assert (tcp["gaps"], tcp["ends_unseen"]) == (0, 0), tcp
    assert tcp["reset_idle"]["resets"] == 2, tcp["reset_idle"]

    out = one(remotes(tcp, "out", host, port), "outbound endpoint")
    inb = one(remotes(tcp, "in", host, port), "inbound endpoint")
    for r in (out, inb):
        assert r["connections"] == r["closed"] == k + 1, r
        assert r["retransmits"] == 0, r
    assert (out["tx_bytes"], out["rx_bytes"]) == ((k + 1) * len(REQUEST), (k + 1) * len(REPLY))
    assert (inb["rx_bytes"], inb["tx_bytes"]) == ((k + 1) * len(REQUEST), (k + 1) * len(REPLY))
    assert (out["resets_sent"], out["resets_received"]) == (1, 0), out
    assert (inb["resets_sent"], inb["resets_received"]) == (0, 1), inb

    # The reset list and the closed connections carry the tuples.
    resets = {r["direction"]: r for r in tcp["resets"]}
    assert sorted(resets) == ["received", "sent"], tcp["resets"]
    assert (resets["sent"]["lport"], resets["sent"]["rport"], resets["sent"]["pid"]) == \
        (abort_cport, port, pid)
    assert (resets["received"]["lport"], resets["received"]["rport"]) == (port, abort_cport)
    within(resets["sent"]["idle_ms"], abort_bounds["idle"], JIFFY_MS, resets["sent"])
    conns = tcp["connections"]
    assert len(conns) == 2 * (k + 1), conns
    assert all(c["pid"] == pid for c in conns), conns
    assert sorted(c["lport"] for c in conns if c["direction"] == "out") == \
        sorted(cports + [abort_cport])
    assert sorted(c["rport"] for c in conns if c["direction"] == "in") == \
        sorted(cports + [abort_cport])

    # The cause this test process belongs to opened and accepted them all.
    me = one([p for p in rep["processes"] if p["pid"] == pid], "this process")
    cause = one([c for c in rep["causes"] if c["name"] == me["cause"]], "its cause")
    assert cause["tcp_connections"] == 2 * (k + 1), cause
    assert cause["tcp_resets"] == 2, cause
    assert all("tcp_connections" in c and "tcp_resets" in c for c in rep["causes"])

    text = run_spiketrace(["report", rec, "--format", "text"])
    assert text.returncode == 0, text
    assert re.search(r"^TCP \(docs/tcp\.md\)$", text.stdout, re.M), text.stdout
    n_trans = sum(want.values())
    assert re.search(rf"^ {n_trans} transitions, {2 * (k + 1)} connections closed, 0 open; "
                     r"resets: 1 received, 1 sent; 0 retransmits$", text.stdout, re.M), text.stdout


def test_unseen_transitions_are_reported(start_spiketrace, run_spiketrace, tmp_path):
    """The delayed-ACK path: each client's FIN_WAIT1 -> FIN_WAIT2 -> CLOSE
    runs in the softirq of a timer 40 ms after its close, on whatever thread
    the CPU runs then. Where the kernel shows it to no BPF program (docs/tcp.md),
    the report must say so: every client whose two transitions are missing
    ended unseen, found when its address came back (a gap) or, when the
    recording stopped, from the kernel's tables (its time-wait socket).
    Nothing goes missing silently, nothing is left open."""
    k = 40

    def work(lst, host, port):
        for _ in range(k):
            deterministic_connection(lst, host, port, 4, quickack=False)

    rep = recorded_connections(start_spiketrace, run_spiketrace, tmp_path, work)[0]
    tcp = rep["tcp"]
    counts = pair_counts(tcp)
    missed = k - counts.get(("FIN_WAIT1", "FIN_WAIT2"), 0)
    print(f"{missed} of {k} clients' FIN_WAIT1 -> FIN_WAIT2 -> CLOSE unseen; "
          f"gaps {tcp['gaps']}, ends_unseen {tcp['ends_unseen']}, open {tcp['connections_open']}")
    assert counts.get(("FIN_WAIT2", "CLOSE"), 0) == k - missed, counts
    # Everything the test did in its own process context is exact.
    for pair in CHILD_PATH:
        assert counts[pair] == k, (pair, counts)
    for pair in CLIENT_PATH[:3]:
        assert counts[pair] == k, (pair, counts)
    assert tcp["gaps"] <= tcp["ends_unseen"] == missed, tcp
    assert tcp["connections_open"] == 0, tcp
    unseen = [c for c in tcp["connections"] if c["end_unseen"]]
    assert len(unseen) == tcp["ends_unseen"], unseen
    for c in unseen:
        assert c["direction"] == "out" and c["duration_ms"] is None, c
    assert tcp["connections_closed"] == 2 * k, tcp


# ---- 4. a middlebox forgets idle flows: resets after its timeout -----------


class IdleReset:
    """st-idlereset with --wait-stdin: ready() once its namespaces, server and
    client are up; go() releases the client and returns the done line."""

    def __init__(self, args):
        self.proc = subprocess.Popen([str(IDLERESET), "--wait-stdin", *map(str, args)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=30)
            pytest.fail(f"st-idlereset {args} did not start (exit {self.proc.returncode})",
                        pytrace=False)
        self.ready = json.loads(line)
        assert self.ready["type"] == "ready", self.ready

    def go(self):
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"st-idlereset ended without its done line ({self.proc.wait(timeout=30)})"
        done = json.loads(line)
        assert done["type"] == "done", done
        assert self.proc.wait(timeout=60) == 0
        return done

    def kill(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # it tears its namespaces down first
            self.proc.wait(timeout=30)


@pytest.fixture
def idlereset():
    if not (IDLERESET.is_file() and os.access(IDLERESET, os.X_OK)):
        pytest.fail(f"{IDLERESET} is missing: `make` builds it from tools/idlereset.c",
                    pytrace=False)
    made = []

    def start(args):
        ir = IdleReset(args)
        made.append(ir)
        return ir

    yield start
    for ir in made:
        ir.kill()


def test_idle_reset_replay(start_spiketrace, run_spiketrace, idlereset, tmp_path):
    short_s, long_s = 1, 5
    port = free_port()  # for the --port filter: the traffic stays in its namespaces
    ir = idlereset(["--idle", f"{short_s},{long_s}", "--family", "both", "--parallel",
                    "--port", port])
    ready = ir.ready
    assert ready["port"] == port and ready["timeout_s"] == 3, ready
    rec = tmp_path / "idle.rec"
    stream = start_spiketrace(["tcp", "--json", "--port", port])
    record = start_spiketrace(["record", "-o", rec, "--only", "proc,tcp", "--port", port])
    done = ir.go()
    events = parse_lines(stop(stream).stdout)
    stop(record)
    rep = report_json(run_spiketrace, rec)

    conns = done["connections"]
    assert done["errors"] == 0, done
    assert sorted((c["idle_s"], c["family"]) for c in conns) == \
        sorted((s, f) for s in (short_s, long_s) for f in (4, 6)), conns
    short = [c for c in conns if c["idle_s"] == short_s]
    long_ = [c for c in conns if c["idle_s"] == long_s]
    assert all(c["outcome"] == "ok" for c in short), short
    assert all(c["outcome"] == "reset" for c in long_), long_
    server_addr = {4: ready["server_addr"], 6: ready["server_addr6"]}

    received = [r for r in of_type(events, "tcp_reset") if r["direction"] == "received"]
    for c in short:
        hits = [r for r in received if (r["laddr"], r["lport"]) == (c["laddr"], c["lport"])]
        assert hits == [], (c, hits)
    for c in long_:
        assert (c["raddr"], c["rport"]) == (server_addr[c["family"]], port), c
        r = one([r for r in received if (r["laddr"], r["lport"]) == (c["laddr"], c["lport"])],
                f"resets received by {c['laddr']}:{c['lport']}")
        assert (r["raddr"], r["rport"], r["family"]) == (c["raddr"], c["rport"], c["family"]), r
        assert r["pid"] == c["client_pid"], (r, c)
        assert r["state"] == "ESTABLISHED", r
        assert abs(r["idle_ms"] - c["idle_ms"]) <= 0.1 * c["idle_ms"], (r, c)

    # The same run, recorded.
    assert rep["lost_events"] == 0
    tcp = rep["tcp"]
    assert tcp["exact_counts"] is True
    assert tcp["resets_received"] >= len(long_), tcp["resets_received"]
    cluster = tcp["reset_idle"]["cluster"]
    assert cluster is not None, tcp["reset_idle"]
    # Against the idle the generator measured (a starved box, a TCG guest,
    # stretches the 5 s it asked for; seen: 6.3 s on 6.1 under QEMU).
    measured = sorted(c["idle_ms"] for c in long_)[len(long_) // 2]
    assert abs(cluster["idle_ms"] - measured) <= 0.1 * measured, (cluster, measured)
    assert cluster["lo_ms"] <= cluster["idle_ms"] <= cluster["hi_ms"], cluster
    assert cluster["resets"] >= len(long_), cluster
    for fam, addr in server_addr.items():
        r = one(remotes(tcp, "out", addr, port), f"outbound endpoint {addr}")
        assert r["connections"] == 2, r  # one short, one long per family
        assert r["resets_received"] >= 1, r
    rec_received = [r for r in tcp["resets"] if r["direction"] == "received"]
    for c in long_:
        r = one([r for r in rec_received if (r["laddr"], r["lport"]) == (c["laddr"], c["lport"])],
                f"recorded resets received by {c['laddr']}:{c['lport']}")
        assert r["pid"] == c["client_pid"] and r["state"] == "ESTABLISHED", r
        assert abs(r["idle_ms"] - c["idle_ms"]) <= 0.1 * c["idle_ms"], (r, c)


# ---- 5. ten thousand short connections ------------------------------------


def test_many_short_connections(start_spiketrace, run_spiketrace, tmp_path):
    """No pauses: the close order varies (FIN_WAIT paths are not asserted);
    what is fixed per connection is one CLOSE->SYN_SENT, SYN_SENT->ESTABLISHED,
    LISTEN->SYN_RECV, SYN_RECV->ESTABLISHED, and two transitions into CLOSE
    (client and accepted socket), plus the listener's own LISTEN->CLOSE."""
    n = 10000
    lst, host, port = bound_listener(4)
    rec = tmp_path / "many.rec"
    t0 = time.monotonic()
    try:
        st = start_spiketrace(["record", "-o", rec, "--only", "tcp", "--port", port])
        lst.listen(4096)
        for _ in range(n):
            c, s = connect_pair(lst, host, port, 4)
            c.close()
            s.close()
    finally:
        lst.close()
    stop(st, 120)
    rep = report_json(run_spiketrace, rec)
    tcp = rep["tcp"]
    counts = pair_counts(tcp)
    print(f"{n} connections in {time.monotonic() - t0:.1f} s; lost_events {rep['lost_events']}, "
          f"transition_records {tcp['transition_records']} of {tcp['transitions']}")

    assert tcp["exact_counts"] is True
    for pair in [("CLOSE", "SYN_SENT"), ("SYN_SENT", "ESTABLISHED"),
                 ("LISTEN", "SYN_RECV"), ("SYN_RECV", "ESTABLISHED")]:
        assert counts.get(pair) == n, (pair, counts)
    assert (counts.get(("CLOSE", "LISTEN")), counts.get(("LISTEN", "CLOSE"))) == (1, 1), counts
    into_close = sum(v for (old, new), v in counts.items() if new == "CLOSE")
    assert into_close == 2 * n + 1, counts
    assert tcp["transitions"] == sum(counts.values())
    assert (tcp["resets_received"], tcp["resets_sent"]) == (0, 0), tcp
    if rep["lost_events"] == 0:
        assert tcp["transition_records"] == tcp["transitions"]
        assert (tcp["connections_closed"], tcp["connections_open"]) == (2 * n, 0)
        assert (tcp["gaps"], tcp["ends_unseen"]) == (0, 0), tcp
        out = one(remotes(tcp, "out", host, port), "outbound endpoint")
        inb = one(remotes(tcp, "in", host, port), "inbound endpoint")
        for r in (out, inb):
            assert r["connections"] == r["closed"] == n, r
            # No payload at all: the FINs are not data.
            assert (r["rx_bytes"], r["tx_bytes"]) == (0, 0), r
    else:
        # Drops are reported, never silent: fewer records than transitions.
        assert tcp["transition_records"] < tcp["transitions"], tcp
