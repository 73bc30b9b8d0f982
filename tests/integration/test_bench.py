# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""bench/run.py --quick: the harness runs and every row of issue 9 comes out
with numbers. A smoke test: no timing threshold anywhere (the box is shared
and noisy); the counts it checks are the ones the quick sizes fix."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN = REPO_ROOT / "bench" / "run.py"
QUICK = {"P1": 150, "P2": 2 * 256 * 256, "P3": 300 + 20, "P4": 2000 + 100,
         "P7": 256 * 1024 * 1024, "P8": 1}  # bench SIZES (P8: one connection's handshake)
WORKLOADS = ("P1", "P2", "P3", "P4", "P7", "P8")


def number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    before = set(os.listdir("/tmp"))
    cp = subprocess.run([sys.executable, RUN, "--quick", "--json", out], cwd=REPO_ROOT,
                        stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    err = cp.stderr.decode(errors="replace")
    assert cp.returncode == 0, f"bench/run.py --quick failed ({cp.returncode}):\n{err}"
    left = {d for d in set(os.listdir("/tmp")) - before if d.startswith("st-bench-")}
    return json.loads(out.read_text()), cp.stdout.decode(errors="replace"), left


def test_every_row_has_numbers(bench):
    doc, table, _ = bench
    lines = doc["rows"]
    assert {ln["id"] for ln in lines} == {*WORKLOADS, "P5", "P6"}
    for rid in WORKLOADS:
        first = next(ln for ln in lines if ln["id"] == rid)
        mine = [ln for ln in lines if ln["id"] == rid and ln["measure"] == first["measure"]]
        untraced = [ln for ln in mine if ln["tracer"] == "untraced"]
        st = [ln for ln in mine if ln["tracer"].startswith("spiketrace")]
        assert len(untraced) == 1 and number(untraced[0]["median"]), mine
        assert len(st) == 1 and number(st[0]["median"]) and number(st[0]["ratio"]), st
        assert st[0]["goal"] and st[0]["met"] in (True, False), st
        # Every peer is there: with numbers, or with the reason it could not run.
        peers = [ln for ln in mine if ln not in untraced + st]
        assert peers, mine
        for p in peers:
            assert number(p["median"]) or p["error"], p
    # The table has one line per JSON line, plus the title and the header.
    assert len(table.strip().splitlines()) == len(lines) + 2
    assert "sslsniff" in table  # the peer that is not packaged is said, not dropped


def test_p1_peers_named(bench):
    doc, _, _ = bench
    p1 = {ln["tracer"]: ln for ln in doc["rows"] if ln["id"] == "P1"
          and ln["measure"].startswith("nginx TLS")}
    assert number(p1["bpftrace tls_handshake.bt"]["median"]), p1
    assert p1["libbpf-tools sslsniff --handshake"]["error"], p1
    # The nginx worker's CPU per handshake, for untraced and each tracer that ran.
    cpu = [ln for ln in doc["rows"] if ln["id"] == "P1" and "CPU per handshake" in ln["measure"]]
    assert {ln["tracer"] for ln in cpu} == {"untraced", "spiketrace tls,cpu",
                                            "bpftrace tls_handshake.bt"}, cpu
    assert all(number(ln["median"]) for ln in cpu), cpu


def test_p8_requests(bench):
    """P8 made every request it was asked for (the run raises otherwise) on
    one connection, and each tracer has the worker's CPU per request."""
    doc, _, _ = bench
    rate = [ln for ln in doc["rows"] if ln["id"] == "P8" and ln["unit"] == "requests/s"]
    assert {ln["tracer"] for ln in rate} == {"untraced", "spiketrace tls,cpu",
                                             "bpftrace tls_handshake.bt"}, rate
    cpu = [ln for ln in doc["rows"] if ln["id"] == "P8" and "CPU per request" in ln["measure"]]
    assert len(cpu) == 3 and all(number(ln["median"]) for ln in cpu), cpu


def test_agent_rows(bench):
    doc, _, _ = bench
    p5 = [ln for ln in doc["rows"] if ln["id"] == "P5"]
    for measure in ("agent CPU idle (3 s)", "agent peak RSS idle",
                    "start-up to all probes attached"):
        st = [ln for ln in p5 if ln["measure"] == measure and ln["tracer"] == "spiketrace (all)"]
        assert len(st) == 1 and number(st[0]["median"]), (measure, p5)
    for rid in WORKLOADS:
        under = [ln for ln in p5 if ln["measure"] == f"agent CPU under {rid}"]
        assert under and all(number(ln["median"]) for ln in under), (rid, p5)


def test_counts_generated(bench):
    """P6: the generated side is what the quick sizes make; every tracer
    that ran reports a count."""
    doc, _, _ = bench
    p6 = [ln for ln in doc["rows"] if ln["id"] == "P6"]
    for rid, want in QUICK.items():
        mine = [ln for ln in p6 if ln["measure"].endswith(f"({rid})")
                and "counted / generated" in ln["measure"]]
        st = [ln for ln in mine if ln["tracer"].startswith("spiketrace")]
        assert len(st) == 1, (rid, p6)
        assert st[0]["generated"] == want, st[0]
        assert number(st[0]["counted"]) and number(st[0]["lost_events"]), st[0]
        for ln in mine:
            assert number(ln["counted"]) and ln["generated"] == want, ln


def test_aggregated_transitions_complete(bench):
    """P4's transitions come from per-CPU counters as well: none may be
    missing, whatever the ring buffer dropped (other connections add)."""
    doc, _, _ = bench
    agg = [ln for ln in doc["rows"] if ln["id"] == "P6" and "per-CPU counters" in ln["measure"]]
    assert len(agg) == 1, doc["rows"]
    assert agg[0]["generated"] == QUICK["P4"] and agg[0]["counted"] >= QUICK["P4"], agg[0]


def test_machine_and_cleanup(bench):
    doc, _, left = bench
    m = doc["meta"]["machine"]
    assert m["kernel"] == os.uname().release and m["spiketrace"], m
    assert doc["meta"]["mode"] == "quick"
    assert not left, f"temporary directories left behind: {left}"
