# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""`spiketrace serve` scraped by a real Prometheus (/usr/bin/prometheus,
Debian's package), while the scenario generators run:

* the cron job that OOM-kills one process of its memory cgroup
  (build/tools/st-cronjob): one kill, counted under that memcg;
* a TLS flood against nginx (build/tools/st-tlsstorm, see test_tls.py): the
  full and resumed handshakes the generator made, counted under comm nginx;
* a middlebox that forgets idle flows (build/tools/st-idlereset, see
  test_tcp.py): at least the resets the client got, as received resets.

The expected numbers come from the generators. Prometheus' HTTP API is
asked once its newest scrape postdates the scenario; counters must never
go down, neither in Prometheus (resets() == 0) nor between the /metrics
pages the test fetches itself every half second. A second test starts 1000
short-lived jobs and checks that the cause label stays bounded (cap + 1:
"other"). Everything is bounded in time; every process is killed at
teardown.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import cgroup2_root, free_port, rmdir_retry
from test_tcp import IdleReset
from test_tls import Storm

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "build" / "tools"
PROMETHEUS = Path("/usr/bin/prometheus")
CAP = 20  # MX_CAP in user/metrics.h: distinct causes, "other" aside
COUNTERS = ("spiketrace_cause_cpu_seconds_total", "spiketrace_cause_page_faults_total",
            "spiketrace_oom_kills_total", "spiketrace_tls_handshakes_total",
            "spiketrace_tls_cpu_seconds_total", "spiketrace_tcp_resets_total",
            "spiketrace_tcp_transitions_total", "spiketrace_lost_events_total",
            "spiketrace_cause_net_bytes_total")


# ---- the exposition, read back -----------------------------------------------


def parse_labels(s):
    """'a="x",b="y\\"z"' -> {"a": "x", "b": 'y"z'} (escapes undone)."""
    labels, i = {}, 0
    while i < len(s):
        eq = s.index("=", i)
        name = s[i:eq]
        assert s[eq + 1] == '"', s
        j, val = eq + 2, []
        while s[j] != '"':
            if s[j] == "\\":
                val.append({"n": "\n", "\\": "\\", '"': '"'}[s[j + 1]])
                j += 2
            else:
                val.append(s[j])
                j += 1
        labels[name] = "".join(val)
        i = j + 1
        if i < len(s):
            assert s[i] == ",", s
            i += 1
    return labels


def parse_exposition(text):
    """{(name, frozenset(labels)): value}, checking HELP/TYPE once per family."""
    samples, helped, typed = {}, set(), {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in helped, f"second HELP for {name}"
            helped.add(name)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert name not in typed, f"second TYPE for {name}"
            assert kind in ("counter", "gauge"), line
            assert name.endswith("_total") == (kind == "counter"), line
            typed[name] = kind
        else:
            assert not line.startswith("#"), line
            series, value = line.rsplit(" ", 1)
            if "{" in series:
                name, rest = series.split("{", 1)
                labels = parse_labels(rest[:-1])
            else:
                name, labels = series, {}
            assert name in typed and name in helped, f"sample before HELP/TYPE: {line}"
            key = (name, frozenset(labels.items()))
            assert key not in samples, f"duplicate series {line}"
            samples[key] = float(value)
    return samples


def fetch(port, path="/metrics", method="GET", timeout=5):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def scrape(port):
    status, headers, body = fetch(port)
    assert status == 200, (status, body)
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8", headers
    return parse_exposition(body)


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def causes(samples, name="spiketrace_cause_cpu_seconds_total"):
    return {dict(k[1])["cause"] for k in samples if k[0] == name}


class Watcher:
    """Fetches /metrics every half second in a thread and checks that no
    counter series ever goes down or disappears, and that every cause family
    keeps at most CAP + 1 values."""

    def __init__(self, port):
        self.port, self.errors, self.pages = port, [], 0
        self.max_causes = 0
        self._stop = threading.Event()
        self._prev = {}
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.wait(0.5):
            try:
                cur = scrape(self.port)
            except Exception as e:  # noqa: BLE001 - reported by stop()
                self.errors.append(f"scrape failed: {e!r}")
                continue
            self.pages += 1
            for fam in ("spiketrace_cause_cpu_seconds_total",
                        "spiketrace_cause_page_faults_total", "spiketrace_cause_rss_bytes"):
                self.max_causes = max(self.max_causes, len(causes(cur, fam)))
            for key, v in self._prev.items():
                if key[0] not in COUNTERS:
                    continue
                if key not in cur:
                    self.errors.append(f"series vanished: {key}")
                elif cur[key] < v:
                    self.errors.append(f"counter went down: {key} {v} -> {cur[key]}")
            self._prev = cur

    def stop(self):
        self._stop.set()
        self._t.join(timeout=10)
        assert not self.errors, self.errors[:10]
        assert self.pages >= 2, "the watcher fetched too few pages"
        return self._prev


# ---- Prometheus ---------------------------------------------------------------


class Prometheus:
    def __init__(self, tmp_path, target_port):
        if not (PROMETHEUS.is_file() and os.access(PROMETHEUS, os.X_OK)):
            pytest.fail(f"{PROMETHEUS} is missing: `make deps` installs Debian's prometheus",
                        pytrace=False)
        self.port = free_port()
        cfg = tmp_path / "prom.yml"
        cfg.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: spiketrace\n"
            "    static_configs:\n"
            f"      - targets: ['127.0.0.1:{target_port}']\n")
        self.log = open(tmp_path / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [str(PROMETHEUS), f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready",
                                            timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail("prometheus did not become ready; its log:\n"
                            + (tmp_path / "prometheus.log").read_text()[-3000:], pytrace=False)
            time.sleep(0.2)

    def query(self, expr):
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?"
               + urllib.parse.urlencode({"query": expr}))
        with urllib.request.urlopen(url, timeout=10) as r:
            res = json.load(r)
        assert res["status"] == "success", res
        return res["data"]["result"]

    def scalar(self, expr, default=None):
        """The value of a query with one result (default when none)."""
        res = self.query(expr)
        assert len(res) <= 1, (expr, res)
        return float(res[0]["value"][1]) if res else default

    def wait_scraped_after(self, t, timeout=30):
        """Waits until a successful scrape newer than wall-clock time t is in."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ts = self.scalar('timestamp(spiketrace_lost_events_total{job="spiketrace"})')
            up = self.scalar('up{job="spiketrace"}')
            if ts is not None and ts > t and up == 1:
                return
            time.sleep(0.3)
        pytest.fail(f"no scrape after {t} within {timeout} s (up={self.query('up')})",
                    pytrace=False)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture
def serve(start_spiketrace):
    """`spiketrace serve` on a free port: (Running, port)."""
    port = free_port()
    st = start_spiketrace(["serve", "--listen", f"127.0.0.1:{port}"])
    assert f"serving http://127.0.0.1:{port}/metrics" in st.ready_stderr, st.ready_stderr
    return st, port


@pytest.fixture
def prometheus(tmp_path, serve):
    prom = Prometheus(tmp_path, serve[1])
    yield prom
    prom.kill()


def settle(prom, seconds=2.5):
    """Scenario over: serve counts it within its next tick (1 s) and
    Prometheus scrapes each second; ask once a scrape after that is in."""
    t = time.time() + seconds
    time.sleep(seconds)
    prom.wait_scraped_after(t)


def assert_no_counter_resets(prom):
    for name in COUNTERS:
        res = prom.query(f'resets({name}{{job="spiketrace"}}[10m])')
        bad = [(r["metric"], r["value"][1]) for r in res if float(r["value"][1]) != 0]
        assert not bad, (name, bad)


def stop_serve(st):
    st.send_signal(signal.SIGINT)
    res = st.finish(30)
    assert res.returncode == 0, res


# ---- the scenarios --------------------------------------------------------------


def run_oom_job(run_cronjob, prom):
    cgroup = f"st-it-serve-oom-{os.getpid()}"
    # test_mem's arguments: the tree outgrows its 256 MiB limit by one process.
    job = run_cronjob(["--cgroup", cgroup, "--mem-limit", 256, "--alloc-mb", 200, "--step-mb",
                       16, "--step-ms", 50, "--hold-ms", 1500, "--download-mb", 64])
    assert len(job["oom_victims"]) == 1, job
    settle(prom)
    # The job's download from its mirror, as a counter by direction.
    rx = prom.scalar(f'spiketrace_cause_net_bytes_total{{cause="{cgroup}",direction="rx"}}')
    assert rx is not None, prom.query("spiketrace_cause_net_bytes_total")
    assert abs(rx - job["download_bytes"]) <= 0.02 * job["download_bytes"], (rx, job)
    res = prom.query(f'spiketrace_oom_kills_total{{memcg=~".*/{cgroup}"}}')
    assert len(res) == 1, res
    assert float(res[0]["value"][1]) == 1, res
    assert res[0]["metric"]["memcg"].endswith("/" + cgroup), res


def run_tls_flood(prom):
    full_q = 'spiketrace_tls_handshakes_total{comm="nginx",kind="full"}'
    resumed_q = 'spiketrace_tls_handshakes_total{comm="nginx",kind="resumed"}'
    storm = Storm(["--port", free_port(pair=True), "--full", 200, "--resumed", 50,
                   "--clients", 2])
    try:
        full0, resumed0 = prom.scalar(full_q, 0), prom.scalar(resumed_q, 0)
        done = storm.go()
    finally:
        storm.kill()
    settle(prom)
    full = prom.scalar(full_q, 0) - full0
    resumed = prom.scalar(resumed_q, 0) - resumed0
    # The server side: nginx completed what the client saw completed (the
    # generator's full count includes the handshake that seeds the resumed
    # phase). test_tls compares a recording with a little tolerance; through
    # serve and Prometheus the counts must be exact all the same.
    assert done["resumed"] == 50 and done["full"] >= 200, done
    assert (full, resumed) == (done["full"], done["resumed"]), (full, resumed, done)
    # Their CPU by phase is there too, for the same comm.
    cpu = prom.query('sum by (phase) (spiketrace_tls_cpu_seconds_total{comm="nginx"})')
    assert {r["metric"]["phase"] for r in cpu} == {"key_exchange", "signature", "rng", "other"}
    return done


def run_idle_resets(prom):
    received_q = 'spiketrace_tcp_resets_total{direction="received"}'
    ir = IdleReset(["--timeout-s", 1, "--idle", "0.3,2", "--family", 4, "--parallel"])
    try:
        before = prom.scalar(received_q)
        assert before is not None, prom.query("spiketrace_tcp_resets_total")
        done = ir.go()
    finally:
        ir.kill()
    assert done["errors"] == 0 and done["resets"] >= 1, done
    settle(prom)
    after = prom.scalar(received_q)
    assert after - before >= done["resets"], (before, after, done)
    # The transitions of those connections are counted as well.
    est = prom.scalar('spiketrace_tcp_transitions_total{from="SYN_SENT",to="ESTABLISHED"}')
    assert est is not None and est >= len(done["connections"]), est


def test_serve_scraped_by_prometheus(serve, prometheus, run_cronjob):
    st, port = serve
    prom = prometheus
    watcher = Watcher(port)
    t0 = time.time()
    prom.wait_scraped_after(t0)

    run_oom_job(run_cronjob, prom)
    run_tls_flood(prom)
    run_idle_resets(prom)

    last = watcher.stop()
    assert_no_counter_resets(prom)
    assert value(last, "spiketrace_lost_events_total") == 0
    assert prom.scalar('up{job="spiketrace"}') == 1
    # Bounded labels in what Prometheus stored, all along.
    n = prom.scalar('count(count by (cause) '
                    '(last_over_time(spiketrace_cause_cpu_seconds_total[10m])))')
    assert 1 <= n <= CAP + 1, n
    stop_serve(st)


def test_http_edges(serve):
    """404 elsewhere, HEAD, 405, an oversized request, and clients that
    connect and say nothing: the next scrape is still answered at once."""
    st, port = serve
    status, headers, body = fetch(port, "/")
    assert status == 404 and "/metrics" in body, (status, body)
    status, headers, body = fetch(port, "/metrics", method="HEAD")
    assert status == 200 and body == "" and int(headers["Content-Length"]) > 100, headers
    assert headers["Connection"] == "close"
    status, headers, _ = fetch(port, "/metrics", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD", headers

    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /" + b"a" * 8000 + b" HTTP/1.1\r\n\r\n")
        assert s.recv(64).startswith(b"HTTP/1.1 431 "), "oversized request not refused"

    # More silent clients than serve has connection slots.
    silent = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(12)]
    try:
        time.sleep(0.3)
        t = time.monotonic()
        scrape(port)
        assert time.monotonic() - t < 1.0, "a scrape waited behind silent clients"
        # Each is closed by serve within its 3 s: recv sees EOF (or a reset).
        deadline = time.monotonic() + 8
        for s in silent:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                assert s.recv(1) == b""
            except ConnectionResetError:
                pass
    finally:
        for s in silent:
            s.close()
    stop_serve(st)


def test_listen_errors(serve, run_spiketrace):
    """A bad --listen is bad usage (2); a busy port is a runtime failure (1);
    each one error line."""
    _, port = serve
    for bad in ("9464", "::1:9464", "127.0.0.1:99999", "[::1]", "example.com:80"):
        res = run_spiketrace(["serve", "--listen", bad])
        assert res.returncode == 2, res
        assert len(res.stderr.strip().splitlines()) == 1 and "--listen" in res.stderr, res
    res = run_spiketrace(["serve", "--listen", f"127.0.0.1:{port}"])
    assert res.returncode == 1, res
    assert len(res.stderr.strip().splitlines()) == 1, res
    assert "already in use" in res.stderr, res
    setpriv = shutil.which("setpriv")
    if setpriv:  # a privileged port without CAP_NET_BIND_SERVICE
        res = run_spiketrace(["serve", "--listen", "127.0.0.1:1"],
                             prefix=(setpriv, "--reuid=65534", "--regid=65534",
                                     "--clear-groups", "--inh-caps=-all"))
        assert res.returncode == 1, res
        assert len(res.stderr.strip().splitlines()) == 1, res
        assert "127.0.0.1:1" in res.stderr, res


# ---- cardinality ----------------------------------------------------------------


def test_cause_labels_stay_bounded(serve, prometheus):
    """1000 short jobs: a shell in a *.slice group (shared: not a cgroup job)
    starts 1000 /bin/true, each a lineage job of its own (its parent is a
    launcher). Counters stay monotonic, causes at most CAP + 1."""
    st, port = serve
    prom = prometheus
    watcher = Watcher(port)
    n = 1000
    group = Path(cgroup2_root()) / f"st-it-serve-card-{os.getpid()}.slice"
    group.mkdir(exist_ok=True)
    try:
        def enter():
            (group / "cgroup.procs").write_text(str(os.getpid()))

        script = f'i=0; while [ $i -lt {n} ]; do /bin/true; i=$((i+1)); done'
        t = time.monotonic()
        res = subprocess.run(["/bin/sh", "-c", script], preexec_fn=enter, timeout=120)
        assert res.returncode == 0
        elapsed = time.monotonic() - t
        settle(prom)
    finally:
        rmdir_retry(group)
    last = watcher.stop()
    print(f"{n} jobs in {elapsed:.1f} s; up to {watcher.max_causes} cause values per family")
    for fam in ("spiketrace_cause_cpu_seconds_total", "spiketrace_cause_page_faults_total",
                "spiketrace_cause_rss_bytes"):
        names = causes(last, fam)
        assert len(names) <= CAP + 1, (fam, sorted(names))
    assert watcher.max_causes <= CAP + 1
    # The set filled up: the jobs past it are counted in "other".
    names = causes(last, "spiketrace_cause_page_faults_total")
    assert len(names) == CAP + 1, sorted(names)
    assert sum(1 for c in names if c.startswith("true[")) >= 1, sorted(names)
    assert value(last, "spiketrace_cause_page_faults_total", cause="other") > 0
    n_prom = prom.scalar('count(count by (cause) '
                         '(last_over_time(spiketrace_cause_page_faults_total[10m])))')
    assert n_prom <= CAP + 1, n_prom
    assert_no_counter_resets(prom)
    stop_serve(st)
