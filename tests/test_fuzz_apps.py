"""Property-based fuzzing of the application-build readers (hypothesis, derandomized, bounded
like tests/test_fuzz.py): mutated `.pyc` files, zip/tar/tar.gz archives, ELF files with a
compressed section, and arbitrary byte pairs for the build-path walk. Each reader raises
FormatError or returns a result whose offsets lie inside its input; nothing else."""

from __future__ import annotations

import gzip
import io
import marshal
import struct
import zlib
from importlib.util import MAGIC_NUMBER

from hypothesis import given
from hypothesis import strategies as st

from eifdiff.diff.archives import compare_archives
from eifdiff.diff.buildpaths import find_build_paths, find_build_paths_in_strings
from eifdiff.diff.pycode import compare_pyc
from eifdiff.errors import FormatError
from eifdiff.formats.archive import read_archive
from eifdiff.formats.elfdata import elf_data
from eifdiff.formats.pyc import parse_pyc
from tests.formats.test_archive import make_tar, make_zip
from tests.formats.test_pyc import SOURCE
from tests.packages.helpers import tiny_elf
from tests.test_fuzz import FUZZ, mutated

PYC = MAGIC_NUMBER + struct.pack("<III", 0, 1700000000, len(SOURCE)) + marshal.dumps(
    compile(SOURCE, "/tmp/pip-target-x/lib/python/pkg/m.py", "exec"))
ZIP = make_zip({"META-INF/MANIFEST.MF": b"Created-By: x\n", "a/b.class": b"\xca\xfe" * 300})
TAR = make_tar({"pkg/a": b"abc" * 100, "pkg/b": b"d"})
TGZ = gzip.compress(TAR, mtime=5)


def _compressed_elf() -> bytes:
    """A tiny ELF whose one section holds an SHF_COMPRESSED (zlib) copy of some paths."""
    body = b"/build/a/main.go\0" * 20
    chdr = struct.pack("<IIQQ", 1, 0, len(body), 1) + zlib.compress(body)
    elf = bytearray(tiny_elf(chdr + bytes(-len(chdr) % 16), section=".debug_line"))
    # section 1's header: set SHF_COMPRESSED in sh_flags (offset 8 in a 64-byte header)
    shoff = struct.unpack_from("<Q", elf, 0x28)[0]
    struct.pack_into("<Q", elf, shoff + 64 + 8, 0x800)
    return bytes(elf)


ELF = _compressed_elf()


def test_the_compressed_elf_is_read() -> None:
    got = elf_data(ELF).section(".debug_line")
    assert got is not None and got.inflated and got.data == b"/build/a/main.go\0" * 20


@FUZZ
@given(data=st.data())
def test_parse_pyc_on_mutations(data: st.DataObject) -> None:
    damaged = data.draw(mutated(PYC, (range(0, 16), range(16, len(PYC)))))
    try:
        parse_pyc(damaged)
    except FormatError as exc:
        assert exc.offset is None or 0 <= exc.offset <= len(damaged)
    got = compare_pyc(PYC, damaged, "opt/app/pkg/__pycache__/m.cpython-311.pyc")
    assert got.code in ("same", "same except file names", "different", "unreadable")


@FUZZ
@given(data=st.data(), original=st.sampled_from([ZIP, TAR, TGZ]))
def test_read_archive_on_mutations(data: st.DataObject, original: bytes) -> None:
    damaged = data.draw(mutated(original))
    try:
        arc = read_archive(damaged, "x")
    except FormatError:
        return
    if arc is None:
        return
    if arc.wrapper is None:
        for m in arc.members:
            assert 0 <= m.offset <= len(damaged) and 0 <= m.data_offset <= len(damaged)
    for an in arc.anomalies:
        assert an.offset is None or an.offset >= 0
    good = read_archive(original, "x")
    assert good is not None
    compare_archives(good, arc)


@FUZZ
@given(data=st.data())
def test_elf_data_on_mutations(data: st.DataObject) -> None:
    damaged = data.draw(mutated(ELF, (range(0, 64), range(0x100, 0x140), range(len(ELF) - 200,
                                                                            len(ELF)))))
    try:
        got = elf_data(damaged)
    except FormatError:
        return
    for s in got.sections:
        assert len(s.data) <= max(len(damaged), 1 << 20) or s.inflated


@FUZZ
@given(a=st.binary(max_size=300), b=st.binary(max_size=300),
       pairs=st.lists(st.tuples(st.sampled_from(["/a", "/bb", "/x/y", ""]),
                                st.sampled_from(["/c", "/dddd", "/a", ""])), max_size=3))
def test_build_path_walk_on_arbitrary_bytes(a: bytes, b: bytes,
                                            pairs: list[tuple[str, str]]) -> None:
    for fn in (find_build_paths, find_build_paths_in_strings):
        got = fn(a, b, pairs=tuple(pairs))
        for s in (*got.unexplained, *got.offsets):
            assert 0 <= s.start_a <= s.end_a <= len(a) and 0 <= s.start_b <= s.end_b <= len(b)
        if got.explained:
            assert got.pairs or got.derived


@FUZZ
@given(data=st.data())
def test_build_path_walk_on_mutated_paths(data: st.DataObject) -> None:
    a = b"\x01\x02" + b"/src/one/main.go\0".ljust(32, b"\0") * 3 + bytes(range(64))
    b = data.draw(mutated(a.replace(b"/src/one", b"/build/two")))
    got = find_build_paths(a, b)
    for s in got.unexplained:
        assert 0 <= s.start_a <= s.end_a <= len(a) and 0 <= s.start_b <= s.end_b <= len(b)
    assert io.BytesIO(b).read() == b  # the input is left as it was
