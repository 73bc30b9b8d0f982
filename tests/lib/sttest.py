# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""What the integration and robustness suites share: a finished command's
Result, a background Running process whose pipes are drained, and free ports.

Each suite's conftest.py imports this module (tests/lib is put on sys.path
there) and re-exports what its tests import from conftest. Standard library
and pytest only.
"""

import os
import socket
import subprocess
import threading
import time

import pytest

READY = "spiketrace: tracing"
# tools/vmtest raises it in its guests: under software emulation attaching
# every uprobe and loading every program takes longer (PREEMPT_RT: over 20 s).
READY_TIMEOUT_S = int(os.environ.get("SPIKETRACE_READY_TIMEOUT", "30"))


def free_port(pair=False):
    """A TCP port on 127.0.0.1 nobody holds now (the kernel's pick, released);
    with pair, port + 1 is free too (st-tlsstorm's resumption port)."""
    for _ in range(50):
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if not pair:
                return port
            try:
                b.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue
    pytest.fail("no two free ports in a row on 127.0.0.1", pytrace=False)


class Result:
    """Outcome of a finished command: returncode, stdout and stderr (text, or
    bytes where the caller asked for binary stdout)."""

    def __init__(self, args, returncode, stdout, stderr):
        self.args, self.returncode = args, returncode
        self.stdout, self.stderr = stdout, stderr

    def __repr__(self):
        return (f"Result({' '.join(map(str, self.args))!r}, rc={self.returncode}, "
                f"stdout={self.stdout[-2000:]!r}, stderr={self.stderr[-2000:]!r})")


class Running:
    """A background process. Threads drain stdout and stderr so that a chatty
    process never blocks on a full pipe.

    proc          the subprocess.Popen
    ready_stderr  what stderr held when the ready line appeared
    stdout/stderr everything read so far (text)
    """

    def __init__(self, args, **popen_kw):
        self.args = [str(a) for a in args]
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     **popen_kw)
        self.ready_stderr = None
        self._out, self._err = [], []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._threads = [threading.Thread(target=self._drain_stdout, daemon=True),
                         threading.Thread(target=self._drain_stderr, daemon=True)]
        for t in self._threads:
            t.start()

    def _drain_stdout(self):
        # Chunks, not lines: stdout may be binary or one long line.
        fd = self.proc.stdout.fileno()
        for chunk in iter(lambda: os.read(fd, 65536), b""):
            with self._lock:
                self._out.append(chunk)

    def _drain_stderr(self):
        for line in iter(self.proc.stderr.readline, b""):
            with self._lock:
                self._err.append(line)
            if READY.encode() in line:
                self._ready.set()

    @property
    def stdout(self):
        with self._lock:
            return b"".join(self._out).decode(errors="replace")

    @property
    def stderr(self):
        with self._lock:
            return b"".join(self._err).decode(errors="replace")

    def wait_ready(self, timeout=READY_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None:
                self.join()
                if self._ready.is_set():
                    break
                pytest.fail(f"{' '.join(self.args)} exited with {self.proc.returncode} "
                            f"before it printed {READY!r}; stderr:\n{self.stderr}",
                            pytrace=False)
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"{' '.join(self.args)} did not print {READY!r} within "
                            f"{timeout} s; stderr so far:\n{self.stderr}", pytrace=False)
        self.ready_stderr = self.stderr
        return self

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def finish(self, timeout=30):
        """Waits for the process to exit by itself; returns a Result."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{' '.join(self.args)} did not exit within {timeout} s; "
                        f"stderr:\n{self.stderr}", pytrace=False)
        self.join()
        return Result(self.args, self.proc.returncode, self.stdout, self.stderr)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=120)  # detaching many uprobes takes a while
            except subprocess.TimeoutExpired:
                pass
        self.join()

    def join(self):
        for t in self._threads:
            t.join(timeout=5)
