"""Memory concern against real processes: the cron-like job that eats its
memory cgroup until the OOM killer fires, and a page-fault storm. Every
expected number comes from the generators themselves or the kernel's own
OOM report (dmesg)."""
import json
import os
import re
import signal
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAULTSTORM = REPO / "build" / "tools" / "st-faultstorm"
MIB = 1 << 20


def record_report(start_spiketrace, run_spiketrace, tmp_path, seconds, workload, only=None):
    """Records while workload() runs, then stops the recording with SIGINT:
    the workload's end, not a duration, bounds it (in a slow guest a fixed
    duration ran out before the OOM kill). seconds: what it takes on the host."""
    rec = tmp_path / "mem.rec"
    args = ["record", "-d", seconds * 10, "-o", rec]
    if only:
        args += ["--only", only]
    st = start_spiketrace(args)
    made = workload()
    st.send_signal(signal.SIGINT)
    res = st.finish(60)
    assert res.returncode == 0, res
    rep = run_spiketrace(["report", rec, "--format", "json"])
    assert rep.returncode == 0, rep
    return made, json.loads(rep.stdout)


def kernel_oom_report(pid):
    """anon/file/shmem rss in bytes from the kernel's 'Killed process' line."""
    out = subprocess.run(["dmesg"], capture_output=True, text=True, check=True).stdout
    pat = re.compile(r"Killed process %d \(.*?\) total-vm:(\d+)kB, anon-rss:(\d+)kB, "
                     r"file-rss:(\d+)kB, shmem-rss:(\d+)kB" % pid)
    hits = pat.findall(out)
    assert hits, f"no kernel OOM report for pid {pid} in dmesg"
    vm, anon, file, shmem = (int(x) * 1024 for x in hits[-1])
    return {"total_vm": vm, "anon": anon, "file": file, "shmem": shmem}


def cause_of(report, pid):
    hits = [c for c in report["causes"] if pid in c["pids"]]
    assert len(hits) == 1, hits
    return hits[0]


def test_oom_kill_in_a_memory_cgroup(start_spiketrace, run_spiketrace, run_cronjob, tmp_path):
    cgroup = f"st-it-oom-{os.getpid()}"
    args = ["--cgroup", cgroup, "--mem-limit", 256, "--alloc-mb", 200, "--step-mb", 16,
            "--step-ms", 50, "--hold-ms", 2500, "--distractor-ms", 4000]
    job, report = record_report(start_spiketrace, run_spiketrace, tmp_path, 12,
                                lambda: run_cronjob(args))
    assert report["lost_events"] == 0
    assert len(job["oom_victims"]) == 1, job
    victim = job["oom_victims"][0]

    # The job ranks first, the busy distractor below it.
    top = report["causes"][0]
    assert top["name"] == cgroup, [c["name"] for c in report["causes"][:5]]
    names = [c["name"] for c in report["causes"]]
    assert names.index(cause_of(report, job["distractor_pid"])["name"]) > 0
    assert top["oom_kills"] == 1
    touched = sum(p["pages_touched"] for p in job["processes"])
    assert top["page_faults"] >= touched, (top["page_faults"], touched)
    # Growth = most held at once minus what it held at start (nothing): at
    # least the surviving daemon's 200 MiB, at most the 256 MiB limit plus the
    # file pages (shared libraries) each process counts in its own RSS.
    assert 0.95 * 200 * MIB <= top["rss_growth_bytes"] <= 280 * MIB, top

    # Per process: the kernel's RSS peak against the process's own measure.
    procs = {p["pid"]: p for p in report["processes"]}
    for p in job["processes"]:
        ours = procs[p["pid"]]
        assert ours["page_faults"] >= p["pages_touched"], (p, ours)
        if p["pid"] == victim:
            # Killed mid-step: its last report predates the last pages.
            assert ours["oom_killed"] is True
            assert ours["rss_peak_bytes"] >= p["peak_rss_bytes"] * 0.9, (p, ours)
        elif p["pages_touched"] > 1000:
            assert abs(ours["rss_peak_bytes"] - p["peak_rss_bytes"]) <= 0.1 * p["peak_rss_bytes"], \
                (p, ours)
            assert ours["oom_killed"] is False

    # The kill in full, as the kernel itself reported it.
    assert len(report["oom_kills"]) == 1, report["oom_kills"]
    k = report["oom_kills"][0]
    assert k["victim_pid"] == victim
    assert k["victim_comm"] == next(p["comm"] for p in job["processes"] if p["pid"] == victim)
    assert k["memcg"].endswith("/" + cgroup), k
    assert k["cause"] == cgroup
    assert k["trigger_pid"] in {p["pid"] for p in job["processes"]}, k
    kern = kernel_oom_report(victim)
    for ours, theirs in (("anon_rss_bytes", "anon"), ("file_rss_bytes", "file"),
                         ("shmem_rss_bytes", "shmem"), ("total_vm_bytes", "total_vm")):
        assert abs(k[ours] - kern[theirs]) <= max(0.02 * kern[theirs], 64 * 1024), \
            (ours, k[ours], kern[theirs])
    marks = [m for m in report["timeline"]["marks"] if m["kind"] == "oom_kill"]
    assert [m["pid"] for m in marks] == [victim]
    assert 0 <= marks[0]["time_s"] <= report["duration_s"]

    # Timelines of the job: RSS rises to most of the limit, faults add up.
    series = {s["metric"]: s["values"] for s in report["timeline"]["series"]
              if s["cause"] == cgroup}
    assert max(series["rss_bytes"]) >= 128 * MIB, series["rss_bytes"]
    assert sum(series["page_faults"]) == top["page_faults"]


def test_job_rss_peak_matches_the_generator(start_spiketrace, run_spiketrace, run_cronjob,
                                            tmp_path):
    """No OOM: all five hold their memory at once, so the most the job held
    at once is the sum of the peaks each process measured itself."""
    cgroup = f"st-it-rss-{os.getpid()}"
    args = ["--cgroup", cgroup, "--mem-limit", 1024, "--alloc-mb", 96, "--step-mb", 32,
            "--step-ms", 50, "--hold-ms", 3000]
    job, report = record_report(start_spiketrace, run_spiketrace, tmp_path, 10,
                                lambda: run_cronjob(args))
    assert job["oom_victims"] == []
    cause = next(c for c in report["causes"] if c["name"] == cgroup)
    expect = job["job_peak_rss_bytes"]
    assert abs(cause["rss_peak_bytes"] - expect) <= 0.1 * expect, (cause["rss_peak_bytes"], expect)
    assert cause["oom_kills"] == 0
    assert report["oom_kills"] == []


def test_fault_storm_loses_no_counts(start_spiketrace, run_spiketrace, tmp_path):
    """1 GiB of fresh pages, each touched once: every fault counted (±1 %)."""
    def storm():
        out = subprocess.run([str(FAULTSTORM), "--mb", "1024"], capture_output=True, text=True,
                             check=True, timeout=60).stdout
        return json.loads(out)

    made, report = record_report(start_spiketrace, run_spiketrace, tmp_path, 8, storm,
                                 only="proc,mem")
    assert report["lost_events"] == 0
    assert made["pages_touched"] == 1024 * MIB // 4096
    ours = next(p for p in report["processes"] if p["pid"] == made["pid"])
    # Whole-process count: the storm plus its own start-up faults (exec, libc).
    assert abs(ours["page_faults"] - made["pages_touched"]) <= 0.01 * made["pages_touched"], \
        (ours["page_faults"], made)
    assert ours["page_faults"] >= made["minflt_delta"]


def test_mem_streams_the_oom_kill_live(start_spiketrace, run_cronjob):
    """`spiketrace mem --json`: the OOM kill as it happens and the job's row."""
    cgroup = f"st-it-memstream-{os.getpid()}"
    args = ["--cgroup", cgroup, "--mem-limit", 128, "--alloc-mb", 160, "--step-mb", 16,
            "--step-ms", 50, "--hold-ms", 2500]
    st = start_spiketrace(["mem", "--json", "-d", 9, "-i", 1])
    job = run_cronjob(args)
    res = st.finish(30)
    assert res.returncode == 0, res
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    ooms = [x for x in lines if x["type"] == "oom_kill"]
    assert sorted(x["victim_pid"] for x in ooms) == sorted(job["oom_victims"]), ooms
    assert ooms[0]["memcg"].endswith("/" + cgroup)
    rows = [x for x in lines if x["type"] == "mem" and x["cause"] == cgroup]
    assert rows, lines[:20]
    # At least the largest peak any of its processes measured for itself.
    own = max(p["peak_rss_bytes"] for p in job["processes"])
    assert max(r["rss_peak_bytes"] for r in rows) >= 0.9 * own, (rows[-1], own)
    assert max(r["oom_kills"] for r in rows) == len(job["oom_victims"])
