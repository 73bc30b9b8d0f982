# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""`spiketrace top` in a real terminal: tmux (a private server, an 80x24
pane) runs it, the noisy neighbour (scenario 3, st-noisy) runs beside it,
and the test reads the screen with capture-pane and drives it with
send-keys: the culprit in the first row, every line within 80 columns,
sorting, pausing, filtering, quitting (exit 0, the terminal put back:
main screen, cursor shown, canonical mode and echo). The raw bytes the
pane got (pipe-pane) show how frames are drawn: cursor home and clear to
end of line, never a full clear. Without a terminal: plain periodic blocks
with no escape code at all."""
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOISY = REPO / "build" / "tools" / "st-noisy"
W, H = 80, 24
ESC_SEQ = re.compile(rb"\x1b(\[[0-9;?]*[A-Za-z]|[()][0-9A-Za-z]|[=>78])")
SIZE = re.compile(r"^([0-9.]+)([BKMGTP]?)$")
UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


def size_of(cell):
    m = SIZE.match(cell)
    assert m, cell
    return float(m.group(1)) * UNITS[m.group(2)]


class Pane:
    """spiketrace top in the one pane of a private tmux server, started by a
    shell that waits for a go file (so pipe-pane sees the first byte), then
    writes the exit status and `stty -a` of the same terminal and stays (a
    dead pane would not show the terminal's state: tmux hides its cursor)."""

    started = 0

    def __init__(self, tmp, spiketrace, args):
        Pane.started += 1  # a server of its own each: a killed one may linger a moment
        self.sock = f"st-test-{os.getpid()}-{Pane.started}"
        self.tmp = tmp
        self.raw = tmp / "raw.bin"
        self.go = tmp / "go"
        self.rc = tmp / "rc"
        self.stty = tmp / "stty.txt"
        # Ctrl-C reaches the shell too (one process group): it must outlive top.
        cmd = (f"trap : INT; while [ ! -e {self.go} ]; do sleep 0.05; done; "
               f"{spiketrace} top {' '.join(map(str, args))}; echo $? > {self.rc}.tmp; "
               f"stty -a > {self.stty}; mv {self.rc}.tmp {self.rc}; sleep 60")
        self.tmux("-f", "/dev/null", "start-server", ";",
                  "set-option", "-g", "remain-on-exit", "on", ";",
                  "new-session", "-d", "-s", "top", "-x", str(W), "-y", str(H), "sh", "-c", cmd)
        self.tmux("pipe-pane", "-o", "-t", "top", f"cat >> {self.raw}")
        self.go.touch()

    def tmux(self, *args):
        res = subprocess.run(["tmux", "-L", self.sock, *map(str, args)], capture_output=True,
                             text=True, timeout=10)
        assert res.returncode == 0, (args, res.stderr)
        return res.stdout

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "top").split("\n")[:H]

    def fmt(self, f):
        return self.tmux("display-message", "-p", "-t", "top", f).strip()

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "top", *keys)

    def stable_screen(self):
        """The screen, read twice the same (not caught between two writes of a frame)."""
        lines = self.screen()
        while True:
            time.sleep(0.05)
            again = self.screen()
            if again == lines:
                return lines
            lines = again

    def wait(self, what, pred, timeout, step=0.1):
        """Polls the screen until pred(lines) holds; fails with the last screen."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.stable_screen()
            if pred(lines):
                return lines
            if time.monotonic() > deadline:
                pytest.fail(f"{what} within {timeout} s; the screen:\n" + "\n".join(lines) +
                            f"\nstderr after exit, if any: {self.stderr_lines()}", pytrace=False)
            time.sleep(step)

    def stderr_lines(self):
        return [ln for ln in self.screen() if ln.startswith("spiketrace:")]

    def exit_status(self, timeout):
        deadline = time.monotonic() + timeout
        while not self.rc.exists():
            if time.monotonic() > deadline:
                pytest.fail("top did not exit; the screen:\n" + "\n".join(self.screen()),
                            pytrace=False)
            time.sleep(0.1)
        return int(self.rc.read_text())

    def kill(self):
        """Ends the server and removes its socket (tmux leaves it behind)."""
        path = subprocess.run(["tmux", "-L", self.sock, "display-message", "-p",
                               "#{socket_path}"], capture_output=True, text=True, timeout=10)
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True, timeout=10)
        if path.returncode == 0 and path.stdout.strip():
            Path(path.stdout.strip()).unlink(missing_ok=True)


@pytest.fixture
def pane(tmp_path, spiketrace_bin):
    if not shutil.which("tmux"):
        pytest.fail("tmux is missing: `make deps` installs it", pytrace=False)
    started = []

    def start(args):
        p = Pane(tmp_path, spiketrace_bin, args)
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()


class Noisy:
    """st-noisy in the background; stopped (SIGTERM: it cleans up) at teardown."""

    def __init__(self, args):
        self.proc = subprocess.Popen([str(NOISY), *map(str, args)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def finish(self, timeout=60):
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, (out, err)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()


@pytest.fixture
def noisy():
    started = []

    def start(args):
        n = Noisy(args)
        started.append(n)
        return n

    yield start
    for n in started:
        n.stop()


def is_header(lines):
    return lines[0].startswith("spiketrace top ") and lines[2].startswith("CAUSE")


def rows(lines):
    """The table's data rows: from the column titles to the first empty line."""
    out = []
    for ln in lines[3:]:
        if not ln.strip() or ln.startswith("(") or ln.startswith("LATEST EVENTS"):
            break
        out.append(ln)
    return out


def clock(lines):
    m = re.match(r"spiketrace top  (\d\d:\d\d:\d\d)  up (\d+:\d\d:\d\d)", lines[0])
    assert m, lines[0]
    return m.group(1), m.group(2)


def column(lines, name):
    """Cells of one column (by its title's right edge; titles are right-aligned)."""
    titles = lines[2]
    m = re.search(r"\*?" + re.escape(name) + r"(?= |$)", titles)
    assert m, (name, titles)
    end = m.end()
    cells = []
    for r in rows(lines):
        cells.append(r[:end].rsplit(" ", 1)[-1])
    return cells


def frames(raw):
    """The frames in the raw bytes: each begins with the cursor going home."""
    return raw.split(b"\x1b[H")[1:]


def visible_lines(frame):
    """A frame's lines as they show: no escape codes; "\r\n" ends a line (the
    terminal's output processing may have made it "\r\r\n")."""
    return [ESC_SEQ.sub(b"", ln).replace(b"\r", b"") for ln in frame.split(b"\n")]


def busy_on_top(lines, cause):
    """cause in the first row, busy: several CPUs' worth (CPU% over 50, the
    first interval of the burst may hold only a part of it), runnable at once."""
    if not (is_header(lines) and rows(lines)):
        return False
    first = rows(lines)[0].split()
    return first[0] == cause and float(first[1]) > 50 and int(first[-1]) >= 2


def test_top_in_a_terminal(pane, noisy):
    tag = os.getpid()
    job = f"st-top-{tag}"
    p = pane(["-i", 1])
    p.wait("the header", is_header, 30)
    assert p.fmt("#{alternate_on} #{cursor_flag}") == "1 0", "alternate screen, no cursor"
    assert "sort: score" in p.screen()[1]

    # The noisy neighbour: its job ranked first while it runs. The box may be
    # shared: when another load outranks it for a whole burst, a new burst.
    for _ in range(3):
        n = noisy(["-n", 6, "-d", 4, "--cgroup", job, "--service-cgroup", f"st-topsvc-{tag}"])
        deadline = time.monotonic() + 9
        seen = None
        while time.monotonic() < deadline and not seen:
            lines = p.stable_screen()
            if busy_on_top(lines, job):
                seen = lines
            time.sleep(0.1)
        if seen:
            break
        n.finish()
    else:
        pytest.fail(f"{job} was never the first row, busy; the screen:\n" +
                    "\n".join(p.screen()), pytrace=False)
    assert all(len(ln) <= W for ln in seen)

    # m: by memory. The header says so, the RSS title is marked, RSS goes down the rows.
    p.keys("m")
    lines = p.wait("sort: mem", lambda s: "sort: mem" in s[1] and "*RSS" in s[2], 5)
    rss = [size_of(c) for c in column(lines, "RSS")]
    assert rss == sorted(rss, reverse=True), lines
    # c: by CPU.
    p.keys("c")
    lines = p.wait("sort: cpu", lambda s: "sort: cpu" in s[1] and "*CPU%" in s[2], 5)
    cpu = [float(c) for c in column(lines, "CPU%")]
    assert cpu == sorted(cpu, reverse=True), lines

    # 3: only causes that did TLS (the noisy job did none); 0: every cause again.
    p.keys("3")
    lines = p.wait("filter: tls", lambda s: "filter: tls" in s[1], 5)
    assert not any(r.split()[0] == job for r in rows(lines)), lines
    p.keys("0")
    p.wait("filter: all", lambda s: "filter: all" in s[1], 5)

    # p: paused; the clock stops while tracing goes on; p again: it moves.
    p.keys("p")
    lines = p.wait("PAUSED", lambda s: "PAUSED" in s[0], 5)
    time.sleep(2.5)
    again = p.screen()
    assert clock(again) == clock(lines) and again == lines, (lines, again)
    p.keys("p")
    p.wait("the clock moving again",
           lambda s: "PAUSED" not in s[0] and clock(s) != clock(lines), 5)

    # q: a clean exit, the terminal as it was.
    p.keys("q")
    assert p.exit_status(15) == 0, p.screen()
    assert p.fmt("#{alternate_on} #{cursor_flag}") == "0 1"
    stty = p.stty.read_text()
    assert re.search(r"(^|\s)icanon(\s|$)", stty) and re.search(r"(^|\s)echo(\s|$)", stty), stty
    # The main screen is back: what was printed before the view, not the view.
    after = p.screen()
    assert any(ln.startswith("spiketrace: tracing") for ln in after), after
    assert not any(ln.startswith("CAUSE") for ln in after), after

    # Drawn in place: cursor home and clear-to-end-of-line each frame, never a full clear.
    raw = p.raw.read_bytes()
    # Before the view, only the lines top printed on stderr; then the alternate screen.
    on = raw.index(b"\x1b[?1049h")
    assert b"\x1b" not in raw[:on] and b"spiketrace: tracing" in raw[:on], raw[:on]
    assert b"\x1b[2J" not in raw and b"\x1bc" not in raw
    assert raw.count(b"\x1b[H") >= 5 and b"\x1b[K" in raw
    assert raw.rstrip(b"\r\n").endswith(b"\x1b[?25h\x1b[?1049l"), raw[-40:]
    for f in frames(raw):
        lines = visible_lines(f.split(b"\x1b[?25h")[0])
        assert len(lines) <= H, len(lines)
        assert all(len(ln) <= W for ln in lines), [ln for ln in lines if len(ln) > W]


def test_ctrl_c_restores_the_terminal(pane):
    """SIGINT from the terminal's own Ctrl-C (raw mode keeps signals): exit 0,
    the terminal back as it was."""
    p = pane(["-i", 1, "--only", "proc,cpu"])
    p.wait("a frame with rows", lambda s: is_header(s) and rows(s), 30)
    p.keys("C-c")
    assert p.exit_status(15) == 0, p.screen()
    assert p.fmt("#{alternate_on} #{cursor_flag}") == "0 1"
    stty = p.stty.read_text()
    assert re.search(r"(^|\s)icanon(\s|$)", stty) and re.search(r"(^|\s)echo(\s|$)", stty), stty
    # Columns of concerns not traced show "-".
    last = [ln.decode() for ln in visible_lines(frames(p.raw.read_bytes())[-1])]
    assert rows(last), last
    for name in ("RSS", "GROWTH", "FLT/s", "HS/s", "RST/s", "NET/s", "OOM"):
        assert set(column(last, name)) == {"-"}, (name, last)
    assert all(re.match(r"^[0-9.]+$", c) for c in column(last, "CPU%")), last


def test_without_a_terminal_plain_blocks(start_spiketrace, noisy):
    """stdout a pipe: a timestamped block per interval, no escape code at all,
    the job named in at least two of them."""
    tag = os.getpid()
    job = f"st-topplain-{tag}"
    st = start_spiketrace(["top", "-i", 1, "-d", 4])
    noisy(["-n", 6, "-d", 4, "--pre", 0.2, "--cgroup", job,
           "--service-cgroup", f"st-topplainsvc-{tag}"])
    res = st.finish(30)
    assert res.returncode == 0, res
    out = res.stdout
    assert "\x1b" not in out
    assert all(len(ln) <= W for ln in out.splitlines()), out
    blocks = re.split(r"\n(?=spiketrace top  )", out.strip("\n"))
    assert len(blocks) >= 3, out
    stamp = re.compile(r"^spiketrace top  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  up \d+:\d\d:\d\d  ")
    for b in blocks:
        lines = b.split("\n")
        assert stamp.match(lines[0]), lines[0]
        assert lines[1].startswith("sort: score") and lines[2].startswith("CAUSE"), b
    named = [b for b in blocks if any(ln.split()[:1] == [job] for ln in b.split("\n")[3:])]
    assert len(named) >= 2, out
