"""eifdiff.formats.cpio: newc / crc archives, written and read back field for field."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eifdiff.formats.cpio import (
    HEADER_SIZE,
    S_IFDIR,
    S_IFLNK,
    S_IFREG,
    TRAILER_NAME,
    CpioMember,
    Joined,
    data_checksum,
    iter_payloads,
    member_from_entry,
    read_archive,
    write_archive,
)

U32 = st.integers(min_value=0, max_value=0xFFFFFFFF)
names = st.binary(min_size=1, max_size=40).filter(
    lambda b: b"\0" not in b and b != TRAILER_NAME.encode()
).map(lambda b: b.decode("utf-8", "surrogateescape"))
# payloads of 4 KiB and more take the checksum's numpy path; drawn from a seed to stay fast
large = st.builds(lambda n, seed: random.Random(seed).randbytes(n),
                  st.integers(4096, 6000), st.integers(0, 2**32))
members = st.builds(
    CpioMember, name=names, data=st.binary(max_size=300) | large,
    mode=U32, uid=U32, gid=U32, nlink=U32, mtime=U32, ino=U32, devmajor=U32, devminor=U32,
    rdevmajor=U32, rdevminor=U32,
)


def _align4(n: int) -> int:
    return (n + 3) & ~3


@settings(max_examples=100, deadline=None)
@given(items=st.lists(members, max_size=8), crc=st.booleans(),
       block=st.sampled_from([0, 4, 512]), base=st.integers(min_value=0, max_value=1 << 40))
def test_write_read_roundtrip(items: list[CpioMember], crc: bool, block: int, base: int) -> None:
    raw = write_archive(items, crc=crc, block_size=block)
    assert len(raw) % 4 == 0
    if block:
        assert len(raw) % block == 0
    arc = read_archive(raw, base=base, path="rd")
    assert arc.anomalies == ()
    assert len(arc.entries) == len(items) + 1 and arc.entries[-1].is_trailer
    assert arc.segments == ((base, arc.entries[-1].end_offset),)
    assert arc.end == base + len(raw)
    magic = "070702" if crc else "070701"
    pos = base
    for m, e in zip(items, arc.members, strict=True):
        assert e.magic == magic and e.segment == 0
        assert e.name == m.name
        assert (e.ino, e.mode, e.uid, e.gid, e.nlink, e.mtime) == (
            m.ino, m.mode, m.uid, m.gid, m.nlink, m.mtime)
        assert (e.devmajor, e.devminor, e.rdevmajor, e.rdevminor) == (
            m.devmajor, m.devminor, m.rdevmajor, m.rdevminor)
        assert e.filesize == len(m.data)
        assert e.namesize == len(m.name.encode("utf-8", "surrogateescape")) + 1
        assert e.check == (data_checksum(m.data) if crc else 0)
        # offsets are absolute and consistent with the 4-byte alignment rules
        assert e.header_offset == pos
        assert e.data_offset == base + _align4(pos - base + HEADER_SIZE + e.namesize)
        assert e.data_offset % 4 == base % 4
        assert raw[e.data_offset - base : e.data_offset - base + e.filesize] == m.data
        assert e.end_offset == e.data_offset + _align4(e.filesize)
        pos = e.end_offset
        assert member_from_entry(e, m.data) == m
    assert arc.entries[-1].header_offset == pos
    payloads = list(iter_payloads(raw, arc, base=base))
    assert [bytes(v) for _, v in payloads] == [m.data for m in items]
    assert [e for e, _ in payloads] == list(arc.members)
    # and a read member list writes back the same bytes
    again = [member_from_entry(e, v) for e, v in payloads]
    assert write_archive(again, crc=crc, block_size=block) == raw


@pytest.mark.parametrize("name", ["bootstrap.cpio", "customer.cpio", "extra.cpio"])
def test_vector_inputs_rewrite_byte_identical(inputs_dir: Path, name: str) -> None:
    raw = (inputs_dir / name).read_bytes()
    arc = read_archive(raw, path=name)
    assert arc.anomalies == ()
    assert arc.end == len(raw) and len(arc.segments) == 1
    assert all(e.magic == "070701" and e.mtime == 0 and e.uid == e.gid == 0 for e in arc.entries)
    rebuilt = write_archive(member_from_entry(e, v) for e, v in iter_payloads(raw, arc))
    assert rebuilt == raw


def test_vector_input_contents(inputs_dir: Path) -> None:
    raw = (inputs_dir / "bootstrap.cpio").read_bytes()
    arc = read_archive(raw)
    assert [(e.name, e.kind) for e in arc.members] == [
        ("dev", "dir"), ("init", "file"), ("nsm.ko", "file")]
    init = dict((e.name, bytes(v)) for e, v in iter_payloads(raw, arc))["init"]
    assert init[:4] == b"\x7fELF"


def test_concatenated_archives_are_segments() -> None:
    a = write_archive([CpioMember("a", b"first"), CpioMember("dir", mode=S_IFDIR | 0o755)])
    b = write_archive([CpioMember("b", b"second", uid=1000)], crc=True)
    extra_pad = bytes(512)
    raw = a + extra_pad + b
    base = 4096
    arc = read_archive(raw, base=base)
    assert arc.anomalies == ()
    assert [(e.name, e.segment) for e in arc.entries] == [
        ("a", 0), ("dir", 0), (TRAILER_NAME, 0), ("b", 1), (TRAILER_NAME, 1)]
    assert [e.magic for e in arc.entries] == ["070701"] * 3 + ["070702"] * 2
    (s0, e0), (s1, e1) = arc.segments
    assert s0 == base and s1 == base + len(a) + len(extra_pad)
    assert e0 == arc.entries[2].end_offset and e1 == arc.entries[4].end_offset
    assert arc.end == base + len(raw)
    assert [bytes(v) for _, v in iter_payloads(raw, arc, base=base)] == [b"first", b"", b"second"]


def test_concatenation_without_padding() -> None:
    a = write_archive([CpioMember("x", b"1")], block_size=0)
    b = write_archive([CpioMember("y", b"2")], block_size=0)
    arc = read_archive(a + b)
    assert [(e.name, e.segment) for e in arc.members] == [("x", 0), ("y", 1)]
    assert arc.segments == ((0, len(a)), (len(a), len(a) + len(b)))


def test_garbage_after_trailer_is_an_anomaly() -> None:
    raw = write_archive([CpioMember("x", b"1")]) + b"\0\0\0\0JUNK"
    arc = read_archive(raw, base=10, path="rd")
    assert [e.name for e in arc.members] == ["x"]
    assert len(arc.anomalies) == 1 and "not an archive" in arc.anomalies[0].message
    assert arc.anomalies[0].offset == 10 + len(raw) - 4


def test_stop_at_foreign_data() -> None:
    raw = write_archive([CpioMember("x", b"1")])
    gz = b"\x1f\x8b\x08\x00" + bytes(20)
    arc = read_archive(raw + gz, base=50, stop_at_foreign=True)
    assert arc.anomalies == () and [e.name for e in arc.members] == ["x"]
    assert arc.end == 50 + len(raw)  # points at the foreign data
    assert read_archive(raw + gz, base=50).anomalies[0].offset == 50 + len(raw)


def test_bad_070702_checksum_is_an_anomaly() -> None:
    raw = bytearray(write_archive([CpioMember("etc/passwd", b"root:x:0:0\n")], crc=True))
    check_at = 6 + 8 * 12
    assert raw[check_at : check_at + 8] == b"%08X" % sum(b"root:x:0:0\n")
    raw[check_at : check_at + 8] = b"DEADBEEF"
    arc = read_archive(bytes(raw), base=100, path="ramdisk[1]")
    assert [e.name for e in arc.members] == ["etc/passwd"]
    assert len(arc.anomalies) == 1
    a = arc.anomalies[0]
    assert a.path == "ramdisk[1]:etc/passwd" and a.offset == 100 and "checksum" in a.message
    assert read_archive(bytes(raw), verify_check=False).anomalies == ()


def test_checksum_on_flipped_payload_byte() -> None:
    raw = bytearray(write_archive([CpioMember("big", bytes(range(256)) * 20)], crc=True))
    arc = read_archive(bytes(raw))
    raw[arc.members[0].data_offset + 4000] ^= 1
    assert any("checksum" in a.message for a in read_archive(bytes(raw)).anomalies)


def test_data_checksum() -> None:
    assert data_checksum(b"") == 0
    assert data_checksum(b"\x01\xff") == 256
    big = b"\xff" * 5000
    assert data_checksum(big) == 255 * 5000
    assert data_checksum(memoryview(big)) == 255 * 5000
    huge = b"\xff" * (1 << 24 | 7)
    assert data_checksum(huge) == (255 * len(huge)) & 0xFFFFFFFF


def test_truncation_sweep_every_offset() -> None:
    raw = write_archive([CpioMember("bin", mode=S_IFDIR | 0o755),
                         CpioMember("bin/sh", b"#!/bin/true\n", mode=S_IFREG | 0o755),
                         CpioMember("sh", b"bin/sh", mode=S_IFLNK | 0o777)], crc=True)
    full = read_archive(raw)
    trailer_end = full.entries[-1].end_offset
    for cut in range(len(raw) + 1):
        arc = read_archive(raw[:cut], base=7, path="rd")  # must never raise
        if cut < trailer_end:
            assert arc.anomalies, f"cut at {cut} went unnoticed"
            assert all(a.offset is not None and 7 <= a.offset <= 7 + cut for a in arc.anomalies), (
                cut, arc.anomalies)
            assert 7 <= arc.end <= 7 + cut, (cut, arc.end)
            assert len(arc.entries) < len(full.entries)
            # exactly the entries whose header, name and data lie inside the cut are kept
            complete = tuple(e for e in read_archive(raw, base=7).entries
                             if e.data_offset - 7 + e.filesize <= cut)
            assert arc.entries == complete
        else:
            assert arc.anomalies == () and len(arc.entries) == len(full.entries)


def test_cut_inside_payload_padding_stays_inside_the_buffer() -> None:
    """A buffer that ends after an entry's data but inside its 4-byte padding: the missing
    trailer is reported where the buffer ends, not past it."""
    raw = write_archive([CpioMember("sh", b"bin/sh", mode=S_IFLNK | 0o777)], block_size=0)
    arc = read_archive(raw, base=1000)
    cut = arc.members[0].data_offset - 1000 + 6  # just after the 6 payload bytes, before padding
    assert cut % 4 == 2
    short = read_archive(raw[:cut], base=1000)
    assert [e.name for e in short.entries] == ["sh"]
    assert len(short.anomalies) == 1 and "TRAILER" in short.anomalies[0].message
    assert short.anomalies[0].offset == 1000 + cut
    assert short.end == 1000 + cut
    assert short.segments == ((1000, 1000 + cut),)


@pytest.mark.parametrize(("offset", "value", "message"), [
    (0, b"070703", "bad CPIO magic"),
    (6, b"XYZ", "non-hexadecimal"),
    (94, b"00000000", "name size 0"),
    (94, b"00001001", "name size 4097"),
    (94, b"00000100", "runs past the end"),
    (54, b"00100000", "declares 1048576 bytes"),
])
def test_damaged_header_fields(offset: int, value: bytes, message: str) -> None:
    raw = bytearray(write_archive([CpioMember("x", b"data")], block_size=0))
    raw[offset : offset + len(value)] = value
    arc = read_archive(bytes(raw), base=1000)
    assert arc.entries == ()
    assert len(arc.anomalies) == 1 and message in arc.anomalies[0].message
    assert arc.anomalies[0].offset == 1000


def test_name_without_nul_is_an_anomaly() -> None:
    raw = bytearray(write_archive([CpioMember("abc", b"")], block_size=0))
    raw[HEADER_SIZE + 3] = ord("d")
    arc = read_archive(bytes(raw))
    assert arc.entries[0].name == "abcd"
    assert any("NUL-terminated" in a.message for a in arc.anomalies)


def test_entry_kinds() -> None:
    kinds = {0o040000: "dir", 0o100000: "file", 0o120000: "symlink", 0o020000: "chardev",
             0o060000: "blockdev", 0o010000: "fifo", 0o140000: "socket", 0o070000: "unknown"}
    raw = write_archive([CpioMember(f"m{i}", mode=m | 0o600) for i, m in enumerate(kinds)])
    arc = read_archive(raw)
    assert [e.kind for e in arc.members] == list(kinds.values())


def test_writer_refuses_oversized_fields() -> None:
    with pytest.raises(ValueError):
        write_archive([CpioMember("x", uid=1 << 32)])
    with pytest.raises(ValueError):
        write_archive([CpioMember("x", mtime=-1)])


def test_writer_layout_matches_gnu_cpio() -> None:
    raw = write_archive([CpioMember("a", b"xyz", mode=S_IFREG | 0o644, ino=1)])
    assert raw[:HEADER_SIZE] == (b"070701" + b"00000001" + b"000081A4" + b"00000000" * 2
                                 + b"00000001" + b"00000000" + b"00000003" + b"00000000" * 4
                                 + b"00000002" + b"00000000")
    assert raw[HEADER_SIZE:116] == b"a\0xyz\0"  # 110 + 2 is aligned: the data follows at once
    assert len(raw) == 512 and raw.rstrip(b"\0").endswith(b"TRAILER!!!")
    assert len(write_archive([], trailer=False, block_size=0)) == 0


@pytest.mark.parametrize("crc", [False, True])
def test_a_joined_payload_is_written_as_its_parts_together(crc: bool) -> None:
    body = random.Random(4).randbytes(9000)
    parts = (b"\x1f\x8b\x08\x00", memoryview(body)[100:], b"tail")
    joined = Joined(parts)
    whole = b"".join(bytes(x) for x in parts)
    assert len(joined) == len(whole) and data_checksum(joined) == data_checksum(whole)
    one = write_archive([CpioMember("a", data=joined, mtime=7)], crc=crc)
    assert one == write_archive([CpioMember("a", data=whole, mtime=7)], crc=crc)
    ((entry, payload),) = iter_payloads(one, read_archive(one))
    assert entry.name == "a" and bytes(payload) == whole
