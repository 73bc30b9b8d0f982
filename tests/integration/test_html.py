# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""report --format html in a real browser.

One recording of real workloads (st-cpuburn beside st-faultstorm), written
as HTML and opened from file:// in Debian's headless Chromium, driven
through chromedriver's W3C WebDriver HTTP API with the standard library
only (urllib + json). The page is clicked and typed into as a person would
(element click, key input, pointer actions), and read back through
window.spiketrace and the DOM. A second page carries a synthetic profile of
about 20 000 frames: it must render and zoom without freezing.

Needs the Debian packages chromium and chromium-driver (`make deps`).
ST_DOCS_SCREENSHOT=1 also writes docs/img/report.png (1366x900).
"""
import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CPUBURN = REPO / "build" / "tools" / "st-cpuburn"
FAULTSTORM = REPO / "build" / "tools" / "st-faultstorm"
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")
HTTP_TIMEOUT_S = 30
DATA_RE = re.compile(r'<script type="application/json" id="st-data">(.*?)</script>', re.S)


# ---------- WebDriver over HTTP ----------

class WebDriverError(Exception):
    pass


class Browser:
    """A chromedriver process and one headless Chromium session."""

    def __init__(self, tmp, width=1366, height=900):
        for exe, pkg in ((CHROMEDRIVER, "chromium-driver"), (CHROMIUM, "chromium")):
            if not os.access(exe, os.X_OK):
                pytest.fail(f"{exe} is missing: apt-get install {pkg} (make deps)", pytrace=False)
        self.sid = None
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = open(tmp / "chromedriver.log", "wb")
        self.proc = subprocess.Popen([str(CHROMEDRIVER), f"--port={self.port}"],
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if self._http("GET", "/status", timeout=2)["value"].get("ready"):
                    break
            except (OSError, WebDriverError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"chromedriver did not start (see {tmp}/chromedriver.log)",
                            pytrace=False)
            time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": str(CHROMIUM),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         f"--window-size={width},{height}",
                         f"--user-data-dir={tmp / 'chromium-profile'}"],
            },
        }}}
        self.sid = self._http("POST", "/session", caps, timeout=60)["value"]["sessionId"]

    def _http(self, method, path, body=None, timeout=HTTP_TIMEOUT_S):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise WebDriverError(f"{method} {path}: {e.code} {e.read()[:2000]!r}") from None

    def cmd(self, method, path, body=None):
        return self._http(method, f"/session/{self.sid}{path}", body)["value"]

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def open(self, path):
        self.cmd("POST", "/url", {"url": Path(path).resolve().as_uri()})
        self.wait(lambda: self.js("return !!(window.spiketrace && window.spiketrace.ready)"),
                  "window.spiketrace.ready", lambda: self.js("return window.spiketrace.errors"))

    def wait(self, cond, what, info=lambda: "", timeout=10):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}: {info()}", pytrace=False)
            time.sleep(0.05)

    def find_all(self, css):
        elems = self.cmd("POST", "/elements", {"using": "css selector", "value": css})
        return [next(iter(e.values())) for e in elems]

    def find(self, css):
        return next(iter(self.cmd("POST", "/element",
                                  {"using": "css selector", "value": css}).values()))

    def attr(self, elem, name):
        return self.cmd("GET", f"/element/{elem}/attribute/{name}")

    def click(self, elem):
        self.cmd("POST", f"/element/{elem}/click", {})

    def type(self, elem, text):
        self.cmd("POST", f"/element/{elem}/value", {"text": text})

    def pointer(self, elem, dx, dy, click=False):
        """Moves the mouse to (dx, dy) from the centre of elem, optionally clicks."""
        ref = {"element-6066-11e4-a52e-4f735466cecf": elem}
        acts = [{"type": "pointerMove", "duration": 0, "origin": ref, "x": int(dx), "y": int(dy)}]
        if click:
            acts += [{"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0}]
        self.cmd("POST", "/actions", {"actions": [{"type": "pointer", "id": "mouse",
                                                   "parameters": {"pointerType": "mouse"},
                                                   "actions": acts}]})
        self.cmd("DELETE", "/actions")

    def viewport(self, width, height):
        """Resizes the window so the page itself gets width x height."""
        for _ in range(3):
            iw, ih = self.js("return [window.innerWidth, window.innerHeight]")
            if (iw, ih) == (width, height):
                return
            rect = self.cmd("GET", "/window/rect")
            self.cmd("POST", "/window/rect", {"width": rect["width"] + width - iw,
                                              "height": rect["height"] + height - ih})

    def screenshot(self, path):
        png = base64.b64decode(self.cmd("GET", "/screenshot"))
        Path(path).write_bytes(png)
        return png

    def close(self):
        try:
            if self.sid:
                self._http("DELETE", f"/session/{self.sid}", timeout=15)
        except (OSError, WebDriverError):
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("chromium"))
    try:
        yield b
    finally:
        b.close()


# ---------- the recording ----------

def run_tool(args):
    return subprocess.Popen([str(a) for a in args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


_PAGE = {}


@pytest.fixture
def page(start_spiketrace, run_spiketrace, tmp_path_factory):
    """The HTML report of 6 s with st-cpuburn and st-faultstorm, made once."""
    if _PAGE:
        return _PAGE
    tmp = tmp_path_factory.mktemp("html")
    rec, html = tmp / "spike.rec", tmp / "spike.html"
    st = start_spiketrace(["record", "-d", 6, "--only", "proc,mem,cpu", "-F", 499, "-o", rec])
    tools = [run_tool([CPUBURN, "-d", 2]), run_tool([FAULTSTORM, "--mb", 256, "--rounds", 6])]
    try:
        for t in tools:
            out, err = t.communicate(timeout=30)
            assert t.returncode == 0, (t.args, out[-2000:], err[-2000:])
    finally:
        for t in tools:
            if t.poll() is None:
                t.kill()
                t.wait()
    res = st.finish(40)
    assert res.returncode == 0, res
    rep = run_spiketrace(["report", rec, "--format", "html", "-o", html])
    assert rep.returncode == 0, rep
    text = html.read_text()
    m = DATA_RE.search(text)
    assert m, "no data element in the page"
    _PAGE.update(tmp=tmp, html=html, text=text, data=json.loads(m.group(1)))
    return _PAGE


def burn_cause(data):
    """The cause whose stacks hold st-cpuburn's hot functions."""
    names = data["flame"]["names"]
    for st in data["flame"]["stacks"]:
        if any(names[i] == "burn_alpha" for i in st[2:]):
            return names[st[2]]
    pytest.fail("no stack with burn_alpha in the profile", pytrace=False)


def matched_samples(data, cause, regex):
    """Samples of cause with a frame matching regex: what the search must say."""
    names, rx = data["flame"]["names"], re.compile(regex, re.I)
    return sum(st[0] for st in data["flame"]["stacks"]
               if names[st[2]] == cause and any(rx.search(names[i]) for i in st[2:]))


def png_check(png):
    """A real screenshot: a PNG of the size asked for, with varied pixels."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", png[:16]
    assert len(png) > 20000, len(png)
    width, height = struct.unpack(">II", png[16:24])
    pos, idat = 8, b""
    while pos < len(png):
        n, kind = struct.unpack(">I4s", png[pos:pos + 8])
        if kind == b"IDAT":
            idat += png[pos + 8:pos + 8 + n]
        pos += 12 + n
    raw = zlib.decompress(idat)
    assert len(set(raw)) > 64, "the screenshot is (nearly) one colour"
    return width, height


# ---------- the tests ----------

def test_page_is_self_contained(page):
    text, data = page["text"], page["data"]
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("<script") == 3 and text.count("</script>") == 3
    for remote in ("<link", "src=\"", "url(", "@import"):
        assert remote not in text, remote
    assert "<" not in DATA_RE.search(text).group(1)
    assert data["causes"] and data["flame"] and data["timeline"]["metrics"]
    assert {m["name"] for m in data["timeline"]["metrics"]} >= {"cpu_s", "rss_bytes",
                                                               "page_faults", "execs"}
    assert "tls" not in data and "tcp" not in data, "concerns not recorded have no section"


def test_sections_render_without_errors(page, browser):
    b, data = browser, page["data"]
    b.viewport(1366, 900)
    b.open(page["html"])
    assert b.js("return window.spiketrace.errors") == []
    got = b.js("""
        const q = s => document.querySelectorAll(s).length;
        return {rows: q('#causes-table tr.cause-row'), frames: window.spiketrace.visibleFrames().length,
                charts: window.spiketrace.charts(), ooms: q('#ooms'), tls: q('#tls'), tcp: q('#tcp'),
                banner: q('.banner'), lost: document.querySelector('.tile.bad') !== null,
                heads: Array.from(document.querySelectorAll('#causes-table th')).map(t => t.textContent),
                title: document.title, where: document.querySelector('.topbar .where').textContent,
                pageOverflow: document.documentElement.scrollWidth - window.innerWidth,
                tableOverflow: (w => w.scrollWidth - w.clientWidth)(document.querySelector('#causes .table-wrap')),
                timings: window.spiketrace.timings};""")
    assert got["rows"] == len(data["causes"]) > 0, got
    assert got["frames"] > 10, got
    assert got["charts"] == len(data["timeline"]["metrics"]) >= 4, got
    assert got["ooms"] == 1 and got["tls"] == 0 and got["tcp"] == 0, got
    assert got["banner"] == 0, "a complete recording has no cut-short warning"
    assert got["lost"] == (data["lost_events"] > 0), got
    # only the columns of the recorded concerns (proc, mem, cpu)
    heads = [h.lower() for h in got["heads"]]
    assert {"cpu s", "rss peak", "faults", "oom"} <= set(heads), heads
    assert "tls hs" not in heads and "tcp resets" not in heads, heads
    assert data["host"] in got["title"] and data["host"] in got["where"], got
    # fits a laptop screen: no sideways scrolling, of the page or the causes table
    assert got["pageOverflow"] <= 0 and got["tableOverflow"] <= 0, got
    png = b.screenshot(page["tmp"] / "report.png")
    assert png_check(png) == (1366, 900)
    if os.environ.get("ST_DOCS_SCREENSHOT"):
        (REPO / "docs" / "img").mkdir(parents=True, exist_ok=True)
        shutil.copy(page["tmp"] / "report.png", REPO / "docs" / "img" / "report.png")


def test_clicking_a_cause_filters_flame_graph_and_timeline(page, browser):
    b, data = browser, page["data"]
    b.open(page["html"])
    cause = burn_cause(data)
    rows = b.find_all("#causes-table tr.cause-row")
    row = next((r for r in rows if b.attr(r, "data-cause") == cause), None)
    assert row, f"no row for {cause}"
    b.click(row)
    assert b.js("return window.spiketrace.selected()") == cause
    assert "selected" in b.attr(row, "class")
    frames = b.js("return window.spiketrace.visibleFrames()")
    assert frames and all(f["path"][0] == cause for f in frames), frames[:5]
    top = [f for f in frames if f["row"] == 0]
    assert len(top) == 1 and top[0]["name"] == cause and top[0]["kind"] == "cause", top
    assert any(f["name"] == "burn_alpha" for f in frames)
    assert b.js("return window.spiketrace.zoomed()") is None
    # the timeline draws the cause's line highlighted, the others faded
    drawn = cause in data["timeline"]["causes"]
    hl = b.js("""return [document.querySelectorAll('#timeline path.sel').length,
        Array.from(document.querySelectorAll('#timeline path.sel')).every(p => p.getAttribute('data-cause') === arguments[0]),
        document.querySelectorAll('#timeline .series path:not(.sel):not(.area):not(.faded)').length]""", cause)
    assert hl == [len(data["timeline"]["metrics"]) if drawn else 0, True, 0], hl
    # click again: every cause back
    b.click(row)
    assert b.js("return window.spiketrace.selected()") is None
    assert b.js("return window.spiketrace.visibleFrames()[0].name") == "all"
    b.click(row)
    b.click(b.find("#all-causes"))
    assert b.js("return window.spiketrace.selected()") is None
    assert b.js("return window.spiketrace.errors") == []


def frame_offset(b, canvas, name):
    """(dx, dy) of frame name's centre from the canvas centre, after scrolling it into view."""
    b.js("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})",
         {"element-6066-11e4-a52e-4f735466cecf": canvas})
    drawn = [f for f in b.js("return window.spiketrace.visibleFrames()")
             if f["name"] == name and not f["above"]]
    assert drawn, f"frame {name} is not drawn"
    f = max(drawn, key=lambda f: f["w"])
    w, h = b.js("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height]",
                {"element-6066-11e4-a52e-4f735466cecf": canvas})
    return f["x"] + min(f["w"], 40) / 2 - w / 2, f["row"] * 18 + 9 - h / 2


def test_zoom_hover_and_search(page, browser):
    b, data = browser, page["data"]
    b.open(page["html"])
    cause = burn_cause(data)
    b.js("window.spiketrace.selectCause(arguments[0])", cause)
    canvas = b.find("#flame-canvas")
    # hover: the status line names the frame, its samples, seconds and share
    dx, dy = frame_offset(b, canvas, "burn_alpha")
    b.pointer(canvas, dx, dy)
    status = b.js("return document.querySelector('#flame .status').textContent")
    assert re.search(r"burn_alpha.*[\d,]+ samples .* [\d.]+ s .* [\d.]+% of all", status), status
    assert b.js("return !document.querySelector('.tip').classList.contains('hidden')")
    # click on the process frame: it becomes the root width
    dx, dy = frame_offset(b, canvas, "st-cpuburn")
    b.pointer(canvas, dx, dy, click=True)
    assert b.js("return window.spiketrace.zoomed()") == "st-cpuburn"
    frames = b.js("return window.spiketrace.visibleFrames()")
    zoom = [f for f in frames if f["name"] == "st-cpuburn" and not f["above"]]
    width = b.js("return arguments[0].getBoundingClientRect().width",
                 {"element-6066-11e4-a52e-4f735466cecf": canvas})
    assert len(zoom) == 1 and zoom[0]["x"] == 0 and abs(zoom[0]["w"] - width) < 1, (zoom, width)
    below = [f for f in frames if not f["above"]]
    assert all("st-cpuburn" in f["path"] for f in below), below[:5]
    assert [f["name"] for f in frames if f["above"]] == [cause]
    b.click(b.find("#flame .toolbar button:nth-child(2)"))  # Reset zoom
    assert b.js("return window.spiketrace.zoomed()") is None
    # search, typed: matching frames highlighted, the share of samples shown
    regex = "burn_(alpha|beta)"
    b.type(b.find("#flame-search"), regex)
    b.wait(lambda: b.js("return document.querySelector('#flame .match').textContent"),
           "the search result")
    text = b.js("return document.querySelector('#flame .match').textContent")
    want = matched_samples(data, cause, regex)
    total = sum(st[0] for st in data["flame"]["stacks"] if data["flame"]["names"][st[2]] == cause)
    assert want > 0
    assert f"({want:,})" in text, (text, want)
    shown = float(re.search(r"([\d.]+)% of samples", text).group(1))
    assert abs(shown - 100 * want / total) <= 0.051, (text, want, total)
    hits = {f["name"] for f in b.js("return window.spiketrace.visibleFrames()") if f["match"]}
    assert hits == {"burn_alpha", "burn_beta"}, hits
    b.js("window.spiketrace.search('')")
    assert b.js("return window.spiketrace.errors") == []


def synthetic_flame(nframes=20000, depth=24, fanout=6):
    """About nframes distinct frames in a tree of stacks, cause frames first."""
    names, stacks, ids = [], [], {}

    def fid(n):
        if n not in ids:
            ids[n] = len(names)
            names.append(n)
        return ids[n]

    i = 0
    while len(names) < nframes:
        cause, comm = f"job-{i % 7}", f"worker-{i % 13}"
        path = [fid(cause), fid(comm)]
        node = i
        for d in range(depth):
            node = node * fanout + 1 + (i * 7 + d) % fanout
            path.append(fid(f"fn_{d}_{node % 5000}" + ("_[k]" if d > depth - 4 else "")))
        stacks.append([1 + i % 17, 2] + path)
        i += 1
    return {"period_ns": 2004008, "total": sum(s[0] for s in stacks), "names": names,
            "stacks": stacks}


def test_twenty_thousand_frames_do_not_freeze(page, browser, tmp_path):
    b, data = browser, dict(page["data"])
    data["flame"] = synthetic_flame()
    data["causes"] = [dict(page["data"]["causes"][0], name=f"job-{k}") for k in range(7)]
    blob = json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    html = tmp_path / "big.html"
    html.write_text(DATA_RE.sub(lambda _: '<script type="application/json" id="st-data">' + blob
                                + "</script>", page["text"], count=1))
    # No timing thresholds (timing is noisy here): the page must render and
    # answer within the WebDriver call timeouts; the times are reported only.
    b.open(html)
    got = b.js("""const t0 = performance.now();
        window.spiketrace.selectCause('job-3');
        const t1 = performance.now();
        window.spiketrace.zoomTo('worker-3');
        const t2 = performance.now();
        const r = window.spiketrace.search('fn_1[0-9]_');
        return {select: t1 - t0, zoom: t2 - t1, search: performance.now() - t2, r: r,
                n: window.spiketrace.visibleFrames().length};""")
    print("20k-frame page timings (ms):", b.js("return window.spiketrace.timings"), got)
    assert got["r"]["matched"] > 0 and got["n"] > 10, got
    assert b.js("return window.spiketrace.errors") == []
