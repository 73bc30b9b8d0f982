# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""`spiketrace features` and what a kernel without BTF or without a needed
tracepoint gets told (issue 11; tools/vmtest runs this file on every kernel
of its matrix too).

The kernels the test cannot boot are imitated, never assumed:
* no BTF: --btf points at a file that does not exist, or is not BTF;
* BTF without the btf_trace_* types (a kernel too old for tp_btf on our
  tracepoints): a one-type BTF file the test writes itself;
* a kernel without the sock and tcp tracepoints: a private mount namespace
  with empty directories over tracefs' events/sock and events/tcp, and
  SPIKETRACE_NO_TP_BTF so that the classic tracepoints are what is looked for.
"""

import json
import shutil
import struct
import subprocess

import pytest

TRACEFS_EVENTS = "/sys/kernel/tracing/events"


def one_line(stderr):
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"want one error line, got:\n{stderr}"
    assert lines[0].startswith("spiketrace: "), lines[0]
    return lines[0]


def concern_lines(stdout):
    """{concern: variant text} from the plain `features` output."""
    out = {}
    for line in stdout.splitlines():
        name, _, rest = line.partition(" ")
        if name and not name.endswith(":"):
            out[name] = rest.strip()
    return out


def tiny_btf(path):
    """A valid BTF blob with one type (int) and nothing else."""
    strs = b"\0int\0"
    kind_int = 1
    types = struct.pack("<III", 1, kind_int << 24, 4) + struct.pack("<I", (1 << 24) | 32)
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strs))
    path.write_bytes(hdr + types + strs)
    return path


def test_features_text_and_json_agree(run_spiketrace):
    text = run_spiketrace(["features"])
    assert text.returncode == 0, text
    js = run_spiketrace(["features", "--json"])
    assert js.returncode == 0, js
    feat = json.loads(js.stdout)
    assert feat["btf"] is True
    assert f"btf:      yes (/sys/kernel/btf/vmlinux)" in text.stdout.splitlines()
    for key in ("ringbuf", "tp_btf", "fentry", "kprobe"):
        want = "yes" if feat[key] else "no"
        assert f"{key}:".ljust(10) + want in text.stdout.splitlines(), (key, text.stdout)
    shown = concern_lines(text.stdout)
    assert shown == feat["concerns"], (shown, feat["concerns"])
    for name in ("proc", "mem", "tls", "tcp", "cpu"):
        assert name in shown, text.stdout
        assert shown[name] and shown[name] != "unavailable", (name, shown[name])


@pytest.mark.parametrize("args", [["features"], ["proc", "-d", "1"], ["record", "-d", "1"]])
def test_missing_btf_file_is_one_clear_line(run_spiketrace, tmp_path, args):
    if args[0] == "record":
        args = args + ["-o", tmp_path / "x.rec"]
    res = run_spiketrace([*args, "--btf", "/nonexistent/vmlinux"])
    assert res.returncode == 1, res
    assert res.stdout == "", res
    line = one_line(res.stderr)
    assert "/nonexistent/vmlinux" in line and "BTF" in line, line
    assert not (tmp_path / "x.rec").exists()


def test_a_file_that_is_not_btf_is_named(run_spiketrace, tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x7fELF not BTF at all" * 10)
    res = run_spiketrace(["features", "--btf", junk])
    assert res.returncode == 1, res
    line = one_line(res.stderr)
    assert str(junk) in line and "not a BTF file" in line, line


def test_btf_without_tracepoint_types_takes_the_classic_variants(run_spiketrace, tmp_path):
    btf = tiny_btf(tmp_path / "tiny.btf")
    res = run_spiketrace(["features", "--btf", btf])
    assert f"btf:      yes ({btf})" in res.stdout.splitlines(), res
    shown = concern_lines(res.stdout)
    for name in ("proc", "mem", "tcp"):
        assert shown[name] != "unavailable" and "tp_btf" not in shown[name], (name, res.stdout)
    # The CO-RE programs cannot be relocated against it: one line, exit 1.
    res = run_spiketrace(["proc", "-d", "1", "--btf", btf])
    assert res.returncode == 1, res
    assert "proc" in one_line(res.stderr)


def test_missing_tracepoint_is_named(spiketrace_bin, tmp_path):
    """features says which concern is unavailable and exits 1; record names
    the missing tracepoint in one warning line and records the rest."""
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) is missing"
    rec = tmp_path / "x.rec"
    script = (
        f"mount -t tmpfs none {TRACEFS_EVENTS}/sock && "
        f"mount -t tmpfs none {TRACEFS_EVENTS}/tcp && "
        f"{{ {spiketrace_bin} features; echo features_rc=$?; "
        f"{spiketrace_bin} record -d 1 -o {rec}; echo record_rc=$?; }}"
    )
    res = subprocess.run(
        [unshare, "-m", "--propagation", "private", "/bin/sh", "-c", script],
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SPIKETRACE_NO_TP_BTF": "1"},
        capture_output=True, text=True, timeout=120,
    )
    assert "features_rc=1" in res.stdout, res
    assert "record_rc=0" in res.stdout, res
    shown = concern_lines(res.stdout)
    assert shown["tcp"] == "unavailable", res.stdout
    assert shown["proc"] != "unavailable", res.stdout
    said = [ln for ln in res.stderr.splitlines() if ln.startswith("spiketrace: tcp: ")]
    assert said and all("sock:inet_sock_set_state" in ln for ln in said), res.stderr
    assert rec.stat().st_size > 0
