# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Shared pieces of the robustness matrix (docs/reliability.md).

The tests run the real binary on the real kernel as root (`sudo make test`),
with the Python standard library and pytest only. Every loop is bounded and
every random choice comes from a seeded RNG, so a failure replays.

Fixtures:
  st          path of build/spiketrace (env SPIKETRACE overrides)
  tool(name)  path of build/tools/st-NAME
  ledger      ledger.add(row, **counts): counts for docs/reliability.md, written
              to build/robustness/ledger.json at the end of the session
Helpers (from conftest import ...):
  run(args, timeout=30, **kw) -> Result   a finished command
  Running(args)                           a background command, pipes drained
  free_port(pair=False)                   a free port on 127.0.0.1 (tests/lib/sttest.py)
  one_error_line(res)                     asserts stderr is one "spiketrace: " line
  our_bpf_objects()                       progs/links/maps named like ours, uprobe lines
  small_recording(tmpdir)                 a real recording of a few seconds
"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
sys.path.insert(0, str(REPO / "tests" / "lib"))
import sttest  # noqa: E402
from sttest import Result, free_port  # noqa: E402,F401


@pytest.fixture(scope="session", autouse=True)
def require_root():
    """Fail (never skip) when not root: a skipped matrix looks like a pass."""
    if os.geteuid() != 0:
        pytest.fail("the robustness tests load BPF programs: run them as root "
                    "(sudo make test)", pytrace=False)


def _exe(path, how):
    path = Path(path)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{path} is missing or not executable: {how}", pytrace=False)
    return path


@pytest.fixture(scope="session")
def st():
    return _exe(os.environ.get("SPIKETRACE") or BUILD / "spiketrace", "build it with `make`")


@pytest.fixture(scope="session")
def tool():
    return lambda name: _exe(BUILD / "tools" / f"st-{name}", "`make` builds it from tools/")


def run(args, timeout=30, binary_out=False, **kw):
    args = [str(a) for a in args]
    try:
        cp = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True,
                            timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{' '.join(args)} took over {timeout} s; stderr: "
                    f"{(e.stderr or b'').decode(errors='replace')[-2000:]}", pytrace=False)
    out = cp.stdout if binary_out else cp.stdout.decode(errors="replace")
    return Result(args, cp.returncode, out, cp.stderr.decode(errors="replace"))


def one_error_line(res, rc=None):
    """The CLI contract: a failure is one line on stderr, and the exit code."""
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res
    assert lines[0].startswith("spiketrace: "), res
    assert "Segmentation" not in res.stderr and res.returncode >= 0, res
    if rc is not None:
        assert res.returncode == rc, res
    return lines[0]


_RUNNING = []


@pytest.fixture(autouse=True)
def _kill_leftovers():
    """Whatever a test started and did not stop (a failed assert) is killed."""
    yield
    while _RUNNING:
        _RUNNING.pop().kill()


class Running(sttest.Running):
    """sttest.Running, killed at the end of the test that started it if still
    running (a failed assert)."""

    def __init__(self, args, **kw):
        super().__init__(args, **kw)
        _RUNNING.append(self)


@pytest.fixture
def started():
    """started(args) -> Running; everything started is killed at teardown."""
    procs = []

    def start(args, ready=True, **kw):
        r = Running(args, **kw)
        procs.append(r)
        return r.wait_ready() if ready else r

    yield start
    for r in procs:
        r.kill()


class Ledger:
    def __init__(self):
        self.rows = {}

    def add(self, row, **counts):
        d = self.rows.setdefault(row, {})
        for k, v in counts.items():
            d[k] = d.get(k, 0) + v if isinstance(v, int) and not isinstance(v, bool) else v


@pytest.fixture(scope="session")
def ledger():
    led = Ledger()
    yield led
    out = BUILD / "robustness"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ledger.json").write_text(json.dumps(led.rows, indent=1, sort_keys=True) + "\n")


def rng(seed):
    return random.Random(seed)


# --- what we leave in the kernel ---------------------------------------------------------

OUR_PROG_PREFIXES = None


def _bpftool_json(*args):
    cp = subprocess.run(["bpftool", "-j", *args], capture_output=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    return json.loads(cp.stdout or b"[]")


def our_prog_names():
    """Every BPF program name our objects define (from the built .bpf.o files)."""
    global OUR_PROG_PREFIXES
    if OUR_PROG_PREFIXES is None:
        names = set()
        for o in (BUILD / "bpf").glob("*.bpf.o"):
            cp = subprocess.run(["bpftool", "-j", "btf", "dump", "file", str(o)],
                                capture_output=True, timeout=30)
            if cp.returncode:
                continue
            for t in json.loads(cp.stdout).get("types", []):
                if t.get("kind") == "FUNC":
                    names.add(t["name"][:15])  # the kernel keeps 15 characters
        OUR_PROG_PREFIXES = names
    return OUR_PROG_PREFIXES


def our_bpf_objects():
    """What spiketrace could leave behind: its programs (by name), links to
    them, uprobe events, and anything pinned in bpffs."""
    names = our_prog_names()
    progs = [p for p in _bpftool_json("prog", "show") if p.get("name") in names]
    ids = {p["id"] for p in progs}
    links = [ln for ln in _bpftool_json("link", "show") if ln.get("prog_id") in ids]
    try:
        uprobes = [ln for ln in Path("/sys/kernel/tracing/uprobe_events").read_text()
                   .splitlines() if ln.strip()]
    except FileNotFoundError:
        uprobes = []
    pins = sorted(str(p) for p in Path("/sys/fs/bpf").rglob("*")) \
        if Path("/sys/fs/bpf").is_dir() else []
    return {"progs": sorted(p["name"] for p in progs), "links": len(links),
            "uprobe_events": uprobes, "pins": pins}


def perf_event_fds(pid):
    """perf_event fds a process holds (the sampler and the uprobes)."""
    n = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[perf_event]":
                    n += 1
            except OSError:
                pass
    except FileNotFoundError:
        return 0
    return n


def vm_rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def report_json(st, path, timeout=60):
    res = run([st, "report", path, "--format", "json"], timeout=timeout)
    assert res.returncode == 0, res
    return json.loads(res.stdout), res


@pytest.fixture(scope="session")
def recorded(st, tmp_path_factory):
    """A real recording of all concerns over ~3 s with some process churn,
    shared by the bad-input tests (read-only)."""
    d = tmp_path_factory.mktemp("rec")
    path = d / "all.rec"
    r = Running([st, "record", "-d", "3", "-o", path]).wait_ready()
    for i in range(20):
        subprocess.run(["/bin/true"], check=True)
        subprocess.run(["/bin/sh", "-c", f"exit {i % 3}"])
    res = r.finish(60)
    assert res.returncode == 0, res
    return path
