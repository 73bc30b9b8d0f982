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

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "build" / "tools"
_REC = {}


def last_json(cmd, timeout=120):
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, (cmd, res.stdout[-2000:], res.stderr[-2000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def record_scenarios(start_spiketrace, run_spiketrace, tmp):
    tag = os.getpid()
    rec = tmp / "scenarios.rec"
    st = start_spiketrace(["record", "-d", 120, "-o", rec, "-F", 199])
    made = {}
    made["cron"] = last_json([TOOLS / "st-cronjob", "--cgroup", f"st-rep-cron-{tag}",
                              "--mem-limit", 256, "--alloc-mb", 200, "--step-mb", 16,
                              "--step-ms", 50, "--hold-ms", 1500, "--distractor-ms", 2500])
    made["tls"] = last_json([TOOLS / "st-tlsstorm", "--port", 14493, "--full", 300,
                             "--clients", 2])
    made["noisy"] = last_json([TOOLS / "st-noisy", "-n", 4, "-d", 2, "--pre", 0.5,
                               "--cgroup", f"st-rep-noisy-{tag}",
                               "--service-cgroup", f"st-rep-svc-{tag}"])
    made["reset"] = last_json([TOOLS / "st-idlereset", "--timeout-s", 1, "--idle", "0.3,2",
                               "--family", "4", "--parallel", "--prefix", f"strep{tag % 1000}"])
    time.sleep(1)
    st.send_signal(signal.SIGINT)
    res = st.finish(60)
    assert res.returncode == 0, res
    out = {"rec": rec, "made": made, "tag": tag, "tmp": tmp}
    for fmt in ("json", "text", "folded", "html"):
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
    doc, made = rep["doc"], rep["made"]["cron"]
    assert len(made["oom_victims"]) == 1
    victim = made["oom_victims"][0]
    kills = doc["oom_kills"]
    assert [k["victim_pid"] for k in kills] == [victim]
    assert kills[0]["cause"] == f"st-rep-cron-{rep['tag']}"
    marks = [m for m in doc["timeline"]["marks"] if m["kind"] == "oom_kill"]
    assert [m["pid"] for m in marks] == [victim]
    assert re.search(rf"\[{victim}\]", rep["text"]), "the text report names the victim"
    assert f"{victim}" in rep["html"] and "oom" in rep["html"].lower()


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
