"""Per-file drill-down: for every kind of entry a view and no traceback; differing byte ranges
exact; text files as a diff; ELF files as their section table."""

from __future__ import annotations

import pytest

from eifdiff.drill import MAX_RANGES, diff_ranges
from eifdiff.errors import EifdiffError
from eifdiff.notebook import Comparison, compare_eifs, open_report
from tests.view_pairs import clock_pair


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> Comparison:
    a, b = clock_pair(tmp_path_factory.mktemp("clock"))
    with compare_eifs(a, b) as c:
        yield c


@pytest.mark.parametrize(("a", "b", "ranges"), [
    (b"same", b"same", []),
    (b"abcdef", b"abXdeY", [(2, 3), (5, 6)]),
    (b"abc", b"abcdef", [(3, 6)]),
    (b"abcdef", b"abc", [(3, 6)]),
    (b"abcd", b"abXYZ", [(2, 5)]),  # a difference running into the longer tail is one range
    (bytes(10_000), bytes(5_000) + b"\1" + bytes(4_999), [(5_000, 5_001)]),
    (b"", b"x", [(0, 1)]),
])
def test_diff_ranges(a: bytes, b: bytes, ranges: list[tuple[int, int]]) -> None:
    assert diff_ranges(a, b) == ranges


def test_diff_ranges_bounded() -> None:
    a = bytes(1000)
    b = bytes(x % 2 for x in range(1000))
    assert len(diff_ranges(a, b)) == MAX_RANGES


def test_binary_file_as_hexdump_of_the_differing_ranges(comparison: Comparison) -> None:
    view = comparison.file("rootfs/usr/lib/blob.bin")
    assert view.kind == "bytes"
    assert view.ranges == ((300, 302), (1500, 1501))
    html = view._repr_html_()
    assert "0x12c–0x12e" in html and "0x5dc–0x5dd" in html
    assert '<span style="background:#fde2e1;color:#c92a2a">ff</span>' in html
    assert "content" not in set(view.header.loc[view.header["a"] != view.header["b"], "field"])


def test_text_file_as_a_diff(comparison: Comparison) -> None:
    view = comparison.file("rootfs/var/log/dpkg.log")
    assert view.kind == "text"
    html = view._repr_html_()
    assert ">+2026-11-29 01:03:07 status installed pkg7-rebuilt<" in html
    assert ">-2026-11-29 01:01:07 status installed pkg7<" in html
    assert ">+2026-11-29 01:03:04 status installed pkg4<" in html


@pytest.mark.parametrize(("entry", "kind"), [
    ("rootfs/usr/lib/added.so", "only-b"),
    ("rootfs", "special"),
    ("rootfs/etc/zero0", "equal"),
    ("rootfs/usr/share/f000.txt", "equal"),
])
def test_every_entry_kind_has_a_view(comparison: Comparison, entry: str, kind: str) -> None:
    view = comparison.file(entry)
    assert view.kind == kind
    assert "<table" in view._repr_html_()
    assert repr(view).startswith(f"<ramdisk[1]:{entry}: {kind}")


def test_every_entry_opens_without_error(comparison: Comparison) -> None:
    for _, row in comparison.entries().iterrows():
        view = comparison.file(row["name"], row["ramdisk"], int(row["occurrence"]))
        assert view.kind in ("equal", "special", "bytes", "text", "elf", "only-a", "only-b")


def test_unknown_entry_and_saved_report_say_so(comparison: Comparison, tmp_path) -> None:
    with pytest.raises(EifdiffError, match="no entry 'nope'"):
        comparison.file("nope")
    from eifdiff.report.model import write_json

    path = tmp_path / "r.json"
    with path.open("w") as out:
        write_json(comparison.report, out)
    with pytest.raises(EifdiffError, match="reads the EIF files"):
        open_report(path).file("rootfs")


def test_elf_file_shows_its_sections() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "samples" / "elf-build-path"
    with compare_eifs(root / "a.eif", root / "b.eif") as c:
        entry = c.changed_files()["entry"].iloc[0]
        view = c.file(entry)
        assert view.kind == "elf"
        assert "sections differ" in view._repr_html_()
        assert ".debug_str" in view._repr_html_() or ".note.gnu.build-id" in view._repr_html_()


def test_close_ranges_merge_for_display() -> None:
    from eifdiff.drill import merged

    assert merged([(0, 2), (10, 12), (40, 41)]) == [(0, 12), (40, 41)]
    assert merged([]) == []
