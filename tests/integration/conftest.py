# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Fixtures shared by the integration tests.

The tests run the real binary against the real kernel, so they need root
(`sudo make test`). They use the Python standard library and pytest only.

Fixtures:
  spiketrace_bin     path of build/spiketrace (env SPIKETRACE overrides)
  cronjob_bin        path of build/tools/st-cronjob (env ST_CRONJOB overrides)
  start_spiketrace   start_spiketrace(args) -> Running, once "spiketrace: tracing"
                     is on stderr; every process started is killed at teardown
  run_spiketrace     run_spiketrace(args) -> Result of a short command
  run_cronjob        run_cronjob(args) -> the JSON object st-cronjob prints

Helpers (from conftest import ...):
  json_lines         json_lines(stdout, types=None) -> the objects of a --json stream
  cgroup2_root       cgroup2_root() -> Path of the cgroup2 mount (fails the test if none)
  rmdir_retry        rmdir_retry(path) removes a cgroup directory, waiting up to 5 s for
                     its last processes to be gone
  free_port, Result, Running   from tests/lib/sttest.py, shared with tests/robustness
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD = REPO_ROOT / "build"
sys.path.insert(0, str(REPO_ROOT / "tests" / "lib"))
from sttest import READY_TIMEOUT_S, Result, Running, free_port  # noqa: E402,F401


def json_lines(stdout, types=None):
    """One JSON object per line, each with "type" (one of types when given);
    anything else fails the test."""
    events = []
    for n, line in enumerate(stdout.splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError:
            pytest.fail(f"stdout line {n} is not JSON: {line[:200]!r}", pytrace=False)
        assert isinstance(obj, dict) and "type" in obj, f"line {n} has no type: {line[:200]}"
        assert types is None or obj["type"] in types, f"line {n}: {line[:200]}"
        events.append(obj)
    return events


def cgroup2_root():
    with open("/proc/self/mounts") as f:
        for line in f:
            if line.split()[2] == "cgroup2":
                return Path(line.split()[1])
    pytest.fail("no cgroup2 mount", pytrace=False)


def rmdir_retry(path, tries=50):
    """A cgroup is busy until its last process is reaped: retry briefly."""
    for _ in range(tries):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)


@pytest.fixture(scope="session", autouse=True)
def require_root():
    """Fail (never skip) when not root: a skipped suite looks like a pass."""
    if os.geteuid() != 0:
        pytest.fail(
            "the integration tests load BPF programs and create cgroups: "
            "run them as root with `sudo make test`",
            pytrace=False,
        )


def _executable(env_name, default, how):
    path = Path(os.environ.get(env_name) or default)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{path} is missing or not executable: {how}", pytrace=False)
    return path


@pytest.fixture(scope="session")
def spiketrace_bin():
    return _executable("SPIKETRACE", BUILD / "spiketrace", "build it with `make`")


@pytest.fixture(scope="session")
def cronjob_bin():
    return _executable(
        "ST_CRONJOB",
        BUILD / "tools" / "st-cronjob",
        "`make` builds it from tools/cronjob.c",
    )


@pytest.fixture
def start_spiketrace(spiketrace_bin):
    """start_spiketrace(args) starts `spiketrace ARGS...` and returns the
    Running once the ready line is on stderr (or fails the test)."""
    started = []

    def start(args, ready_timeout=READY_TIMEOUT_S):
        running = Running([spiketrace_bin, *args])
        started.append(running)
        return running.wait_ready(ready_timeout)

    yield start
    for running in started:
        running.kill()


@pytest.fixture
def run_spiketrace(spiketrace_bin):
    """run_spiketrace(args, timeout=30, **popen_kwargs) -> Result."""

    def run(args, timeout=30, prefix=(), binary=None, **kwargs):
        argv = [str(a) for a in (*prefix, binary or spiketrace_bin, *args)]
        try:
            cp = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                **kwargs,
            )
        except subprocess.TimeoutExpired as e:  # run() has killed it
            err = (e.stderr or b"").decode(errors="replace")
            pytest.fail(f"{' '.join(argv)} took over {timeout} s; stderr:\n{err}", pytrace=False)
        return Result(
            argv,
            cp.returncode,
            cp.stdout.decode(errors="replace"),
            cp.stderr.decode(errors="replace"),
        )

    return run


def _stop_cronjob(proc):
    """SIGTERM first: st-cronjob then kills its tree and removes its cgroups."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
def run_cronjob(cronjob_bin):
    """run_cronjob(args) runs st-cronjob to the end and returns its JSON:
    {"cgroup_name", "cgroup_v2", "memcg", "controller_pid", "processes":
    [{"pid", "ppid", "comm", "level"}], "exit_code"}."""

    def run(args):
        args = [str(a) for a in args]
        hold_ms = int(args[args.index("--hold-ms") + 1]) if "--hold-ms" in args else 1500
        timeout = hold_ms * 4 / 1000 + 15
        proc = subprocess.Popen(
            [str(cronjob_bin), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_cronjob(proc)
            pytest.fail(f"st-cronjob {' '.join(args)} ran over {timeout} s", pytrace=False)
        finally:
            _stop_cronjob(proc)
        out = out.decode(errors="replace")
        err = err.decode(errors="replace")
        assert proc.returncode == 0, f"st-cronjob failed ({proc.returncode}): {err}"
        try:
            job = json.loads(out)
        except ValueError:
            pytest.fail(f"st-cronjob printed no JSON: {out!r} {err!r}", pytrace=False)
        assert len(job["processes"]) == 5, job
        return job

    return run
