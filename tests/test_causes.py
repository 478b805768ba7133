"""Root causes (eifdiff/causes.py): a build clock offset, one clamp value on one side, logs and
caches of their own, owners grouped by pattern; each cause row carries its root cause."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from eifdiff.formats.cpio import S_IFREG, CpioMember
from eifdiff.report.model import Report
from tests.builders import BOOT_CPIO, MTIME, compare_pair, cpio, customer_members


def _pair(tmp: Path, b_members: list[CpioMember]) -> Report:
    return compare_pair(tmp, {}, {"ramdisks": [BOOT_CPIO, cpio(b_members)]})


def _every_cause_row_has_its_root_cause(report: Report) -> None:
    ids = {r.id for r in report.root_causes}
    for d in report.divergences:
        assert (d.root_cause in ids) if d.is_cause else (d.because is None or d.because in ids)
    assert sum(r.count for r in report.root_causes) == len(report.causes)


def test_clock_offset_names_the_gap(tmp_path: Path) -> None:
    ms = [replace(m, mtime=MTIME + 3 * i) for i, m in enumerate(customer_members())]
    offsets = [26, 29, 29, 30, 32, 28, 29]
    b = [replace(m, mtime=m.mtime + offsets[i % len(offsets)]) for i, m in enumerate(ms)]
    report = compare_pair(tmp_path, {"ramdisks": [BOOT_CPIO, cpio(ms)]},
                          {"ramdisks": [BOOT_CPIO, cpio(b)]})
    (clock,) = report.root_causes
    assert clock.kind == "build-clock" and clock.fix == "mtime"
    assert clock.count == len(ms)
    assert clock.facts["offset_median"] == 29
    assert (clock.facts["offset_min"], clock.facts["offset_max"]) == (26, 32)
    assert "b is 26–32 s later, median +29 s: the builds ran 29 s apart" in clock.evidence
    assert clock.facts["window_a_start"] == MTIME
    _every_cause_row_has_its_root_cause(report)


def test_clamp_on_one_side(tmp_path: Path) -> None:
    ms = [replace(m, mtime=MTIME + 17 * i) for i, m in enumerate(customer_members())]
    a = cpio(ms)
    b = cpio([replace(m, mtime=1_700_000_000) for m in ms])
    report = compare_pair(tmp_path, {"ramdisks": [BOOT_CPIO, a]}, {"ramdisks": [BOOT_CPIO, b]})
    (clamp,) = report.root_causes
    assert clamp.kind == "clamp" and clamp.facts == {"side": "b", "clamp": 1_700_000_000}
    assert clamp.evidence.startswith(f"all {len(ms):,} set to 1700000000")


def test_both_sides_clamped_to_different_values(tmp_path: Path) -> None:
    report = _pair(tmp_path, [replace(m, mtime=MTIME + 86_400) for m in customer_members()])
    (clamp,) = report.root_causes
    assert clamp.kind == "clamp" and clamp.facts["side"] == "both"
    assert (clamp.facts["clamp_a"], clamp.facts["clamp_b"]) == (MTIME, MTIME + 86_400)


def test_logs_caches_and_owners_are_their_own_root_causes(tmp_path: Path) -> None:
    extra_a = [("rootfs/var/log/dpkg.log", b"2024-01-01 00:00:00 install x\n", 0o644),
               ("rootfs/var/cache/ldconfig/aux-cache", b"glibc-ld.so.auxcache-1.0\0a", 0o600)]
    extra_b = [("rootfs/var/log/dpkg.log", b"2024-01-01 00:00:29 install x\nmore\n", 0o644),
               ("rootfs/var/cache/ldconfig/aux-cache", b"glibc-ld.so.auxcache-1.0\0b", 0o600)]
    a = customer_members(extra=extra_a)
    b = [replace(m, uid=1000) if m.name.startswith("rootfs/etc") else m
         for m in customer_members(extra=extra_b)]
    report = compare_pair(tmp_path, {"ramdisks": [BOOT_CPIO, cpio(a)]},
                          {"ramdisks": [BOOT_CPIO, cpio(b)]})
    kinds = sorted(r.kind for r in report.root_causes)
    assert kinds == ["cache", "log", "owner"]
    owner = next(r for r in report.root_causes if r.kind == "owner")
    assert owner.fix == "owner" and "uid 0 → 1000" in owner.evidence
    _every_cause_row_has_its_root_cause(report)


def test_derived_rows_point_at_their_cause(tmp_path: Path) -> None:
    ms = customer_members()
    b = [replace(m, data=b"x" * 9000) if m.name == "rootfs/etc/os-release" else m for m in ms]
    report = _pair(tmp_path, b)
    (content,) = report.root_causes
    size = next(d for d in report.divergences if d.field == "filesize")
    assert size.because == content.id
    assert S_IFREG  # entries here are regular files
