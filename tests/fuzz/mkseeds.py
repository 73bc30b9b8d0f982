#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Small fuzz seeds from real recordings (tests/fuzz/README.md).

    tests/fuzz/mkseeds.py OUTDIR REC...

A real recording is hundreds of KiB (every process alive at the start is a
1.4 KiB seed frame); a fuzzer wants a few KiB. For each recording this
keeps the header, a few cgroups and process seeds, the first frames of
each event type (the stacks the kept CPU samples need come along, being
early frames too), the triggers and the end frame, with CRCs recomputed
(docs/recording.md). Written per recording: NAME-all (every event type),
NAME-TYPE per event type group, NAME-cut (process events only, no end
frame, the last frame torn).
"""
import os
import struct
import sys
import zlib

HDR = struct.Struct("<8sII QQ II 64s64s")
FRAME = struct.Struct("<IIII")
REC_EVENT, REC_CGROUP, REC_PROC_SEED, REC_LOST, REC_END, REC_TRIGGER = 1, 2, 3, 4, 5, 6
GROUPS = {1: "proc", 2: "mem", 3: "tls", 4: "tcp", 5: "cpu", 6: "net"}
# The seeds are committed: names of the machine's own agents are replaced
# (same length, so every size field stays right), their command lines dropped.
SCRUB = [(b"process_api", b"workload.cg"), (b"bash_jobs", b"job_spool")]
DROP = [b"vsock", b"firecracker"]


def scrub(p):
    for old, new in SCRUB:
        p = p.replace(old, new)
    return p


def frames(data):
    hdr_size = HDR.unpack_from(data)[2]
    off = hdr_size
    while off + FRAME.size <= len(data):
        typ, ln, _crc, _pad = FRAME.unpack_from(data, off)
        payload = data[off + FRAME.size:off + FRAME.size + ln]
        if len(payload) < ln:
            break
        if not any(d in payload for d in DROP):
            yield typ, scrub(payload)
        off += FRAME.size + ((ln + 7) & ~7)


def frame(typ, payload):
    pad = (-len(payload)) % 8
    return FRAME.pack(typ, len(payload), zlib.crc32(payload) & 0xffffffff, 0) + payload + bytes(pad)


def pick(data, group=None, budget=3000, seeds=3, cgroups=6):
    """Frames to keep: each event type's first frames up to budget bytes (one at least)."""
    out = [data[:HDR.unpack_from(data)[2]]]
    count = {}
    size = {}
    n_seed = n_cg = 0
    for typ, p in frames(data):
        if typ == REC_CGROUP and n_cg < cgroups:
            n_cg += 1
            out.append(frame(typ, p))
        elif typ == REC_PROC_SEED and n_seed < seeds:
            n_seed += 1
            out.append(frame(typ, p))
        elif typ == REC_EVENT and len(p) >= 2:
            et = struct.unpack_from("<H", p)[0]
            g = GROUPS.get(et >> 8)
            if group and g not in (group, "proc"):
                continue
            limit = budget if not group or g == group else budget // 4
            if not count.get(et) or size[et] + len(p) <= limit:
                count[et] = count.get(et, 0) + 1
                size[et] = size.get(et, 0) + len(p)
                out.append(frame(typ, p))
        elif typ in (REC_LOST, REC_TRIGGER, REC_END):
            if count.get(-typ, 0) < 2 or typ == REC_END:
                count[-typ] = count.get(-typ, 0) + 1
                out.append(frame(typ, p))
    return out, {GROUPS.get(et >> 8) for et in count if et > 0}


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    for path in sys.argv[2:]:
        data = open(path, "rb").read()
        name = os.path.splitext(os.path.basename(path))[0]
        parts, groups = pick(data)
        open(os.path.join(outdir, name + "-all"), "wb").write(b"".join(parts))
        # Cut short: no end frame, and the last frame torn in the middle
        # (from the process events only, to keep it small).
        parts, _ = pick(data, group="proc")
        body = b"".join(p for p in parts if not p.startswith(struct.pack("<I", REC_END)))
        last = parts[-2] if len(parts) > 2 else b""
        open(os.path.join(outdir, name + "-cut"), "wb").write(body[:len(body) - len(last) // 2])
        for g in sorted(x for x in groups if x and x != "proc"):
            parts, _ = pick(data, group=g, budget=6000)
            open(os.path.join(outdir, "%s-%s" % (name, g)), "wb").write(b"".join(parts))


if __name__ == "__main__":
    main()
