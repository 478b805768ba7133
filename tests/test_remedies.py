"""Remedies: the report names the normalization that makes a pair's PCRs equal, its
counterfactual PCRs are what `eifdiff normalize` then writes, and no remedy claims to fix a pair
that differs in real content, the command line or the kernel."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from eifdiff.build import build_eif
from eifdiff.compare import compare_files
from eifdiff.formats.cpio import S_IFDIR, S_IFREG, CpioMember, read_archive, write_archive
from eifdiff.load import load
from eifdiff.remedies import Remedy, smallest_fix
from eifdiff.report.model import Report
from tests.helpers import cli, small_metadata

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
PCRS = ("PCR0", "PCR1", "PCR2", "PCR8")

# Each pair that differs in one thing a normalization undoes, and the smallest fix.
FIXABLE = {
    "cpio-mtime": "mtime",
    "cpio-order": "order,inode",
    "cpio-owner": "owner",
    "cpio-inode": "inode",
    "cpio-mode": "mode",
    "gzip-header": "gzip",
    "build-time": "build-time",
}


def measurements(path: Path) -> dict[str, str]:
    rc, out, err = cli("describe", "--json", path)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["CheckCRC"] is True
    return {k: v for k, v in doc["Measurements"].items() if k in PCRS}


def cli_remedies(a: Path, b: Path) -> list[dict[str, Any]]:
    rc, out, err = cli(a, b, "--json")
    assert rc in (0, 1), err
    return json.loads(out)["remedies"]


def check_normalized(tmp_path: Path, a: Path, b: Path, remedy: Remedy) -> None:
    """`eifdiff normalize --fix NAME` on both files: the PCRs the remedy predicted, equal."""
    outs = {}
    for side, src in (("a", a), ("b", b)):
        out = tmp_path / f"{side}.norm.eif"
        rc, stdout, err = cli("normalize", "--fix", remedy.name, src, out)
        assert rc == 0, err
        outs[side] = out
        pcrs = measurements(out)
        assert pcrs == remedy.pcrs_after[side], side
        assert {k: v for k, v in json.loads(stdout)["Measurements"].items() if k in PCRS} \
            == pcrs
    assert measurements(outs["a"]) == measurements(outs["b"])
    if remedy.identical_after:
        assert outs["a"].read_bytes() == outs["b"].read_bytes()


def fixing(report: Report) -> list[Remedy]:
    return [r for r in report.remedies if r.fixes]


# ---------------------------------------------------------------------------------------------
# the samples


@pytest.mark.parametrize("pair", sorted(FIXABLE))
def test_sample_remedy(pair: str, tmp_path: Path) -> None:
    a, b = SAMPLES / pair / "a.eif", SAMPLES / pair / "b.eif"
    report = compare_files(a, b)
    want = FIXABLE[pair]
    best = smallest_fix(report.remedies)
    assert best is not None, [r.to_dict() for r in report.remedies]
    assert best.name == want and best.fixes
    assert all(best.pcr_equal_after.values())
    assert best.pcrs_after["a"] == best.pcrs_after["b"]
    assert not best.remaining
    # the same from the command line's JSON
    listed = {r["name"]: r for r in cli_remedies(a, b)}
    assert listed[want]["fixes"] is True
    assert listed[want]["pcrs_after"] == best.pcrs_after
    assert listed[want]["pcr_equal_after"] == best.pcr_equal_after
    # and `eifdiff normalize --fix NAME` on both files gives those PCRs, equal
    check_normalized(tmp_path, a, b, best)


def test_cpio_order_needs_order_and_inode() -> None:
    report = compare_files(SAMPLES / "cpio-order" / "a.eif", SAMPLES / "cpio-order" / "b.eif")
    by_name = {r.name: r for r in report.remedies}
    assert by_name["order"].kind == "single" and by_name["order"].fixes is False
    assert by_name["order"].pcr_equal_after["PCR2"] is False
    assert by_name["inode"].fixes is False
    both = by_name["order,inode"]
    assert both.kind == "smallest" and both.fixes and both.identical_after
    assert "order alone" in both.note
    assert [r.name for r in fixing(report)] == ["order,inode"]


@pytest.mark.parametrize("pair", ["cpio-order", "cpio-owner", "cpio-inode", "cpio-mode",
                                  "build-time"])
def test_remedy_on_an_already_normal_image_changes_no_pcr(pair: str) -> None:
    """a.eif was packed as `cpio --reproducible --owner=0:0` under umask 022 writes: the
    counterfactual of a is its own PCRs, and only b's move."""
    report = compare_files(SAMPLES / pair / "a.eif", SAMPLES / pair / "b.eif")
    best = smallest_fix(report.remedies)
    assert best is not None
    assert best.pcrs_after["a"] == report.a.pcrs
    assert best.pcrs_after["b"] == report.a.pcrs


# ---------------------------------------------------------------------------------------------
# pairs no normalization fixes

KERNEL = hashlib.shake_256(b"eifdiff remedies kernel").digest(8192)
BOOT = write_archive([CpioMember("init", data=b"\x7fELF init", mode=S_IFREG | 0o755)])


def customer(*, mtime: int = 1704067200, content: bytes = b"print('hello')\n",
             extra_mtime: int | None = None) -> bytes:
    return write_archive([
        CpioMember("app", mode=S_IFDIR | 0o755, nlink=2, mtime=mtime, ino=0),
        CpioMember("app/main.py", data=content, mtime=extra_mtime or mtime, ino=1),
        CpioMember("app/README", data=b"readme\n" * 30, mtime=mtime, ino=2),
    ])


def build(path: Path, ramdisk: bytes, cmdline: bytes = b"console=ttyS0 quiet") -> Path:
    build_eif(path, kernel=KERNEL, cmdline=cmdline, ramdisks=[BOOT, ramdisk],
              metadata=small_metadata("remedies", build_time="2024-01-01T00:00:00+00:00"))
    return path


def built_pair(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    a = build(tmp_path / "a.eif", customer())
    if kind == "content":
        b = build(tmp_path / "b.eif", customer(content=b"print('hallo')\n"))
    elif kind == "cmdline":
        b = build(tmp_path / "b.eif", customer(), cmdline=b"console=ttyS0 debug")
    else:  # content and mtimes: the mtime remedy applies, but content remains
        b = build(tmp_path / "b.eif", customer(mtime=1718357275, content=b"print('hallo')\n"))
    return a, b


NOT_FIXABLE = {
    # pair: categories `remaining` must name
    "elf-build-path": {"build-path"},  # the build-id follows from the paths (derived)
    "kernel-host": {"build-host"},
    "built:content": {"content"},
    "built:cmdline": {"cmdline"},
    "built:content+mtime": {"content"},
}


@pytest.mark.parametrize("pair", sorted(NOT_FIXABLE))
def test_no_remedy_claims_a_fix(pair: str, tmp_path: Path) -> None:
    if pair.startswith("built:"):
        a, b = built_pair(tmp_path, pair.removeprefix("built:"))
    else:
        a, b = SAMPLES / pair / "a.eif", SAMPLES / pair / "b.eif"
    report = compare_files(a, b)
    assert report.verdict == "different"
    assert report.remedies, "the report must say what remains"
    assert not fixing(report), [r.to_dict() for r in report.remedies]
    assert smallest_fix(report.remedies) is None
    last = report.remedies[-1]
    assert last.kind in ("none", "all")
    assert not all(last.pcr_equal_after.values())
    categories = {x.category for x in last.remaining}
    assert NOT_FIXABLE[pair] <= categories, last.remaining
    for x in last.remaining:
        assert x.hint and x.count >= 1 and x.example, x
    listed = cli_remedies(a, b)
    assert not any(r["fixes"] for r in listed)
    assert {x["category"] for x in listed[-1]["remaining"]} == categories
    rc, text, _ = cli(a, b)
    assert rc == 1
    assert "fixes: every PCR equal" not in text
    for category in NOT_FIXABLE[pair]:
        assert f"remains: {category} (" in text, text


def test_content_and_mtime_pair_reports_mtime_as_partial(tmp_path: Path) -> None:
    report = compare_files(*built_pair(tmp_path, "content+mtime"))
    singles = [r for r in report.remedies if r.kind == "single"]
    assert [r.name for r in singles] == ["mtime"] and not singles[0].fixes
    assert report.remedies[-1].kind == "all"
    assert [x.category for x in report.remedies[-1].remaining] == ["content"]
    assert report.remedies[-1].remaining[0].example.endswith("app/main.py")


def test_no_combination_is_tried_when_all_together_do_not_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Content, mtimes, owners and modes differ: three normalizations apply, all three together
    leave the content, so no pair of them is measured (each would cost two more hashings)."""
    from eifdiff import remedies

    tried: list[str] = []
    real = remedies.measure_normalized

    def spy(img: Any, fixes: Any) -> Any:
        tried.append(",".join(f.name for f in fixes))
        return real(img, fixes)

    monkeypatch.setattr(remedies, "measure_normalized", spy)
    monkeypatch.setattr(remedies, "in_parallel", lambda calls, **_: [c() for c in calls])
    a = build(tmp_path / "a.eif", customer())
    b = build(tmp_path / "b.eif", write_archive([
        CpioMember("app", mode=S_IFDIR | 0o755, nlink=2, mtime=1718357275, ino=0),
        CpioMember("app/main.py", data=b"print('hallo')\n", mtime=1718357275, ino=1),
        CpioMember("app/README", data=b"readme\n" * 30, mtime=1718357275, ino=2, uid=1000,
                   gid=1000, mode=S_IFREG | 0o664),
    ]))
    report = compare_files(a, b, remedies=True)
    assert [(r.name, r.kind, r.fixes) for r in report.remedies] == [
        ("mtime", "single", False), ("owner", "single", False), ("mode", "single", False),
        ("mtime,owner,mode", "all", False)]
    assert sorted(set(tried)) == ["mode", "mtime", "mtime,owner,mode", "owner"]
    assert len(tried) == 8  # four fix sets, both images each
    assert [x.category for x in report.remedies[-1].remaining] == ["content"]


# ---------------------------------------------------------------------------------------------
# a gzip customer ramdisk: eifdiff compresses again, deterministically


@pytest.mark.parametrize("gzip_mtimes", [(0, 0), (1704067200, 1718357275)],
                         ids=["same-gzip-header", "gzip-mtime-too"])
def test_gzip_ramdisk_with_different_mtimes(tmp_path: Path, gzip_mtimes: tuple[int, int]) -> None:
    a = build(tmp_path / "a.eif", gzip.compress(customer(), 9, mtime=gzip_mtimes[0]))
    b = build(tmp_path / "b.eif",
              gzip.compress(customer(extra_mtime=1718357275), 9, mtime=gzip_mtimes[1]))
    report = compare_files(a, b)
    assert report.pcr_equal["PCR2"] is False
    by_name = {r.name: r for r in report.remedies}
    assert by_name["mtime"].fixes and by_name["mtime"].kind == "single"
    assert smallest_fix(report.remedies) is by_name["mtime"]
    listed = {r["name"]: r for r in cli_remedies(a, b)}
    assert listed["mtime"]["fixes"] is True
    rc, text, _ = cli(a, b)
    assert rc == 1
    assert any("--fix mtime" in line and "fixes" in line for line in text.splitlines()), text
    check_normalized(tmp_path, a, b, by_name["mtime"])
    # the normalized ramdisk is still gzip, and holds the CPIO with every mtime 0
    with load(tmp_path / "b.norm.eif") as img:
        (piece,) = img.ramdisks[1].pieces
        assert piece.compression == "gzip"
        assert piece.gzip is not None and piece.gzip.mtime == 0 and piece.gzip.name is None
        entries = read_archive(piece.view).members
        assert [e.mtime for e in entries] == [0, 0, 0]


FRESH_REMEDIES = """
import dataclasses, json, sys
from eifdiff.compare import compare_files
from eifdiff.measure import may_fork
assert may_fork()
report = compare_files(sys.argv[1], sys.argv[2], remedies=True)
print(json.dumps([dataclasses.asdict(r) for r in report.remedies]))
"""


@pytest.mark.parametrize("pair", ["gzip-header", "cpio-order"])
def test_remedies_in_forked_workers_equal_those_in_threads(pair: str) -> None:
    """Remedies measured in forked workers (a fresh process, no other thread, warnings as
    errors) equal those measured in threads (here, beside a thread of the test's own)."""
    a, b = SAMPLES / pair / "a.eif", SAMPLES / pair / "b.eif"
    proc = subprocess.run([sys.executable, "-W", "error", "-c", FRESH_REMEDIES, str(a), str(b)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    forked = json.loads(proc.stdout)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        found = compare_files(a, b, remedies=True).remedies
        threaded = json.loads(json.dumps([dataclasses.asdict(r) for r in found]))
    finally:
        stop.set()
        other.join()
    assert forked == threaded and any(r["fixes"] for r in forked)
