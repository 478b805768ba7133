"""Rows locate themselves: names holding `:`, `#`, newlines and non-UTF-8 bytes inside a
compressed ramdisk give rows whose structured fields and offsets are right, and they survive the
JSON report."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from eifdiff.compare import compare_files
from eifdiff.load import load
from eifdiff.report.model import Report, load_report, write_json
from tests.builders import AWKWARD_NAMES, awkward_pair


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return awkward_pair(tmp_path_factory.mktemp("awkward"))


@pytest.fixture(scope="module")
def report(pair: tuple[Path, Path]) -> Report:
    return compare_files(*pair)


def test_rows_name_entries_verbatim(report: Report) -> None:
    entries = {d.entry for d in report.divergences if d.entry is not None}
    assert set(AWKWARD_NAMES) <= entries
    for name in AWKWARD_NAMES[1:]:
        (row,) = [d for d in report.divergences if d.entry == name]
        assert (row.section, row.field, row.occurrence, row.part) == (
            "ramdisk[1]", "mtime", 0, None)


def test_offsets_state_their_space_and_point_at_the_bytes(report: Report,
                                                          pair: tuple[Path, Path]) -> None:
    (comp,) = [d for d in report.divergences if d.field == "comp_dir"]
    assert (comp.entry, comp.part) == ("rootfs/bin/app:v2", "DW_AT_comp_dir")
    assert comp.stream_a == comp.stream_b == "gzip"
    mtimes = [d for d in report.divergences if d.field == "mtime"]
    with load(pair[0]) as a, load(pair[1]) as b:
        (piece_a,) = a.ramdisks[1].pieces
        (piece_b,) = b.ramdisks[1].pieces
        assert piece_a.stream == "gzip"
        assert comp.offset_a is not None and comp.offset_b is not None
        assert bytes(piece_a.view[comp.offset_a:]).startswith(str(comp.a).encode() + b"\0")
        assert bytes(piece_b.view[comp.offset_b:]).startswith(str(comp.b).encode() + b"\0")
        for d in mtimes:  # each points at the 8 hex digits of its entry's c_mtime
            assert d.stream_a == "gzip" and d.offset_a is not None
            assert int(bytes(piece_a.view[d.offset_a : d.offset_a + 8]), 16) == int(
                str(d.a).split()[0])


def test_duplicate_names_by_occurrence(report: Report) -> None:
    dup = [d for d in report.divergences if d.entry == "cmd"]
    assert {(d.occurrence, d.category) for d in dup if d.is_cause} == {(1, "content")}
    assert "cmd (2nd)" in dup[0].path
    assert not [d for d in report.divergences if d.category == "ordering"]


def test_names_round_trip_through_json(report: Report, tmp_path: Path) -> None:
    out = io.StringIO()
    write_json(report, out)
    text = out.getvalue()
    text.encode("utf-8")  # valid UTF-8: no lone surrogates written
    doc = json.loads(text)
    odd = [d for d in doc["divergences"] if "entry_hex" in d]
    assert [bytes.fromhex(d["entry_hex"]) for d in odd] == [b"rootfs/etc/bad-\xff-utf8"]
    assert odd[0]["entry"] == "rootfs/etc/bad-\ufffd-utf8"
    saved = tmp_path / "r.json"
    saved.write_text(text, encoding="utf-8")
    assert load_report(saved).divergences == report.divergences
