# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Overload: a ring buffer too small for an event flood, a stack map too small,
and a flight-recorder soak compressed into a minute."""

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request

from conftest import Running, free_port, report_json, rng, run, vm_rss_kb

SPAWNERS = 4
PER_SPAWNER = 400


FLOOD_COMM = "st-rbflood"  # a name nothing else on the box runs


def flood_exe():
    d = f"/tmp/st-rb-{os.getpid()}"
    if not os.path.isdir(d):
        os.makedirs(d)
        atexit.register(shutil.rmtree, d, True)
    path = f"{d}/{FLOOD_COMM}"
    if not os.path.exists(path):
        shutil.copy("/bin/true", path)
    return path


def flood():
    """SPAWNERS shells, each running PER_SPAWNER copies of true as fast as it can."""
    loop = f"i=0; while [ $i -lt {PER_SPAWNER} ]; do {flood_exe()}; i=$((i+1)); done"
    procs = [subprocess.Popen(["/bin/sh", "-c", loop]) for _ in range(SPAWNERS)]
    for p in procs:
        assert p.wait(timeout=180) == 0
    return SPAWNERS * PER_SPAWNER


def faultstorm(tool, mb):
    out = subprocess.run([str(tool("faultstorm")), "--mb", str(mb)], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    return json.loads(out)


def test_small_ringbuf_flood_counts_drops_everywhere(st, tool, ledger, tmp_path):
    """4 KiB ring buffer, 1600 execs in a burst and a 256 MiB fault storm:
    events are dropped, counted in BPF, shown in every report format; every
    exec missing from the report is accounted for by lost_events; the page
    faults, counted in kernel maps, stay exact."""
    rec = tmp_path / "flood.rec"
    p = Running([st, "record", "--only", "proc,mem", "--ringbuf-kb", "4", "-o", rec]).wait_ready()
    storm = None
    try:
        import threading
        box = {}
        t = threading.Thread(target=lambda: box.update(storm=faultstorm(tool, 256)))
        t.start()
        spawned = flood()
        t.join(120)
        storm = box["storm"]
        time.sleep(1.5)
    finally:
        p.proc.send_signal(signal.SIGINT)
    res = p.finish(60)
    assert res.returncode == 0, res
    rep, _ = report_json(st, rec)
    lost = rep["lost_events"]
    seen = sum(1 for x in rep["processes"] if x["comm"] == FLOOD_COMM)
    assert lost > 0, "the flood did not overflow a 4 KiB ring buffer"
    assert seen + lost >= spawned, (seen, lost, spawned)
    # Page faults are summed in a kernel map, not sent through the ring buffer.
    ours = next(x for x in rep["processes"] if x["pid"] == storm["pid"])
    assert abs(ours["page_faults"] - storm["pages_touched"]) <= 0.01 * storm["pages_touched"], \
        (ours["page_faults"], storm)
    # The same count in the other formats.
    text = run([st, "report", rec]).stdout
    assert f"{lost} lost events" in text, text[:400]
    html = run([st, "report", rec, "--format", "html"]).stdout
    assert f'"lost_events":{lost}' in html.replace(" ", ""), "html"
    perf = json.loads(run([st, "report", rec, "--format", "perfetto"]).stdout)
    assert f'"lost_events": {lost}' in json.dumps(perf), "perfetto"
    ledger.add("ringbuf-flood", events_made=spawned, execs_seen=seen, lost_counted=lost,
               faults_made=storm["pages_touched"], faults_counted=ours["page_faults"])


def test_small_ringbuf_stream_says_lost(st, ledger):
    """`spiketrace proc --json` with a 4 KiB ring buffer under a flood: a
    {"type": "lost"} line, and exec lines + lost cover every exec."""
    p = Running([st, "proc", "--json", "--ringbuf-kb", "4"]).wait_ready()
    try:
        spawned = flood()
        time.sleep(1.5)
    finally:
        p.proc.send_signal(signal.SIGINT)
    res = p.finish(60)
    assert res.returncode == 0, res
    lines = [json.loads(ln) for ln in res.stdout.splitlines()]
    lost = [x for x in lines if x["type"] == "lost"]
    execs = [x for x in lines if x["type"] == "exec" and x["comm"] == FLOOD_COMM]
    assert lost, "no lost line"
    total = lost[-1]["lost_events"]
    assert sum(x["new"] for x in lost) == total
    assert len(execs) + total >= spawned, (len(execs), total, spawned)
    ledger.add("ringbuf-stream", events_made=spawned, execs_seen=len(execs), lost_counted=total)


def test_small_ringbuf_serve_metric(st, ledger):
    port = free_port()
    p = Running([st, "serve", "--only", "proc", "--ringbuf-kb", "4", "--listen",
                 f"127.0.0.1:{port}"]).wait_ready()
    try:
        flood()
        time.sleep(2.5)  # one update of the metrics after the flood
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    finally:
        p.proc.send_signal(signal.SIGINT)
    assert p.finish(60).returncode == 0
    m = re.search(rb"^spiketrace_lost_events_total (\d+)", body, re.M)
    assert m and int(m.group(1)) > 0, body[-500:]
    ledger.add("ringbuf-serve", lost_counted=int(m.group(1)))


def test_stack_map_full(st, tool, ledger, tmp_path):
    """A 16-entry stack map (SPIKETRACE_MAP_ENTRIES, for tests): stacks that
    do not fit are counted in lost_stack_samples and their samples still
    count as CPU time (st-cpuburn's cpu_s within 10 % of its own rusage)."""
    rec = tmp_path / "stacks.rec"
    env = dict(os.environ, SPIKETRACE_MAP_ENTRIES="stacks=16")
    p = Running([st, "record", "--only", "proc,cpu", "-F", "499", "-o", rec], env=env)
    p.wait_ready()
    burn = subprocess.run([str(tool("cpuburn")), "-d", "3"], capture_output=True, text=True,
                          timeout=60)
    # Other work with other stacks, to overflow 16 entries for sure.
    for _ in range(20):
        subprocess.run(["/bin/sh", "-c", "ls -R /usr/lib >/dev/null 2>&1 | true"], timeout=30)
    time.sleep(1.2)
    p.proc.send_signal(signal.SIGINT)
    assert p.finish(60).returncode == 0
    done = json.loads(burn.stdout.splitlines()[-1])
    rep, _ = report_json(st, rec)
    lost = rep["cpu"]["lost_stack_samples"]
    assert lost > 0, rep["cpu"]
    ours = next(x for x in rep["processes"] if x["pid"] == done["pid"])
    assert abs(ours["cpu_s"] - done["cpu_s"]) <= 0.1 * done["cpu_s"], (ours["cpu_s"], done)
    ledger.add("stackmap-full", lost_stack_samples=lost, cpu_s_counted=ours["cpu_s"],
               cpu_s_made=done["cpu_s"])


def test_flight_recorder_soak(st, tool, ledger, tmp_path):
    """An hour's churn pattern in 60 s: a 5 s flight window, process churn and
    page faults throughout, a trigger every ~12 s (seeded). The agent's RSS in
    the last 20 s stays within the first 20 s's peak x 1.3 + 4 MiB, and every
    dump is complete."""
    r = rng(30)
    out = tmp_path / "flight"
    out.mkdir()
    fire = tmp_path / "st-rbfire"
    shutil.copy("/bin/true", fire)
    p = Running([st, "record", "--flight", "5", "--trigger", "exec=st-rbfire", "-o", out])
    p.wait_ready()
    churn = subprocess.Popen(["/bin/sh", "-c", "while :; do /bin/true; done"])
    rss, fired = [], 0
    start = time.monotonic()
    next_fire = start + r.uniform(8, 14)
    try:
        while time.monotonic() - start < 60:
            time.sleep(1)
            rss.append(vm_rss_kb(p.proc.pid))
            if time.monotonic() >= next_fire:
                subprocess.run([str(fire)], check=True)
                fired += 1
                next_fire = time.monotonic() + r.uniform(10, 14)
            if len(rss) % 10 == 5:
                faultstorm(tool, 64)
        time.sleep(6)  # the last dump's 5 s after its trigger
    finally:
        churn.kill()
        churn.wait()
        p.proc.send_signal(signal.SIGINT)
    assert p.finish(60).returncode == 0
    first, last = max(rss[:20]), max(rss[-20:])
    assert last <= first * 1.3 + 4096, rss
    dumps = sorted(out.glob("*.rec"))
    assert len(dumps) >= fired - 1 and fired >= 3, (fired, dumps)
    for d in dumps:
        rep, _ = report_json(st, d)
        assert rep["complete"], d
    ledger.add("flight-soak", seconds=60, triggers=fired, dumps=len(dumps), rss_first_kb=first,
               rss_last_kb=last)
