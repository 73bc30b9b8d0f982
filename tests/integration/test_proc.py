# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The proc concern and the spine (streaming, record, report, errors, signals).

Every number asserted here is one the test knows itself: the pids, names,
cgroup, exit codes and hold time of the tree st-cronjob replays, or the
pids of processes the test started.
"""

import itertools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import json_lines

HOLD_MS = 1500
EXIT_CODE = 3  # what the level-4 "daemons" exit with
DURATION_S = 8
FINISH_TIMEOUT_S = DURATION_S + 20
_serial = itertools.count()


# ---- helpers -------------------------------------------------------------


def unique_cgroup(tag):
    return f"st-it-{tag}-{os.getpid()}-{next(_serial)}"


def runner_comm():
    """comm of this test process: an ancestor of everything it starts."""
    return Path("/proc/self/comm").read_text().strip()


def of_type(events, kind, pid=None):
    return [e for e in events if e["type"] == kind and (pid is None or e.get("pid") == pid)]


def is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def chain(job, proc):
    """Comms from level 1 down to proc, following the ppids st-cronjob saw."""
    by_pid = {p["pid"]: p for p in job["processes"]}
    names = [proc["comm"]]
    while proc["ppid"] in by_pid:
        proc = by_pid[proc["ppid"]]
        names.insert(0, proc["comm"])
    return names


def cronjob_args(cgroup, names):
    return [
        "--cgroup", cgroup,
        "--names", ",".join(names),
        "--hold-ms", HOLD_MS,
        "--exit-code", EXIT_CODE,
    ]


def check_job(job, cgroup, names):
    assert job["cgroup_name"] == cgroup
    assert sorted(p["comm"] for p in job["processes"]) == sorted(names)
    assert [p["level"] for p in job["processes"]] == [1, 2, 3, 4, 4]


def expected_exit(proc):
    return EXIT_CODE if proc["level"] == 4 else 0


def start_true():
    """Starts /bin/true, waits for it, returns its pid."""
    p = subprocess.Popen(["/bin/true"])
    p.wait(timeout=10)
    return p.pid


def recorded_exec_pids(report):
    """Pids the report shows as exec'd: timeline marks or started processes."""
    pids = {m["pid"] for m in report["timeline"]["marks"] if m["kind"] == "exec"}
    pids |= {p["pid"] for p in report["processes"] if p.get("start_s") is not None}
    return pids


def stop(proc):
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


# ---- a. streaming --------------------------------------------------------


def test_proc_stream_shows_the_tree_with_lineage(start_spiketrace, run_cronjob, cronjob_bin):
    names = ["cron", "run-parts", "apt-update", "pkgd", "fwupd"]
    cgroup = unique_cgroup("stream")
    st = start_spiketrace(["proc", "--json", "-d", DURATION_S])
    job = run_cronjob(cronjob_args(cgroup, names))
    check_job(job, cgroup, names)
    res = st.finish(FINISH_TIMEOUT_S)
    assert res.returncode == 0, res
    events = json_lines(res.stdout)

    # The controller (st-cronjob, started by this test) heads the tree.
    ancestors = [runner_comm(), Path(cronjob_bin).name[:15]]
    for proc in job["processes"]:
        name, pid = proc["comm"], proc["pid"]
        execs = of_type(events, "exec", pid)
        assert len(execs) == 1, f"{name} ({pid}): exec lines {execs}"
        e = execs[0]
        assert e["comm"] == name
        assert e["ppid"] == proc["ppid"]
        assert isinstance(e["args"], list) and e["args"][:1] == [name], e
        assert e["filename"].endswith("/" + name), e
        assert e["cgroup"].endswith("/" + cgroup), e
        want = ancestors + chain(job, proc)
        assert e["lineage"][-len(want) :] == want, f"{name}: lineage {e['lineage']}"

        exits = of_type(events, "exit", pid)
        assert len(exits) == 1, f"{name} ({pid}): exit lines {exits}"
        x = exits[0]
        assert x["comm"] == name
        assert x["exit_code"] == expected_exit(proc), x
        assert x["duration_ms"] >= HOLD_MS * 0.9, x


# ---- b. record and report ------------------------------------------------


def test_record_report_explains_the_job(start_spiketrace, run_spiketrace, run_cronjob, tmp_path):
    names = ["crond", "run-parts", "apt-daily", "packagekitd", "fwupd"]
    cgroup = unique_cgroup("rec")
    rec = tmp_path / "rec.st"
    # Proc attribution only: the tree does no memory work to rank by.
    st = start_spiketrace(["record", "--only", "proc", "-d", DURATION_S, "-o", rec])
    job = run_cronjob(cronjob_args(cgroup, names))
    check_job(job, cgroup, names)
    res = st.finish(FINISH_TIMEOUT_S)
    assert res.returncode == 0, res

    rep = run_spiketrace(["report", rec, "--format", "json"])
    assert rep.returncode == 0, rep
    report = json.loads(rep.stdout)
    assert report["version"] == 1
    assert abs(report["duration_s"] - DURATION_S) <= 2, report["duration_s"]
    assert report["lost_events"] == 0

    tree = {p["pid"]: p for p in job["processes"]}
    level1 = next(p for p in job["processes"] if p["level"] == 1)
    jobs = [c for c in report["causes"] if set(tree) <= set(c["pids"])]
    assert len(jobs) == 1, f"causes holding the tree: {jobs}"
    cause = jobs[0]
    assert cause["name"] == cgroup
    assert cause["cgroup"].endswith("/" + cgroup), cause
    assert cause["root_pid"] == level1["pid"]
    assert cause["root_comm"] == names[0]
    assert cause["execs"] == 5
    assert cause["max_concurrency"] == 5, "all five hold at the same time"
    # Ranking: causes come sorted by score, and the tree outranks the job
    # that ran it (the test harness, with the st-cronjob controller: 1 exec).
    # Other work on the box may legitimately rank higher, so no causes[0] here;
    # make demo checks causes[0] on a quiet replay.
    scores = [c["score"] for c in report["causes"]]
    assert scores == sorted(scores, reverse=True), scores
    names_ranked = [c["name"] for c in report["causes"]]
    harness = [i for i, c in enumerate(report["causes"]) if job["controller_pid"] in c["pids"]]
    assert len(harness) == 1, names_ranked
    assert names_ranked.index(cgroup) < harness[0], names_ranked

    for pid, proc in tree.items():
        rows = [p for p in report["processes"] if p["pid"] == pid]
        assert len(rows) == 1, f"{proc['comm']} ({pid}): {rows}"
        row = rows[0]
        assert row["ppid"] == proc["ppid"]
        assert row["comm"] == proc["comm"]
        assert row["cause"] == cause["name"]
        assert row["exit_code"] == expected_exit(proc), row
        assert is_number(row["start_s"]) and is_number(row["exit_s"]), row
        assert row["exit_s"] - row["start_s"] >= HOLD_MS / 1000 * 0.9, row

    marks = report["timeline"]["marks"]
    for pid, proc in tree.items():
        for kind in ("exec", "exit"):
            found = [m for m in marks if m["kind"] == kind and m["pid"] == pid]
            assert found, f"no {kind} mark for {proc['comm']} ({pid})"
            for m in found:
                assert 0 <= m["time_s"] <= report["duration_s"], m

    text = run_spiketrace(["report", rec, "--format", "text"])
    assert text.returncode == 0, text
    lines = text.stdout.splitlines()
    assert any(cgroup in line for line in lines[:15]), "\n".join(lines[:15])
    ansi = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
    for line in lines:
        width = len(ansi.sub("", line).expandtabs(8))
        assert width <= 100, f"{width} columns: {line!r}"


# ---- c. processes older than spiketrace ----------------------------------


def test_lineage_of_processes_older_than_spiketrace(start_spiketrace):
    # sh exists before spiketrace starts; it execs /bin/echo only once told to
    # (echo is not sh's last command, so sh forks for it instead of exec'ing).
    sh = subprocess.Popen(
        ["/bin/sh", "-c", "read go; /bin/echo seeded; exit 0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    try:
        st = start_spiketrace(["proc", "--json", "-d", DURATION_S])
        sh.stdin.write(b"go\n")
        sh.stdin.close()
        assert sh.wait(timeout=10) == 0
        res = st.finish(FINISH_TIMEOUT_S)
    finally:
        stop(sh)
    assert res.returncode == 0, res
    execs = [e for e in of_type(json_lines(res.stdout), "exec") if e["ppid"] == sh.pid]
    assert len(execs) == 1 and execs[0]["comm"] == "echo", execs
    lineage = execs[0]["lineage"]
    # sh and this test runner were seeded from /proc, not seen exec'ing.
    assert lineage[-3:] == [runner_comm(), "sh", "echo"], lineage


# ---- d. -p PID -----------------------------------------------------------


def test_pid_filter_keeps_only_the_subtree(start_spiketrace):
    target = subprocess.Popen(
        ["/bin/sh", "-c", "read go; /bin/true; /bin/true; exit 0"],
        stdin=subprocess.PIPE,
    )
    try:
        st = start_spiketrace(["proc", "--json", "-d", DURATION_S, "-p", target.pid])
        unrelated = [start_true() for _ in range(3)]
        target.stdin.write(b"go\n")
        target.stdin.close()
        assert target.wait(timeout=10) == 0
        unrelated += [start_true() for _ in range(2)]
        res = st.finish(FINISH_TIMEOUT_S)
    finally:
        stop(target)
    assert res.returncode == 0, res
    events = json_lines(res.stdout)

    leaked = [e for e in events if e.get("pid") in unrelated]
    assert not leaked, f"processes outside -p {target.pid} reported: {leaked}"
    execs = of_type(events, "exec")
    children = [e for e in execs if e["ppid"] == target.pid and e["comm"] == "true"]
    assert len(children) == 2, execs
    subtree = {target.pid} | {e["pid"] for e in execs}
    assert all(e["ppid"] in subtree for e in execs), execs


# ---- e. errors -----------------------------------------------------------


def assert_one_line_error(res, code):
    assert res.returncode == code, res
    assert res.stdout == "", f"stdout garbage: {res.stdout[:500]!r}"
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"want one stderr line: {res.stderr!r}"
    return lines[0]


@pytest.mark.parametrize(
    "args, code",
    [
        (["record", "--bogus"], 2),
        (["proc", "-d", "-1"], 2),
        (["proc", "-d", "abc"], 2),
        (["proc", "-p", "abc"], 2),
        (["nosuchcmd"], 2),
        (["report", "/nonexistent"], 1),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_bad_input_fails_with_one_line(run_spiketrace, args, code):
    assert_one_line_error(run_spiketrace(args), code)


def test_missing_pid_is_named(run_spiketrace):
    pid = "999999999"  # above any pid_max (at most 4194304)
    msg = assert_one_line_error(run_spiketrace(["proc", "-p", pid]), 1)
    assert pid in msg


def test_report_rejects_a_file_that_is_not_a_recording(run_spiketrace, tmp_path):
    junk = tmp_path / "junk.st"
    junk.write_bytes(random.Random(1234).randbytes(8192))
    msg = assert_one_line_error(run_spiketrace(["report", junk, "--format", "json"]), 1)
    assert "not a spiketrace recording" in msg.lower()


def test_non_root_is_told_what_it_needs(run_spiketrace, spiketrace_bin):
    # nobody cannot reach pytest's tmp_path (mode 0700): use a world-readable copy.
    tmp = tempfile.mkdtemp(prefix="st-nonroot-")
    try:
        os.chmod(tmp, 0o755)
        binary = Path(tmp) / "spiketrace"
        shutil.copy(spiketrace_bin, binary)
        os.chmod(binary, 0o755)
        setpriv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
        res = run_spiketrace(["proc", "-d", "1"], prefix=setpriv, binary=binary, cwd="/")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    msg = assert_one_line_error(res, 1)
    assert "root" in msg.lower() or "cap_bpf" in msg.lower(), msg


def test_version(run_spiketrace):
    res = run_spiketrace(["--version"])
    assert res.returncode == 0, res
    first = res.stdout.splitlines()[0] if res.stdout.strip() else ""
    assert "spiketrace" in first and re.search(r"\d", first), res


# ---- f. signals ----------------------------------------------------------


def test_sigint_closes_the_recording(start_spiketrace, run_spiketrace, tmp_path):
    rec = tmp_path / "r.st"
    st = start_spiketrace(["record", "-o", rec])
    pids = [start_true() for _ in range(3)]
    time.sleep(0.5)
    st.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    res = st.finish(timeout=10)
    assert time.monotonic() - t0 <= 5, "SIGINT must stop the recorder within 5 s"
    assert res.returncode == 0, res

    rep = run_spiketrace(["report", rec, "--format", "json"])
    assert rep.returncode == 0, rep
    missing = set(pids) - recorded_exec_pids(json.loads(rep.stdout))
    assert not missing, f"/bin/true execs missing from the report: {missing}"


def test_sigkill_leaves_a_readable_recording(start_spiketrace, run_spiketrace, tmp_path):
    rec = tmp_path / "r.st"
    st = start_spiketrace(["record", "-o", rec])
    pids = [start_true() for _ in range(3)]
    # From the last run's end, not a fixed time: a slow guest took over 0.9 s
    # for the three. Then every exec is > 1.5 s old: flushed (every <= 1 s).
    time.sleep(1.6)
    st.send_signal(signal.SIGKILL)
    # The kernel detaches every uprobe and perf event of the killed process
    # before it is gone: seconds, more than 10 in a PREEMPT_RT guest under TCG.
    st.finish(timeout=120)

    rep = run_spiketrace(["report", rec, "--format", "json"])
    assert rep.returncode == 0, rep
    assert "cut short" in rep.stderr, rep.stderr
    missing = set(pids) - recorded_exec_pids(json.loads(rep.stdout))
    assert not missing, f"/bin/true execs missing from the report: {missing}"
