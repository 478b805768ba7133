"""pandas views: root causes, grouping by root cause, entries with content changes beside header
fields, integers as integers, and one definition of "moved"."""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

import pytest

from eifdiff import frames
from eifdiff.formats.cpio import S_IFDIR, CpioMember
from eifdiff.notebook import Comparison, compare_eifs
from tests.builders import BOOT_CPIO, cpio, make_eif
from tests.helpers import run_measured
from tests.view_pairs import FILES, clock_pair


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> Comparison:
    a, b = clock_pair(tmp_path_factory.mktemp("clock"))
    with compare_eifs(a, b) as c:
        c.entries()  # read while open
        yield c


@pytest.mark.parametrize(("a", "b", "moved"), [
    ([0, 1, 2, 3], [0, 1, 2, 3], []),
    ([0, 1, 2, 3], [3, 0, 1, 2], [0]),  # the first entry taken to the end: one move, not four
    ([0, 1, 2, 3], [1, 2, 3, 0], [3]),  # the last taken to the front: one move
    ([0, 1, 2, 3], [3, 2, 1, 0], [0, 1, 2]),  # reversed: all but one
    ([0, 2, 4], [0, 5, 9], []),  # gaps (additions, removals) move nothing
    ([], [], []),
])
def test_moved_is_the_fewest_entries_out_of_order(a: list[int], b: list[int],
                                                  moved: list[int]) -> None:
    mask = frames.moved_mask(a, b)
    assert [i for i, m in enumerate(mask) if m] == moved
    rest = sorted((x, y) for (x, y), m in zip(zip(a, b, strict=True), mask, strict=True) if not m)
    assert [y for _, y in rest] == sorted(y for _, y in rest)


def test_root_causes_frame_matches_the_report(comparison: Comparison) -> None:
    df = comparison.root_causes()
    rcs = comparison.report.root_causes
    assert list(df.index) == [r.id for r in rcs]
    assert list(df["rows"]) == [r.count for r in rcs]
    assert list(df["derived"]) == [r.derived for r in rcs]
    assert list(df["title"]) == [r.title for r in rcs]
    assert df.loc[rcs[0].id, "pcrs"] == ",".join(rcs[0].pcrs)


def test_divergences_grouped_by_root_cause(comparison: Comparison) -> None:
    rows = comparison.divergences()
    clock = next(r for r in comparison.report.root_causes if r.kind == "build-clock")
    own = comparison.divergences(root_cause=clock.id)
    assert len(own) == clock.count + clock.derived
    assert set(own["group"]) == {clock.id}
    counts = comparison.by_root_cause()
    assert counts["rows"].sum() == len(rows)
    ids = [r.id for r in comparison.report.root_causes]
    assert list(counts.index)[: len(ids)] == [i for i in ids if i in set(counts.index)]
    assert counts.loc[clock.id, "rows"] == clock.count + clock.derived


def test_epochs_shown_with_their_date(comparison: Comparison) -> None:
    rows = comparison.divergences()
    mtime = rows[rows["field"] == "mtime"].iloc[0]
    assert mtime["a"].endswith("Z)") and "2026-11-29T" in mtime["a"]


def test_entries_show_content_beside_header_fields(comparison: Comparison) -> None:
    df = comparison.entries()
    blob = df[df["name"] == "rootfs/usr/lib/blob.bin"].iloc[0]
    assert blob["status"] == "changed"
    assert blob["differs"].split(",")[0] == "content"
    assert blob["content_a"] != blob["content_b"]
    same_bytes = df[df["name"] == "rootfs/usr/share/f000.txt"].iloc[0]
    assert same_bytes["differs"] == "mtime"
    for column in ("filesize_a", "mtime_b", "ino_a", "index_b", "nlink_a"):
        assert str(df[column].dtype) == "Int64", column
    added = df[df["status"] == "added"]
    assert list(added["name"]) == ["rootfs/usr/lib/added.so"]
    assert added["filesize_a"].isna().all()


def test_one_definition_of_moved(comparison: Comparison) -> None:
    df = comparison.entries()
    # one entry added in b shifts every later index, and moves nothing
    assert not df["moved"].any()
    counts = comparison.entry_counts()
    assert counts.loc["ramdisk[1]", "moved"] == 0
    assert counts.loc["ramdisk[1]", "moved (any status)"] == 0
    assert counts.loc["ramdisk[1]", "added"] == 1
    assert counts.loc["ramdisk[1]", "content differs"] == 2
    order = comparison.order("ramdisk[1]")
    assert not order["moved"].any() and len(order) == FILES + 6


def test_changed_files_from_the_rows(comparison: Comparison) -> None:
    files = comparison.changed_files()
    assert set(files["entry"]) == {"rootfs/var/log/dpkg.log", "rootfs/usr/lib/blob.bin"}
    assert files["root_cause"].notna().all()


def test_clock_offsets_are_the_mtime_rows(comparison: Comparison) -> None:
    from eifdiff.plots import clock_offsets

    offsets = [x for _, x in clock_offsets(comparison.report)]
    assert len(offsets) == FILES  # every file; the folder kept its time
    assert statistics.median(offsets) == 130


def test_saved_report_gives_the_same_root_causes(comparison: Comparison, tmp_path: Path) -> None:
    from eifdiff.notebook import open_report
    from eifdiff.report.model import write_json

    path = tmp_path / "r.json"
    with path.open("w") as out:
        write_json(comparison.report, out)
    saved = open_report(path)
    assert saved.root_causes().equals(comparison.root_causes())
    assert saved.by_root_cause().equals(comparison.by_root_cause())


def test_moved_count_is_the_ordering_rows_count() -> None:
    from tests.helpers import REPO_ROOT

    root = REPO_ROOT / "samples" / "cpio-order"
    with compare_eifs(root / "a.eif", root / "b.eif") as c:
        order = [d for d in c.report.divergences if d.category == "ordering" and d.field == "order"]
        assert order
        counts = c.entry_counts()
        for d in order:
            moved = int(str(d.a).split(" of ")[0])
            assert counts.loc[d.section, "moved (any status)"] == moved
            assert int(c.order(d.section)["moved"].sum()) == moved


@pytest.mark.slow
def test_the_entry_table_of_a_large_pair_keeps_memory_flat(tmp_path: Path) -> None:
    """`compare_eifs(...).entries()` hashes every entry: in windows of the mapped images, so a
    96 MiB file does not stay resident (hashing each entry whole took 564 MB on a 200 MiB
    pair)."""
    blob = os.urandom(96 << 20)
    pair = [make_eif(tmp_path / f"{side}.eif", ramdisks=[BOOT_CPIO, cpio([
        CpioMember("app", mode=S_IFDIR | 0o755, nlink=2),
        CpioMember("app/blob.bin", data=blob, mtime=mtime)])])
        for side, mtime in (("a", 1), ("b", 2))]
    code = ("import sys\nfrom eifdiff.notebook import compare_eifs\n"
            "df = compare_eifs(sys.argv[1], sys.argv[2]).entries()\n"
            "print(len(df))\n")
    run = run_measured(*pair, program=[sys.executable, "-c", code])
    assert run.code == 0, run.err
    assert int(run.text) >= 2
    assert run.rss_mb < 250, f"compare_eifs + entries(): {run.rss_mb:.0f} MB"
