# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Network volume per job (docs/net.md): a client in a cgroup of its own
downloads and uploads a known number of bytes from a server in another;
the recording must give the client's job and the server's process the
bytes each side counted itself, within 2 %, on both ways of counting
(sock:sock_*_length, and the tcp_probe fallback forced)."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import cgroup2_root, rmdir_retry

REPO = Path(__file__).resolve().parents[2]
PUMP = REPO / "build" / "tools" / "st-netpump"
MB = 1024 * 1024
# sock:sock_recv_length/sock_send_length came with 6.3: the oracle for which
# source the net concern must pick (independent of its own feature probe).
KERNEL = tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])
SOCK_LEN = KERNEL >= (6, 3)
DOWN = 120 * MB
UP = 24 * MB


def enter(cgroup):
    os.makedirs(cgroup, exist_ok=True)

    def pre():
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    return pre


def start_server(port, cgroup, extra=()):
    srv = subprocess.Popen([str(PUMP), "server", "--port", str(port), *extra],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=enter(cgroup))
    ready = json.loads(srv.stdout.readline())
    assert ready["type"] == "ready", ready
    return srv


def finish(proc, timeout=60):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, (out, err)
    return json.loads(out.strip().splitlines()[-1])


def near(got, want, tol=0.02):
    return abs(got - want) <= tol * want


def record_transfer(start_spiketrace, run_spiketrace, tmp_path, udp=False):
    """Records one transfer; returns (report json, client done, server done, cgroups)."""
    tag = os.getpid()
    cg2 = str(cgroup2_root())
    cli_cg, srv_cg = f"{cg2}/st-net-cli-{tag}", f"{cg2}/st-net-srv-{tag}"
    port = 19000 + tag % 1000 + (500 if udp else 0)
    rec = tmp_path / "net.rec"
    st = start_spiketrace(["record", "--only", "net", "-o", rec])
    extra = ["--udp", "--up", str(UP)] if udp else []
    srv = start_server(port, srv_cg, extra)
    try:
        cli = subprocess.Popen([str(PUMP), "client", "--port", str(port), "--down", str(DOWN),
                                "--up", str(UP), *(["--udp"] if udp else [])],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=enter(cli_cg))
        client = finish(cli)
        server = finish(srv)
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()
    time.sleep(1.5)  # one more tick: the last second's bytes
    st.send_signal(signal.SIGINT)
    res = st.finish(60)
    assert res.returncode == 0, res
    for cg in (cli_cg, srv_cg):
        rmdir_retry(cg)
    r = run_spiketrace(["report", rec, "--format", "json"])
    assert r.returncode == 0, r
    return json.loads(r.stdout), client, server, (cli_cg[len(cg2):], srv_cg[len(cg2):]), rec


def cause_of(doc, cgroup):
    found = [c for c in doc["causes"] if c["cgroup"] == cgroup]
    assert len(found) == 1, (cgroup, [(c["name"], c["cgroup"]) for c in doc["causes"]])
    return found[0]


def proc_of(doc, pid):
    found = [p for p in doc["processes"] if p["pid"] == pid]
    assert len(found) == 1, pid
    return found[0]


@pytest.mark.parametrize("fallback,batch", [(False, True), (True, True), (False, False)],
                         ids=["sock_length", "tcp_counters", "no_batch_reads"])
def test_job_bytes_match_what_the_peers_moved(start_spiketrace, run_spiketrace, tmp_path,
                                               monkeypatch, fallback, batch):
    if fallback:
        monkeypatch.setenv("SPIKETRACE_NET_FALLBACK", "1")
    if not batch:  # maps read key by key, as on kernels before 5.6
        monkeypatch.setenv("SPIKETRACE_NO_BATCH", "1")
    doc, client, server, (cli_cg, srv_cg), rec = record_transfer(start_spiketrace,
                                                                 run_spiketrace, tmp_path)
    assert client["rx_bytes"] == DOWN and client["tx_bytes"] == UP + 16, client
    assert doc["net"]["source"] == ("sock_length" if SOCK_LEN and not fallback else
                                    "tcp_counters")
    job = cause_of(doc, cli_cg)
    assert near(job["net_rx_bytes"], client["rx_bytes"]), (job, client)
    assert near(job["net_tx_bytes"], client["tx_bytes"]), (job, client)
    assert client["pid"] in job["pids"]
    # the server's process: the mirror figures
    sp = proc_of(doc, server["pid"])
    assert near(sp["net_rx_bytes"], server["rx_bytes"]), (sp, server)
    assert near(sp["net_tx_bytes"], server["tx_bytes"]), (sp, server)
    assert near(server["tx_bytes"], client["rx_bytes"], 0)
    # the timeline carries the same bytes, bucket by bucket
    series = {s["metric"]: s["values"] for s in doc["timeline"]["series"]
              if s["cause"] == job["name"]}
    assert near(sum(series["net_rx_bytes"]), job["net_rx_bytes"], 1e-9), series
    assert near(sum(series["net_tx_bytes"]), job["net_tx_bytes"], 1e-9), series
    # the top talkers: the client's outbound peer and the server's inbound one
    port = [t for t in doc["net"]["top_talkers"]
                       if t["direction"] == "outbound" and t["raddr"] == "127.0.0.1"]
    assert any(near(t["rx_bytes"], DOWN) and near(t["tx_bytes"], UP) for t in port), \
        doc["net"]["top_talkers"]
    assert any(t["direction"] == "inbound" and near(t["tx_bytes"], DOWN)
               for t in doc["net"]["top_talkers"]), doc["net"]["top_talkers"]
    # the text report shows the job's download in its row
    r = run_spiketrace(["report", rec], env={**os.environ, "NO_COLOR": "1"})
    assert r.returncode == 0, r
    assert "NET-RX NET-TX" in r.stdout
    assert f"network {DOWN // MB}M in" in r.stdout, r.stdout


def test_udp_bytes(start_spiketrace, run_spiketrace, tmp_path):
    doc, client, server, (cli_cg, _), _ = record_transfer(start_spiketrace, run_spiketrace,
                                                          tmp_path, udp=True)
    assert client["tx_bytes"] == UP, client
    job = cause_of(doc, cli_cg)
    if not SOCK_LEN:
        # The fallback reads TCP sockets' counters: UDP is documented as not seen.
        assert doc["net"]["source"] == "tcp_counters"
        assert job["net_tx_bytes"] == 0, job
        return
    assert doc["net"]["source"] == "sock_length"
    assert near(job["net_tx_bytes"], UP), job
    # loopback may drop datagrams: the server's own count is the truth for its side
    assert server["rx_bytes"] > UP // 2, server
    assert near(proc_of(doc, server["pid"])["net_rx_bytes"], server["rx_bytes"]), server


def test_features_say_which_source(run_spiketrace, monkeypatch):
    r = run_spiketrace(["features"])
    assert r.returncode == 0, r
    line = [x for x in r.stdout.splitlines() if x.startswith("net ")]
    if SOCK_LEN:
        assert line and "bytes=sock_length(recv=tp_btf send=tp_btf) tcp+udp" in line[0], r.stdout
    else:
        assert line and "bytes=tcp_counters(probe=tp_btf state=tp_btf) tcp-only" in line[0], \
            r.stdout
    r = run_spiketrace(["features"], env={**os.environ, "SPIKETRACE_NET_FALLBACK": "1"})
    line = [x for x in r.stdout.splitlines() if x.startswith("net ")]
    assert line and "bytes=tcp_counters(probe=tp_btf state=tp_btf) forced tcp-only" in line[0]


def test_net_streams_the_job(start_spiketrace):
    """`spiketrace net --json`: the client's job appears with what it moved."""
    tag = os.getpid()
    cg2 = str(cgroup2_root())
    cli_cg, srv_cg = f"{cg2}/st-net-scli-{tag}", f"{cg2}/st-net-ssrv-{tag}"
    port = 18000 + tag % 1000
    st = start_spiketrace(["net", "--json", "-i", "1"])
    srv = start_server(port, srv_cg)
    try:
        cli = subprocess.Popen([str(PUMP), "client", "--port", str(port), "--down", str(DOWN),
                                "--up", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, preexec_fn=enter(cli_cg))
        client = finish(cli)
        finish(srv)
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()
    time.sleep(2.5)  # a table after the last bytes
    st.send_signal(signal.SIGINT)
    res = st.finish(30)
    assert res.returncode == 0, res
    for cg in (cli_cg, srv_cg):
        rmdir_retry(cg)
    rows = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    mine = [r for r in rows if r["type"] == "net" and r["cgroup"] == cli_cg[len(cg2):]]
    assert mine, rows[-10:]
    assert near(mine[-1]["net_rx_bytes"], client["rx_bytes"]), (mine[-1], client)
    assert sum(r["rx_bytes_per_s"] for r in mine) > 0


def test_source_known_without_traffic(run_spiketrace, tmp_path):
    """A recording names its byte source even when nothing was counted."""
    rec = tmp_path / "quiet.rec"
    r = run_spiketrace(["record", "--only", "net", "-d", 2, "-o", rec, "-p", os.getpid()])
    assert r.returncode == 0, r
    r = run_spiketrace(["report", rec, "--format", "json"])
    assert r.returncode == 0, r
    net = json.loads(r.stdout)["net"]
    assert net["source"] == ("sock_length" if SOCK_LEN else "tcp_counters"), net
    assert (net["rx_bytes"], net["tx_bytes"]) == (0, 0), net
