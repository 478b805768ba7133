"""Entry order as a cause (`ordering`, with the inode renumbering `--reproducible` makes follow it),
and the order of the report's own rows: causes first, then derived rows, in a deterministic order
that does not depend on the interpreter's hash seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from eifdiff.compare import compare_files
from eifdiff.diff.ramdisk import moved_entries
from eifdiff.formats.cpio import S_IFREG, CpioMember
from eifdiff.load import load
from eifdiff.report.model import report_doc
from eifdiff.report.text import rank, report_text
from tests.builders import (
    BOOT_CPIO,
    MTIME_B,
    RAMDISK1,
    causes,
    changed,
    compare_pair,
    cpio,
    customer_members,
    make_eif,
    rows_of,
)

# --- the fewest moved entries ---------------------------------------------------------------


@pytest.mark.parametrize(("a", "b", "count", "exactly"), [
    ("abcde", "abcde", 0, ""),
    ("abcde", "bacde", 1, None),  # a swap: either of the two explains it
    ("abcde", "bcdea", 1, "a"),  # a rotation: only the first moved
    ("abcde", "eabcd", 1, "e"),
    ("abcde", "edcba", 4, None),  # a reversal: all but one
    ("abcde", "acbed", 2, None),
    ("abcxy", "abcz", 0, ""),  # names on one side only are not "moved"
    ("", "", 0, ""),
])
def test_moved_entries(a: str, b: str, count: int, exactly: str | None) -> None:
    got = moved_entries(list(a), list(b))
    assert len(got) == count
    if exactly is not None:
        assert "".join(got) == exactly
    # whatever was kept is in the same relative order on both sides
    kept_a = [x for x in a if x in b and x not in got]
    kept_b = [x for x in b if x in a and x not in got]
    assert kept_a == kept_b


def test_moved_entries_large_is_fast() -> None:
    names = [f"f{i:06d}" for i in range(50_000)]
    shuffled = names[1:] + names[:1]
    assert moved_entries(names, shuffled) == ["f000000"]


# --- ordering as a cause --------------------------------------------------------------------


def _reorder(ms: list[CpioMember], order: list[str], renumber: bool) -> list[CpioMember]:
    by_name = {m.name: m for m in ms}
    out = [by_name[n] for n in order]
    if renumber:
        out = [CpioMember(**{**_fields(m), "ino": i}) for i, m in enumerate(out)]
    return out


def _fields(m: CpioMember) -> dict[str, object]:
    return {k: getattr(m, k) for k in CpioMember.__slots__}


def test_order_only(tmp_path: Path) -> None:
    ms = customer_members()
    names = [m.name for m in ms]
    order = [names[1], names[0], *names[2:]]  # env before cmd; inode numbers stay with names
    report = compare_pair(tmp_path, {}, {"ramdisks": [BOOT_CPIO, cpio(_reorder(ms, order,
                                                                               False))]})
    assert causes(report) == {"ordering"}
    (d,) = rows_of(report, "ordering")
    assert (d.path, d.layer, d.field, d.pcrs) == ("ramdisk[1]", "cpio-entry", "order", RAMDISK1)
    assert str(d.a).startswith("1 of 7 entries in another order, e.g. ")
    assert str(d.b).startswith("order of b: env, cmd, rootfs")
    assert d.hint and "sort" in d.hint
    # the offsets point at the moved entry's header on each side
    with load(tmp_path / "a.eif") as a, load(tmp_path / "b.eif") as b:
        moved = str(d.a).rsplit("e.g. ", 1)[1]
        ha = next(m.entry.header_offset for m in a.ramdisks[1].members() if m.entry.name == moved)
        hb = next(m.entry.header_offset for m in b.ramdisks[1].members() if m.entry.name == moved)
    assert (d.offset_a, d.offset_b) == (ha, hb)
    assert not rows_of(report, "content") and not rows_of(report, "added")


def test_order_with_renumbered_inodes(tmp_path: Path) -> None:
    """cpio --reproducible numbers inodes in archive order, so the inode rows follow the order."""
    ms = customer_members()
    names = [m.name for m in ms]
    order = [names[0], *reversed(names[1:])]
    b = cpio(_reorder(ms, order, True))
    report = compare_pair(tmp_path, {}, {"ramdisks": [BOOT_CPIO, b]})
    assert causes(report) == {"ordering"}
    (order,) = report.root_causes
    ino = [d for d in report.divergences if d.field == "ino"]
    assert ino and {(d.category, d.because) for d in ino} == {("derived", order.id)}
    assert all(d.pcrs == RAMDISK1 for d in report.causes)
    assert report.causes[0].category == "ordering"


def test_inode_numbers_shifted_by_an_addition_are_derived(tmp_path: Path) -> None:
    """One file added in the middle of an archive numbered densely in archive order: every
    later entry's inode number moves by one, and follows from the addition."""
    ms = customer_members()
    names = [m.name for m in ms]
    extra = CpioMember("rootfs/bin/zz-new", b"new\n", mode=S_IFREG | 0o644)
    at = names.index("rootfs/bin/app") + 1
    b = [*ms[:at], extra, *ms[at:]]
    b = [replace(m, ino=i) for i, m in enumerate(b)]
    report = compare_pair(tmp_path, {}, {"ramdisks": [BOOT_CPIO, cpio(b)]})
    assert causes(report) == {"added"}
    (added,) = report.root_causes
    ino = [d for d in report.divergences if d.field == "ino"]
    assert len(ino) == len(ms) - at
    assert {(d.category, d.because) for d in ino} == {("derived", added.id)}
    assert added.kind == "added" and added.title.startswith("1 entry added under rootfs/bin/")


def test_duplicate_names_are_paired_by_occurrence(tmp_path: Path) -> None:
    """A name that occurs twice (a later entry overrides the earlier on unpacking) is paired
    occurrence by occurrence (0 and 1), never by a label a real name could take."""
    ms = customer_members()
    dup = CpioMember("cmd", b"/bin/other\n", mode=S_IFREG | 0o644, ino=50)
    a = cpio([*ms, dup])
    b = cpio([*ms, CpioMember("cmd", b"/bin/OTHER\n", mode=S_IFREG | 0o644, ino=50)])
    report = compare_pair(tmp_path, {"ramdisks": [BOOT_CPIO, a]}, {"ramdisks": [BOOT_CPIO, b]})
    assert [(d.entry, d.occurrence, d.category) for d in report.causes] == [
        ("cmd", 1, "content")]


# --- order of the report's rows -------------------------------------------------------------


def test_causes_before_derived(tmp_path: Path) -> None:
    ms = changed(customer_members(), "rootfs/etc/os-release", data=b"x" * 5000, mtime=MTIME_B)
    report = compare_pair(tmp_path, {}, {"ramdisks": [BOOT_CPIO, cpio(ms)], "name": "other"})
    flags = [d.is_cause for d in report.divergences]
    assert True in flags and False in flags
    assert flags == sorted(flags, reverse=True)
    doc = report_doc(report)
    assert [(r["path"], r["field"]) for r in doc["divergences"]] == [
        (d.path, d.field) for d in report.divergences]
    ranked = rank(report.divergences)
    assert [d.is_cause for d in ranked] == sorted(flags, reverse=True)
    # among causes, those moving more PCRs come first (metadata moves none)
    counts = [len(d.pcrs) for d in ranked if d.is_cause]
    assert counts == sorted(counts, reverse=True)
    text = report_text(report)
    lines = [t for t in text.splitlines() if t.startswith("  [")]
    assert lines[0].startswith(("  [content", "  [timestamp"))
    assert lines[-1].startswith("  [derived]")


def _added_removed_pair(tmp_path: Path) -> tuple[Path, Path]:
    extra = [(f"rootfs/extra/f{i:02d}", f"file {i}\n".encode(), 0o644) for i in range(12)]
    gone = [(f"rootfs/old/g{i:02d}", f"old {i}\n".encode(), 0o644) for i in range(12)]
    a = make_eif(tmp_path / "a.eif", ramdisks=[BOOT_CPIO, cpio(customer_members(extra=gone))])
    b = make_eif(tmp_path / "b.eif", ramdisks=[BOOT_CPIO, cpio(customer_members(extra=extra))])
    return a, b


def test_added_and_removed_rows_follow_archive_order(tmp_path: Path) -> None:
    a, b = _added_removed_pair(tmp_path)
    report = compare_files(a, b)
    added = [d.path for d in rows_of(report, "added")]
    removed = [d.path for d in rows_of(report, "removed")]
    with load(a) as ia, load(b) as ib:
        names_a = [f"ramdisk[1]:{m.entry.name}" for m in ia.ramdisks[1].members()]
        names_b = [f"ramdisk[1]:{m.entry.name}" for m in ib.ramdisks[1].members()]
    assert removed == [n for n in names_a if n not in names_b]
    assert added == [n for n in names_b if n not in names_a]


_PRINT_ROWS = (
    "import json, sys; from eifdiff.compare import compare_files; "
    "r = compare_files(sys.argv[1], sys.argv[2]); "
    "print(json.dumps([(d.path, d.field, d.category) for d in r.divergences]))"
)


def test_rows_do_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    a, b = _added_removed_pair(tmp_path)
    outputs = set()
    for seed in ("0", "1", "2", "3"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        proc = subprocess.run([sys.executable, "-c", _PRINT_ROWS, str(a), str(b)], env=env,
                              capture_output=True, text=True, check=True, timeout=60)
        outputs.add(proc.stdout)
    assert len(outputs) == 1, "row order changes with PYTHONHASHSEED"
    assert len(json.loads(outputs.pop())) >= 24
