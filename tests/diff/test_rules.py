"""Rules found on real root filesystems: hard-link payload placement, timestamps inside text
files, ldconfig's aux-cache, build logs; and unpacking hard links."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from eifdiff.formats.cpio import CpioMember
from eifdiff.normalize import normalize_members, parse_fixes
from eifdiff.unpack import unpack
from tests.builders import BOOT_CPIO, compare_pair, cpio, customer_members

GZIP_SCRIPT = b"#!/bin/sh\nexec gzip -d \"$@\"\n"


def _with_links(first_has_data: bool) -> list[CpioMember]:
    """rootfs/bin/gunzip and rootfs/bin/uncompress: one file, two names (nlink 2)."""
    ms = customer_members(extra=[("rootfs/bin/gunzip", b"", 0o755),
                                 ("rootfs/bin/uncompress", b"", 0o755)])
    out = []
    for m in ms:
        if m.name in ("rootfs/bin/gunzip", "rootfs/bin/uncompress"):
            carrier = (m.name == "rootfs/bin/gunzip") == first_has_data
            m = replace(m, nlink=2, ino=900, data=GZIP_SCRIPT if carrier else b"")
        out.append(m)
    return out


def _rows(report, **where):
    return [d for d in report.divergences
            if all(getattr(d, k) == v for k, v in where.items())]


def test_hard_link_payload_on_another_name_is_one_ordering_row(tmp_path: Path) -> None:
    report = compare_pair(tmp_path, {"ramdisks": [BOOT_CPIO, cpio(_with_links(True))]},
                          {"ramdisks": [BOOT_CPIO, cpio(_with_links(False))]})
    assert {d.category for d in report.causes} == {"ordering"}
    (link,) = _rows(report, field="hard-link data")
    assert (link.a, link.b) == ("payload on rootfs/bin/gunzip", "payload on rootfs/bin/uncompress")
    assert link.pcrs == ("PCR0", "PCR2")
    assert not _rows(report, category="content")


def test_order_normalization_moves_hard_link_payload_like_gnu_cpio() -> None:
    ordered = normalize_members(list(reversed(_with_links(True))), parse_fixes("order"))
    names = [m.name for m in ordered]
    assert names.index("rootfs/bin/uncompress") == names.index("rootfs/bin/gunzip") + 1
    carriers = [m.name for m in ordered if m.name.startswith("rootfs/bin/") and len(m.data)
                and m.nlink == 2]
    assert carriers == ["rootfs/bin/uncompress"]  # the last name written carries the data


def test_unpack_links_hard_linked_names(tmp_path: Path) -> None:
    from tests.builders import make_eif

    eif = make_eif(tmp_path / "a.eif", ramdisks=[BOOT_CPIO, cpio(_with_links(False))])
    unpack(eif, tmp_path / "out")
    gunzip = tmp_path / "out" / "ramdisk-1" / "rootfs" / "bin" / "gunzip"
    uncompress = gunzip.with_name("uncompress")
    assert gunzip.read_bytes() == uncompress.read_bytes() == GZIP_SCRIPT
    assert gunzip.stat().st_ino == uncompress.stat().st_ino and gunzip.stat().st_nlink == 2


def _log(times: tuple[str, str]) -> bytes:
    return (f"{times[0]} startup archives unpack\n{times[1]} install xz-utils:amd64 <none> "
            "5.4.1-0.2\n").encode()


def test_text_that_differs_only_in_timestamps(tmp_path: Path) -> None:
    a = customer_members(extra=[("rootfs/var/log/dpkg.log",
                                 _log(("2024-01-01 12:00:01", "2024-01-01 12:00:02")), 0o644)])
    b = customer_members(extra=[("rootfs/var/log/dpkg.log",
                                 _log(("2024-06-14 09:27:55", "2024-06-14 09:27:59")), 0o644)])
    report = compare_pair(tmp_path, {"ramdisks": [BOOT_CPIO, cpio(a)]},
                          {"ramdisks": [BOOT_CPIO, cpio(b)]})
    (row,) = report.causes
    assert (row.category, row.field) == ("timestamp", "timestamps in text")
    assert "/var/log" in row.hint


def test_a_log_with_other_changes_is_content_with_a_log_hint(tmp_path: Path) -> None:
    a = customer_members(extra=[("rootfs/var/log/apt.log", b"installed 40 packages\n", 0o644)])
    b = customer_members(extra=[("rootfs/var/log/apt.log", b"installed 41 packages\n", 0o644)])
    report = compare_pair(tmp_path, {"ramdisks": [BOOT_CPIO, cpio(a)]},
                          {"ramdisks": [BOOT_CPIO, cpio(b)]})
    (row,) = report.causes
    assert (row.category, row.field) == ("content", "log") and "/var/log" in row.hint
    assert row.length == 1  # from the first to the last differing byte


def test_ldconfig_aux_cache_is_inode_drift(tmp_path: Path) -> None:
    head = b"glibc-ld.so.auxcache-1.0"
    a = customer_members(extra=[("rootfs/var/cache/ldconfig/aux-cache",
                                 head + bytes(range(40)), 0o600)])
    b = customer_members(extra=[("rootfs/var/cache/ldconfig/aux-cache",
                                 head + bytes(range(40, 80)), 0o600)])
    report = compare_pair(tmp_path, {"ramdisks": [BOOT_CPIO, cpio(a)]},
                          {"ramdisks": [BOOT_CPIO, cpio(b)]})
    (row,) = report.causes
    assert (row.category, row.field) == ("inode", "ldconfig aux-cache")
    assert "aux-cache" in row.hint
