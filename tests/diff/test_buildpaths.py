"""Build-path pairs found in arbitrary bytes (eifdiff/diff/buildpaths.py)."""

from __future__ import annotations

import struct
import time

from eifdiff.diff.buildpaths import (
    MAX_SPANS,
    PathPair,
    Span,
    common_directory,
    find_build_paths,
    find_build_paths_in_strings,
    pair_from_tokens,
)


def test_same_length_directories_explain_everything() -> None:
    a = b"\x01\x02/src/aa/main.go\0junk/src/aa/util.go\0\x05"
    b = b"\x01\x02/src/bb/main.go\0junk/src/bb/util.go\0\x05"
    got = find_build_paths(a, b)
    assert got.explained
    assert got.pairs == (PathPair("/src/aa", "/src/bb", 2),)
    assert got.unexplained == ()


def test_longer_directory_shifts_the_rest() -> None:
    tail = bytes(range(256)) * 4
    a = b"head /build/x/pkg/a.go\0/build/x/pkg/b.go\0" + tail
    b = b"head /home/user/work/pkg/a.go\0/home/user/work/pkg/b.go\0" + tail
    got = find_build_paths(a, b)
    assert got.explained
    assert got.directories == (("/build/x", "/home/user/work"),)
    assert got.pairs[0].count == 2
    assert got.shifts == (7, 14)


def test_nul_padded_table_absorbs_the_length_change() -> None:
    def table(d: bytes) -> bytes:
        return b"".join(struct.pack("<I", i) + (d + b"/f%d.c" % i).ljust(40, b"\0")
                        for i in range(5))
    got = find_build_paths(table(b"/w/a"), table(b"/w/abcdef"))
    assert got.explained
    assert got.pairs == (PathPair("/w/a", "/w/abcdef", 5),)
    assert got.padding == 5


def test_shorter_directory_in_padding_too() -> None:
    a = b"/long/dir/x.c".ljust(32, b"\0") + b"\x07\x08" * 20
    b = b"/s/x.c".ljust(32, b"\0") + b"\x07\x08" * 20
    got = find_build_paths(a, b)
    assert got.explained and got.directories == (("/long/dir", "/s"),)


def test_other_differences_are_unexplained_spans() -> None:
    filler = b"=" * 64
    a = b"/src/one/m.go\0" + filler + b"version 1" + filler
    b = b"/src/two/m.go\0" + filler + b"version 2" + filler
    got = find_build_paths(a, b)
    assert not got.explained
    assert got.directories == (("/src/one", "/src/two"),)
    at = a.index(b"version 1") + 8
    assert got.unexplained == (Span(at, at + 1, at, at + 1),)


def test_no_path_means_not_explained() -> None:
    got = find_build_paths(b"abc\x01def", b"abc\x02def")
    assert not got.explained and got.pairs == ()
    assert got.unexplained == (Span(3, 4, 3, 4),)


def test_equal_inputs() -> None:
    got = find_build_paths(b"same", b"same")
    assert not got.explained and got.note == "equal"


def test_hashes_are_derived_not_paths() -> None:
    # a Go build ID looks like a path but is a hash; given as a hash it is counted apart
    ida, idb = b"d_8vagnx/A_RVzoZ4/GMZRkp0P/IAJAp5u6", b"LLsXHQ7c/BYDMdSGW/WMDkupWc/woNqeP-b"
    a = b"\x04\0\0\0" + ida + b"\0" + b"/src/a/x.go\0"
    b = b"\x04\0\0\0" + idb + b"\0" + b"/src/b/x.go\0"
    assert not find_build_paths(a, b).explained  # the build ID is not learned as a directory
    got = find_build_paths(a, b, hashes=((ida, idb),))
    assert got.explained and got.derived == 1
    assert got.directories == (("/src/a", "/src/b"),)


def test_offsets_moved_by_the_length_change_are_derived() -> None:
    def blob(d: bytes) -> bytes:
        strings = d + b"/main.go\0" + d + b"/lib.go\0"
        return struct.pack("<IQ", len(strings), 0x1000 + len(strings)) + b"\xaa" * 16 + strings
    got = find_build_paths(blob(b"/a"), blob(b"/abcd"))
    assert got.explained
    assert got.pairs == (PathPair("/a", "/abcd", 2),)
    assert len(got.offsets) == 1 and got.offsets[0].start_a == 0


def test_known_pairs_explain_a_section_holding_only_offsets() -> None:
    a = struct.pack("<QQ", 0x4000, 7) + b"\x11" * 32
    b = struct.pack("<QQ", 0x4020, 7) + b"\x11" * 32
    assert not find_build_paths(a, b).explained
    got = find_build_paths(a, b, pairs=(("/x", "/yy"),), moves=(32,))
    assert got.explained and got.pairs == (PathPair("/x", "/yy", 0),)


def test_spans_are_capped() -> None:
    a = bytes(4096)
    b = bytes(b if i % 32 else 1 for i, b in enumerate(a))
    got = find_build_paths(a, b)
    assert len(got.unexplained) == MAX_SPANS
    assert got.unexplained[-1].end_a == len(a) - 31  # the last runs to the last difference


def test_fast_on_multi_megabyte_sections() -> None:
    body = bytes(range(256)) * (8 << 12)  # 8 MiB
    names_a = b"".join(b"/tmp/go-a/pkg/f%d.go\0" % i for i in range(2000))
    names_b = b"".join(b"/tmp/go-bbbb/pkg/f%d.go\0" % i for i in range(2000))
    a, b = body + names_a + body, body + names_b + body
    start = time.process_time()
    got = find_build_paths(a, b)
    assert time.process_time() - start < 5
    assert got.explained and got.pairs == (PathPair("/tmp/go-a", "/tmp/go-bbbb", 2000),)


def test_pair_from_tokens() -> None:
    assert pair_from_tokens(b"/src/a/main.go", b"/build/bb/main.go") == (b"/src/a", b"/build/bb")
    assert pair_from_tokens(b"-I/src/a/inc", b"-I/src/b/inc") == (b"/src/a", b"/src/b")
    assert pair_from_tokens(b"/bin/other", b"/bin/OTHER") is None  # no file in common
    assert pair_from_tokens(b"abc/def", b"xyz/def") is None  # not absolute
    assert pair_from_tokens(b"/same", b"/same") is None
    assert pair_from_tokens(b"/a/x", b"/b/x") == (b"/a", b"/b")


def test_common_directory() -> None:
    assert common_directory("/tmp/pip-target-1/lib/python/pkg/m.py",
                            "/tmp/pip-target-22/lib/python/pkg/m.py") == (
        "/tmp/pip-target-1", "/tmp/pip-target-22", "lib/python/pkg/m.py")
    assert common_directory("/a/x", "/b/y") == ("/a/x", "/b/y", "")


def test_alignment_padding_before_a_path() -> None:
    a = b"\x01\x00\x02\x00/w/a/m.c\x00"
    b = b"\x01\x00\x02\x00\x00\x00\x00\x00/w/longer/m.c\x00"
    got = find_build_paths(a, b)
    assert got.explained and got.directories == (("/w/a", "/w/longer"),)
    assert got.padding == 1


def test_nul_runs_without_a_path_stay_unexplained() -> None:
    assert not find_build_paths(b"/x/a\0\x01\0\x05", b"/x/b\0\x01\0\0\0\x05").explained


def test_string_table_merged_in_another_order() -> None:
    a = b"/w/a/m.c\0/w/a\0/usr/include\0stdio.h\0"
    b = b"/w/longer\0/w/longer/m.c\0/usr/include\0stdio.h\0"
    assert not find_build_paths(a, b, pairs=(("/w/a", "/w/longer"),)).explained
    got = find_build_paths_in_strings(a, b)
    assert got.explained and got.pairs == (PathPair("/w/a", "/w/longer", 2),)
    # strings moved: "/w/a/m.c" 0 -> 10, "/w/a" 9 -> 0, and a pointer to the tail "m.c"
    # of the first string moves by 10 + 5 (the longer directory)
    assert set(got.shifts) >= {10, -9, 15}
    assert not find_build_paths_in_strings(a, b.replace(b"stdio", b"stdlib")).explained
    assert find_build_paths_in_strings(b"x\0y\0", b"y\0x\0").note == "no directory pair"


def test_unrelated_multi_megabyte_inputs_stay_fast() -> None:
    """Many differences and a needle absent from the rest: each search runs once."""
    import random

    rng = random.Random(7)
    a = bytes(rng.getrandbits(8) for _ in range(1 << 16)) * 64  # 4 MiB
    b = bytearray(a)
    for i in range(0, len(b), 4096):
        b[i] ^= 0xFF
    b[100:120] = b"/tmp/other/x.go\0abcd"
    a = a[:100] + b"/tmp/build/x.go\0abcd" + a[120:]
    start = time.process_time()
    got = find_build_paths(a, bytes(b))
    assert time.process_time() - start < 5
    assert not got.explained and len(got.unexplained) == MAX_SPANS


def test_small_changes_of_words_are_not_moves() -> None:
    """Near a 6-byte longer path, a length that moved by 16 (rounded to its table's alignment)
    follows from it; a constant that changed by 1 does not; in machine code only the exact
    shift counts."""
    def blob(d: bytes, length: int, constant: int) -> bytes:
        return struct.pack("<QQ", length, constant) + b"\xee" * 16 + d + b"/m.go\0" + \
            b"\x55" * 16

    a = blob(b"/src/a1", 0x1DD0, 7)
    assert find_build_paths(a, blob(b"/src/longer-b", 0x1DE0, 7)).explained
    assert not find_build_paths(a, blob(b"/src/longer-b", 0x1DE0, 8)).explained
    assert not find_build_paths(a, blob(b"/src/longer-b", 0x1DE0, 7), strict=True).explained
    assert find_build_paths(a, blob(b"/src/longer-b", 0x1DD0 + 6, 7), strict=True).explained
