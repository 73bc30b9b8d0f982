#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The price of one uprobe hit on this machine, by where the probe sits.

    bench/uprobe_cost.py [--lib PATH] [--func NAME] [--probe NAME] [--calls N] [--json FILE]

st-uprobeloop calls the function (default libcrypto's RAND_bytes) in a loop;
a plain tracefs uprobe (no BPF program: the bare mechanism) is put on it,
first at the function's entry, then at the first branch inside it, and the
CPU per call is compared with the run without a probe. On x86 the kernel
emulates branches at a probe (no single-step), while most other first
instructions (test, sub, cmp) are copied out of line and single-stepped: one
more trap. --probe NAME puts the probes on another function that --func
calls (RAND_bytes jumps to RAND_bytes_ex, whose entry is a push). Every probe
made is removed on exit.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as H  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LOOP = ROOT / "build" / "tools" / "st-uprobeloop"
TRACEFS = Path("/sys/kernel/tracing")
GROUP = f"stbench{os.getpid()}"
REPS = 3


def loop(a):
    return H.run_json([LOOP, "--lib", a.lib, "--func", a.func, "--calls", a.calls], 600)


def median_cost(a):
    runs = [loop(a) for _ in range(REPS)]
    return statistics.median(r["cpu_ns_per_call"] for r in runs), runs[0]


def file_offset(lib, vaddr):
    """The file offset of vaddr, from the LOAD segments (readelf -lW)."""
    out = subprocess.run(["readelf", "-lW", lib], capture_output=True, text=True,
                         timeout=30).stdout
    for m in re.finditer(r"^\s*LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+\S+\s+(0x[0-9a-f]+)",
                         out, re.M):
        off, va, size = (int(x, 16) for x in m.groups())
        if va <= vaddr < va + size:
            return vaddr - va + off
    raise H.BenchError(f"{lib}: {vaddr:#x} is in no LOAD segment")


def symbol_vaddr(lib, name):
    out = subprocess.run(["readelf", "-Ws", "--dyn-syms", lib], capture_output=True,
                         text=True, timeout=60).stdout
    for ln in out.splitlines():
        f = ln.split()
        if len(f) >= 8 and f[3] == "FUNC" and f[6] != "UND" and \
                f[7].split("@")[0] == name:
            return int(f[1], 16)
    raise H.BenchError(f"{lib}: no function {name}")


def first_insns(lib, vaddr, n=64):
    """[(vaddr, mnemonic)] of the function's first bytes (objdump)."""
    out = subprocess.run(["objdump", "-d", f"--start-address={vaddr:#x}",
                          f"--stop-address={vaddr + n:#x}", lib],
                         capture_output=True, text=True, timeout=60).stdout
    insns = []
    for m in re.finditer(r"^\s*([0-9a-f]+):\s+(?:[0-9a-f]{2} )+\s*(\S+)", out, re.M):
        insns.append((int(m.group(1), 16), m.group(2)))
    return insns


def tracefs_append(name, text):
    # One write(2) with O_APPEND (Python's "a" mode seeks, which tracefs refuses;
    # truncating uprobe_events would remove other people's probes).
    fd = os.open(TRACEFS / name, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def with_probe(a, lib, offset):
    tracefs_append("uprobe_events", f"p:{GROUP}/u {lib}:{offset:#x}\n")
    try:
        tracefs_append(f"events/{GROUP}/u/enable", "1")
        return median_cost(a)[0]
    finally:
        try:
            tracefs_append(f"events/{GROUP}/u/enable", "0")
        finally:
            tracefs_append("uprobe_events", f"-:{GROUP}/u\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", default="libcrypto.so.3")
    ap.add_argument("--func", default="RAND_bytes")
    ap.add_argument("--probe", metavar="NAME", help="probe this function (--func calls it)")
    ap.add_argument("--calls", type=int, default=100000)
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args()
    if not LOOP.exists():
        sys.exit(f"{LOOP} is missing: run `make all`")
    try:
        base, info = median_cost(a)
        lib, vaddr = info["lib"], int(info["addr"], 16)
        if a.probe:
            vaddr = symbol_vaddr(lib, a.probe)
        insns = first_insns(lib, vaddr)
        if not insns:
            raise H.BenchError(f"objdump found no code at {lib}:{vaddr:#x}")
        branch = next(((va, mn) for va, mn in insns if mn.startswith(("j", "call"))), None)
        res = {"lib": lib, "func": a.func, "probe": a.probe or a.func, "calls": a.calls,
               "untraced_ns": base,
               "entry": {"insn": insns[0][1], "ns": with_probe(a, lib, file_offset(lib, vaddr))}}
        if branch:
            res["branch"] = {"insn": branch[1], "at": f"+{branch[0] - vaddr:#x}",
                             "ns": with_probe(a, lib, file_offset(lib, branch[0]))}
    except KeyboardInterrupt:
        sys.exit(130)
    except H.BenchError as e:
        sys.exit(f"bench/uprobe_cost.py: {e}")
    print(f"{a.func} in {lib}: {base:.0f} ns/call without a probe; probes on "
          f"{res['probe']}")
    for k in ("entry", "branch"):
        if k in res:
            r = res[k]
            print(f"  uprobe at {k} ({r['insn']}{' ' + r['at'] if 'at' in r else ''}): "
                  f"{r['ns']:.0f} ns/call, +{r['ns'] - base:.0f} ns per hit")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
