# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""One recording of the four scenarios (shortened), every report format read
back: the formats must agree with each other and with what the generators
say they did. Recorded once for the module (about 25 s)."""
import gzip
import json
import os
import re
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest

from conftest import cgroup2_root

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "build" / "tools"
_REC = {}


def last_json(cmd, timeout=120, cgroup=None):
    """Runs a generator (in a cgroup2 group of its own when given, entered
    before exec as a service manager does); returns its last JSON line."""
    pre = None
    if cgroup:
        os.makedirs(cgroup, exist_ok=True)

        def pre():
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                         preexec_fn=pre)
    assert res.returncode == 0, (cmd, res.stdout[-2000:], res.stderr[-2000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def record_scenarios(start_spiketrace, run_spiketrace, tmp):
    tag = os.getpid()
    cg2 = cgroup2_root()
    rec = tmp / "scenarios.rec"
    st = start_spiketrace(["record", "-d", 120, "-o", rec, "-F", 199])
    made = {}
    made["cron"] = last_json([TOOLS / "st-cronjob", "--cgroup", f"st-rep-cron-{tag}",
                              "--mem-limit", 256, "--alloc-mb", 200, "--step-mb", 16,
                              "--step-ms", 50, "--hold-ms", 1500, "--distractor-ms", 2500,
                              "--download-mb", 100])
    made["tls"] = last_json([TOOLS / "st-tlsstorm", "--port", 14493, "--full", 300,
                             "--clients", 2], cgroup=f"{cg2}/st-rep-tls-{tag}")
    made["noisy"] = last_json([TOOLS / "st-noisy", "-n", 4, "-d", 2, "--pre", 0.5,
                               "--cgroup", f"st-rep-noisy-{tag}",
                               "--service-cgroup", f"st-rep-svc-{tag}"])
    made["reset"] = last_json([TOOLS / "st-idlereset", "--timeout-s", 1, "--idle", "0.3,2",
                               "--family", "4", "--parallel", "--prefix", f"strep{tag % 1000}"],
                           cgroup=f"{cg2}/st-rep-net-{tag}")
    time.sleep(1)
    st.send_signal(signal.SIGINT)
    res = st.finish(60)
    assert res.returncode == 0, res
    for name in ("tls", "net"):
        os.rmdir(f"{cg2}/st-rep-{name}-{tag}")
    out = {"rec": rec, "made": made, "tag": tag, "tmp": tmp}
    for fmt in ("json", "text", "folded", "html", "perfetto"):
        r = run_spiketrace(["report", rec, "--format", fmt])
        assert r.returncode == 0, r
        out[fmt] = r.stdout
    out["doc"] = json.loads(out["json"])
    r = run_spiketrace(["report", rec, "--format", "pprof", "-o", tmp / "cpu.pb.gz"])
    assert r.returncode == 0, r
    return out


@pytest.fixture
def rep(start_spiketrace, run_spiketrace, tmp_path_factory):
    if not _REC:
        _REC.update(record_scenarios(start_spiketrace, run_spiketrace,
                                     tmp_path_factory.mktemp("scenarios")))
    return _REC


def folded_total(text):
    return sum(int(line.rpartition(" ")[2]) for line in text.splitlines())


def pprof_totals(path):
    """(samples, cpu ns) summed over the samples of a gzipped profile.proto,
    decoded here with a minimal protobuf reader (Profile.sample = 2,
    Sample.value = 2 packed)."""
    data = gzip.open(path).read()

    def varint(b, i):
        v = s = 0
        while True:
            c = b[i]
            i += 1
            v |= (c & 0x7F) << s
            s += 7
            if c < 0x80:
                return v, i

    def fields(b):
        i = 0
        while i < len(b):
            key, i = varint(b, i)
            f, wt = key >> 3, key & 7
            if wt == 0:
                v, i = varint(b, i)
            elif wt == 2:
                n, i = varint(b, i)
                v, i = b[i:i + n], i + n
            else:
                raise AssertionError(f"wire type {wt}")
            yield f, wt, v

    samples = cpu = 0
    for f, wt, v in fields(data):
        if f != 2 or wt != 2:
            continue
        for g, gwt, gv in fields(v):
            if g == 2 and gwt == 2:
                vals, j = [], 0
                while j < len(gv):
                    x, j = varint(gv, j)
                    vals.append(x)
                samples += vals[0]
                cpu += vals[1]
    return samples, cpu


def test_cpu_seconds_agree_in_json_folded_and_pprof(rep):
    doc = rep["doc"]
    period = doc["cpu"]["period_ns"]
    total = folded_total(rep["folded"])
    assert total == doc["cpu"]["profiled_samples"] > 0
    assert pprof_totals(rep["tmp"] / "cpu.pb.gz") == (total, total * period)
    by_cause = defaultdict(int)
    for line in rep["folded"].splitlines():
        by_cause[line.split(";", 1)[0]] += int(line.rpartition(" ")[2])
    for c in doc["causes"]:
        assert abs(c["cpu_s"] - by_cause.get(c["name"], 0) * period / 1e9) < 1e-6, c
        assert abs(c["cpu_s"] - sum(p["cpu_s"] for p in doc["processes"]
                                    if p["cause"] == c["name"])) < 1e-3, c
    # The text report's CPU-S column says the same (2 decimals).
    for c in doc["causes"][:3]:
        row = [ln for ln in rep["text"].splitlines() if c["name"][:30] in ln and "%" not in ln]
        assert any(f"{c['cpu_s']:.2f}" in ln for ln in row), (c["name"], row)


def test_the_oom_kill_is_the_same_everywhere(rep):
    """Every OOM kill the generator saw (one here; the memcg killer of a
    cgroup2-only kernel may take two), named alike in every format."""
    doc, made = rep["doc"], rep["made"]["cron"]
    victims = sorted(made["oom_victims"])
    assert victims, made
    kills = doc["oom_kills"]
    assert sorted(k["victim_pid"] for k in kills) == victims
    assert {k["cause"] for k in kills} == {f"st-rep-cron-{rep['tag']}"}
    marks = [m for m in doc["timeline"]["marks"] if m["kind"] == "oom_kill"]
    assert sorted(m["pid"] for m in marks) == victims
    for victim in victims:
        assert re.search(rf"\[{victim}\]", rep["text"]), "the text report names the victim"
        assert f"{victim}" in rep["html"] and "oom" in rep["html"].lower()
    trace = json.loads(rep["perfetto"])["traceEvents"]
    ooms = [e for e in trace if e["ph"] == "i" and e["name"].startswith("OOM kill")]
    assert sorted(e["tid"] for e in ooms) == victims, ooms
    when = {k["victim_pid"]: k["time_s"] for k in kills}
    for e in ooms:
        assert abs(e["ts"] / 1e6 - when[e["tid"]]) < 1e-3, (e, when)


def test_each_scenario_is_in_the_report(rep):
    doc, made, tag = rep["doc"], rep["made"], rep["tag"]
    names = [c["name"] for c in doc["causes"]]
    assert names[0] == f"st-rep-cron-{tag}", names[:5]
    noisy = next(c for c in doc["causes"] if c["name"] == f"st-rep-noisy-{tag}")
    assert noisy["max_concurrency"] == made["noisy"]["workers"]
    worker = next(p for p in doc["tls"]["processes"]
                  if p["pid"] == made["tls"]["worker_pids"][0])
    assert worker["handshakes"] == made["tls"]["handshakes"]
    resets = {(r["laddr"], r["lport"]) for r in doc["tcp"]["resets"]
              if r["direction"] == "received"}
    want = {(c["laddr"], c["lport"]) for c in made["reset"]["connections"]
            if c["outcome"] == "reset"}
    assert want and want <= resets


def test_text_report_fits_100_columns_without_a_tty_or_colour(rep, run_spiketrace):
    r = run_spiketrace(["report", rep["rec"]], env=dict(os.environ, NO_COLOR="1"))
    assert r.returncode == 0, r
    assert "\x1b" not in r.stdout
    for n, line in enumerate(r.stdout.splitlines(), 1):
        assert len(line) <= 100, (n, len(line), line)
    for section in ("TOP CAUSES", "OOM KILLS", "CPU", "TLS", "TCP", "TIMELINE"):
        assert section in r.stdout, section


def test_each_scenario_culprit_tops_its_window(rep):
    """The window covering most of each generator's run names its culprit."""
    doc, tag = rep["doc"], rep["tag"]
    marks = doc["timeline"]["marks"]
    for tool, culprit in (("st-cronjob", "st-rep-cron"), ("st-tlsstorm", "st-rep-tls"),
                          ("st-noisy", "st-rep-noisy"), ("st-idlereset", "st-rep-net")):
        ex = next(m for m in marks if m["kind"] == "exec" and m["detail"] == tool)
        end = next(m["time_s"] for m in marks if m["kind"] == "exit" and m["pid"] == ex["pid"])

        def overlap(w):
            return min(w["end_s"], end) - max(w["start_s"], ex["time_s"])
        wins = [w for w in doc["timeline"]["windows"] if overlap(w) > 0]
        assert wins, (tool, doc["timeline"]["windows"])
        assert max(wins, key=overlap)["cause"] == f"{culprit}-{tag}", (tool, wins)
        # The text verdict says it too.
        assert f"{culprit}-{tag}" in rep["text"].split("TOP CAUSES")[0], tool


def test_cpu_in_perfetto_counters_matches_json(rep):
    """The per-cause CPU counter of the trace adds up to the cause's cpu_s."""
    doc = rep["doc"]
    trace = json.loads(rep["perfetto"])["traceEvents"]
    names = {e["pid"]: e["args"]["name"] for e in trace
             if e["ph"] == "M" and e["name"] == "process_name"}
    iv = doc["timeline"]["interval_s"]
    cpu = defaultdict(float)
    for e in trace:
        if e["ph"] == "C" and e["name"].startswith("cpu") and e["pid"] in names:
            cpu[names[e["pid"]]] += sum(e["args"].values()) * iv
    for c in doc["causes"][:5]:
        if c["cpu_s"] > 0.05:
            assert abs(cpu[c["name"]] - c["cpu_s"]) <= 0.01 + 1e-3 * c["cpu_s"], (c, cpu)


def test_cron_job_pulled_the_download(rep):
    """Scenario 1's first symptom: the job that filled memory also pulled
    the bytes; json, text and the Prometheus-facing totals agree."""
    doc, made = rep["doc"], rep["made"]["cron"]
    job = [c for c in doc["causes"] if c["cgroup"] == made["cgroup_v2"]]
    assert len(job) == 1, [c["cgroup"] for c in doc["causes"]]
    want = made["download_bytes"]
    assert want == 100 * 1024 * 1024, made
    assert abs(job[0]["net_rx_bytes"] - want) <= 0.02 * want, job[0]
    updater = [p for p in doc["processes"] if p["pid"] == made["download_pid"]]
    assert updater and abs(updater[0]["net_rx_bytes"] - want) <= 0.02 * want, updater
    mirror = [p for p in doc["processes"] if p["pid"] == made["mirror_pid"]]
    assert mirror and abs(mirror[0]["net_tx_bytes"] - want) <= 0.02 * want, mirror
    series = [s for s in doc["timeline"]["series"]
              if s["cause"] == job[0]["name"] and s["metric"] == "net_rx_bytes"]
    assert series and abs(sum(series[0]["values"]) - job[0]["net_rx_bytes"]) < 1, series


def test_json_has_the_cli_md_keys(rep):
    """The keys ../shared/CLI.md promises."""
    doc = rep["doc"]
    for k in ("version", "duration_s", "lost_events", "causes", "processes", "oom_kills", "tls",
              "tcp", "timeline"):
        assert k in doc, k
    for c in doc["causes"]:
        for k in ("name", "cgroup", "root_pid", "root_comm", "pids", "cpu_s", "page_faults",
                  "rss_peak_bytes", "rss_growth_bytes", "execs", "oom_kills", "max_concurrency",
                  "run_delay_s", "net_rx_bytes", "net_tx_bytes"):
            assert k in c, (k, c["name"])
    for p in doc["processes"]:
        for k in ("pid", "ppid", "comm", "cgroup", "cause", "start_s", "exit_s", "exit_code",
                  "cpu_s", "page_faults", "rss_peak_bytes", "oom_killed"):
            assert k in p, (k, p["pid"])
    for k in ("time_s", "victim_pid", "victim_comm", "memcg", "total_vm_bytes",
              "anon_rss_bytes", "file_rss_bytes", "shmem_rss_bytes", "trigger_pid",
              "trigger_comm"):
        assert k in doc["oom_kills"][0], k
    t = doc["tls"]["processes"][0]
    for k in ("pid", "comm", "lib", "handshakes", "full", "resumed", "failed", "renegotiations",
              "latency_us", "cpu_s", "cpu_by_phase"):
        assert k in t, k
    assert set(t["cpu_by_phase"]) >= {"key_exchange", "signature", "rng", "other"}
    assert set(doc["tcp"]) >= {"transitions", "by_remote", "resets"}
    metrics = {s["metric"] for s in doc["timeline"]["series"]}
    assert metrics >= {"cpu_s", "page_faults", "rss_bytes", "tls_handshakes", "tcp_resets",
                       "net_rx_bytes", "net_tx_bytes"}
    kinds = {m["kind"] for m in doc["timeline"]["marks"]}
    assert kinds >= {"exec", "exit", "oom_kill", "reset"}
