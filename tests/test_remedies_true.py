"""Remedies that are true: what a remedy says remains is what `eifdiff normalize --fix NAME` on
both files followed by `eifdiff` finds, on every sample pair and on a pair like two builds of
one root filesystem (a clock offset, build logs, an ldconfig cache, inode numbers from the build
filesystem)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from eifdiff.compare import compare_files
from eifdiff.remedies import remaining_rows
from eifdiff.report.model import Report
from tests.builders import BOOT_CPIO, MTIME, cpio, customer_members, make_eif
from tests.helpers import cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
PAIRS = sorted(p.name for p in SAMPLES.iterdir() if (p / "a.eif").is_file())


def _rootfs_pair(tmp: Path) -> tuple[Path, Path]:
    def build(side: str, offset: int, log: bytes, cache: bytes, ino0: int) -> Path:
        extra = [("rootfs/var/log/dpkg.log", log, 0o644),
                 ("rootfs/var/cache/ldconfig/aux-cache", b"glibc-ld.so.auxcache-1.0\0" + cache,
                  0o600)]
        ms = [replace(m, mtime=MTIME + 7 * i + offset, ino=ino0 + 31 * i)
              for i, m in enumerate(customer_members(extra=extra))]
        return make_eif(tmp / f"{side}.eif", ramdisks=[BOOT_CPIO, cpio(ms)])

    return (build("a", 0, b"2024-01-01 00:00:00 install x\n", b"A", 5_581_090),
            build("b", 29, b"2024-01-01 00:00:29 install x\n", b"B", 5_851_445))


def _check(a: Path, b: Path, report: Report, tmp: Path) -> int:
    checked = 0
    for r in report.remedies:
        if r.kind == "none":
            assert r.remaining == remaining_rows(report.divergences)
            continue
        paths = []
        for side, src in (("a", a), ("b", b)):
            out = tmp / f"{r.name.replace(',', '+')}-{side}.eif"
            rc, _, err = cli("normalize", "--fix", r.name, src, out)
            assert rc == 0, err
            paths.append(out)
        again = compare_files(*paths, remedies=False)
        assert r.remaining == remaining_rows(again.divergences), r.name
        assert r.fixes == all(again.pcr_equal.values()), r.name
        checked += 1
    return checked


@pytest.mark.parametrize("pair", PAIRS)
def test_every_sample_remedy_leaves_what_it_says(pair: str, tmp_path: Path) -> None:
    a, b = SAMPLES / pair / "a.eif", SAMPLES / pair / "b.eif"
    _check(a, b, compare_files(a, b), tmp_path)


def test_a_root_filesystem_pair(tmp_path: Path) -> None:
    a, b = _rootfs_pair(tmp_path)
    report = compare_files(a, b)
    assert sorted(r.kind for r in report.root_causes) == ["build-clock", "cache", "inode", "log"]
    assert _check(a, b, report, tmp_path) >= 2
    last = report.remedies[-1]
    assert not last.fixes
    assert {x.category for x in last.remaining} == {"inode", "timestamp"}  # cache, log
    assert {x.example for x in last.remaining} == {
        "ramdisk[1]:rootfs/var/cache/ldconfig/aux-cache", "ramdisk[1]:rootfs/var/log/dpkg.log"}
