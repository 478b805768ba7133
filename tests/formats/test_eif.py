"""eifdiff.formats.eif: header and section table parsing, checks, and the writer."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eifdiff.errors import FormatError
from eifdiff.formats.eif import (
    CRC_OFFSET,
    HEADER_SIZE,
    MAX_SECTIONS,
    SECTION_HEADER_SIZE,
    EifHeader,
    SectionType,
    build_header,
    layout_for,
    parse_header,
    parse_layout,
    section_header,
    write_eif,
)
from tests.helpers import (
    Vector,
    patch_header,
    patch_section_header,
    section_offsets,
    tiny_eif,
    with_crc,
    within_cpu,
)


def test_constants() -> None:
    assert (HEADER_SIZE, CRC_OFFSET, SECTION_HEADER_SIZE, MAX_SECTIONS) == (548, 544, 12, 32)
    assert [t.reference_name for t in SectionType] == [
        "EifSectionKernel", "EifSectionCmdline", "EifSectionRamdisk", "EifSectionSignature",
        "EifSectionMetadata"]
    assert [int(t) for t in SectionType] == [1, 2, 3, 4, 5]
    assert SectionType.RAMDISK.label == "ramdisk"


def test_derived_vector_from_format_notes() -> None:
    """eif-format.md §11.3: the writer reproduces the 881-byte example (its sha256 and CRC)."""
    data = tiny_eif()
    assert len(data) == 881
    assert hashlib.sha256(data).hexdigest() == (
        "88f17c7de766481a7f1434562572dbf990818e52a5fb2c97b087550a834ccce2")
    # magic, version 4, flags 0, default_mem 1 GiB, default_cpus 2, reserved 0, 5 sections
    assert data[:28].hex() == ("2e656966" "0004" "0000" "0000000040000000" "0000000000000002"
                               "0000" "0005")
    layout = parse_layout(data, "derived")
    assert layout.header.crc32 == 0xB9023B92
    assert [s.offset for s in layout.sections] == [548, 566, 591, 841, 861]
    assert [s.size for s in layout.sections] == [6, 13, 238, 8, 8]
    assert write_eif([(s.type, data[s.data_offset : s.end]) for s in layout.sections],
                     arch="aarch64")[544:548] == bytes.fromhex("1b86fa33")
    one = tiny_eif((b"RAMDISK0",))
    assert len(one) == 861 and one[544:548] == bytes.fromhex("5cecf964")


def test_parse_layout_of_every_vector(vec: Vector) -> None:
    data = vec.data
    layout = parse_layout(data, str(vec.eif))
    assert layout.source == str(vec.eif) and layout.file_size == len(data)
    assert [s.offset for s in layout.sections] == vec.expected["Header"]["section_offsets"]
    assert layout.anomalies == () and layout.trailing == 0
    # the writer reproduces the whole file from the parsed sections
    parts = [(s.type, data[s.data_offset : s.end]) for s in layout.sections]
    assert write_eif(parts, arch=layout.header.arch) == data
    assert zlib.crc32(data[548:], zlib.crc32(data[:544])) == layout.header.crc32


def test_section_names_and_lookup(vectors_dir: Path) -> None:
    data = (vectors_dir / "eif" / "06-three-ramdisks.eif").read_bytes()
    layout = parse_layout(data, "x")
    assert [s.name for s in layout.sections] == [
        "kernel", "cmdline", "metadata", "ramdisk[0]", "ramdisk[1]", "ramdisk[2]"]
    assert [s.ordinal for s in layout.ramdisks] == [0, 1, 2]
    assert layout.one(SectionType.SIGNATURE) is None
    assert layout.one(SectionType.KERNEL).index == 0
    assert len(layout.of_type(SectionType.RAMDISK)) == 3
    assert layout.end == len(data)


def test_header_pack_roundtrip_and_arch() -> None:
    h = build_header([(SectionType.KERNEL, 5), (SectionType.CMDLINE, 3),
                      (SectionType.RAMDISK, 7)], arch="aarch64", crc32=0x12345678)
    packed = h.pack()
    assert len(packed) == HEADER_SIZE
    assert parse_header(packed, "h") == h
    assert h.flags == 1 and h.arch == "aarch64"
    assert h.section_offsets[:3] == (548, 565, 580) and h.section_sizes[:3] == (5, 3, 7)
    assert packed[544:] == b"\x12\x34\x56\x78"
    assert build_header([(SectionType.KERNEL, 1)]).arch == "x86_64"
    with pytest.raises(ValueError):
        build_header([(SectionType.RAMDISK, 1)] * 33)


def test_layout_for_and_section_header() -> None:
    offsets, sizes = layout_for([(SectionType.KERNEL, 10), (SectionType.CMDLINE, 0),
                                 (SectionType.RAMDISK, 4)])
    assert offsets == [548, 570, 582] and sizes == [10, 0, 4]
    assert section_header(SectionType.METADATA, 258) == struct.pack(">HHQ", 5, 0, 258)


@pytest.mark.parametrize("cut", [0, 1, 100, 547])
def test_short_header(cut: int) -> None:
    with pytest.raises(FormatError) as info:
        parse_header(tiny_eif()[:cut], "short.eif")
    assert str(info.value).startswith("short.eif: ") and "offset 0" in str(info.value)
    assert info.value.offset == 0 and info.value.source == "short.eif"


@pytest.mark.parametrize(("patch", "offset"), [
    ({"magic": b"EIF\0"}, 0), ({"version": 0}, 4), ({"version": 5}, 4),
    ({"num_sections": 0}, 26), ({"num_sections": 33}, 26),
])
def test_header_refusals(patch: dict, offset: int) -> None:
    with pytest.raises(FormatError) as info:
        parse_layout(patch_header(tiny_eif(), **patch), "bad.eif")
    assert info.value.offset == offset
    assert str(info.value).startswith("bad.eif: ") and "offset" in str(info.value)


@pytest.mark.parametrize("version", [2, 3, 4])
def test_accepted_versions(version: int) -> None:
    layout = parse_layout(patch_header(tiny_eif(), version=version), "v")
    assert layout.header.version == version
    assert all(a.path != "eif-header" or "version" not in a.message for a in layout.anomalies)


def test_v4_without_metadata_is_an_anomaly() -> None:
    data = write_eif([(SectionType.KERNEL, b"k"), (SectionType.CMDLINE, b"c"),
                      (SectionType.RAMDISK, b"r")])
    layout = parse_layout(data, "nomd")
    assert [a.message for a in layout.anomalies] == ["version 4 EIF without a metadata section"]
    assert parse_layout(patch_header(data, version=3), "v3").anomalies == ()


def test_ramdisk_before_kernel_is_an_anomaly() -> None:
    data = write_eif([(SectionType.RAMDISK, b"r"), (SectionType.KERNEL, b"k"),
                      (SectionType.CMDLINE, b"c"), (SectionType.METADATA, b"{}")])
    layout = parse_layout(data, "order")
    assert any("before the kernel" in a.message for a in layout.anomalies)


def test_section_flags_and_oversized_signature_are_anomalies() -> None:
    data = patch_section_header(tiny_eif(), 3, flags=0x8000)
    layout = parse_layout(data, "flags")
    assert [(a.path, a.offset) for a in layout.anomalies] == [("section[3]", 841 + 2)]
    big = write_eif([(SectionType.KERNEL, b"k"), (SectionType.CMDLINE, b"c"),
                     (SectionType.METADATA, b"{}"), (SectionType.RAMDISK, b"r"),
                     (SectionType.SIGNATURE, bytes(32769))])
    assert any("exceeds 32768" in a.message for a in parse_layout(big, "sig").anomalies)


def test_non_contiguous_sections_refused() -> None:
    data = tiny_eif()
    for patch in ({"offsets": {0: 549}}, {"offsets": {2: 590}}, {"offsets": {4: 0}}):
        with pytest.raises(FormatError) as info:
            parse_layout(patch_header(data, **patch), "gap")
        assert "starts at offset" in str(info.value)


def test_sizes_beyond_the_file_are_refused_quickly() -> None:
    data = tiny_eif()
    for index in range(5):
        for size in (2**64 - 1, 2**64 - 13, len(data)):
            bad = patch_section_header(patch_header(data, sizes={index: size}), index, size=size)
            with within_cpu(0.25, "refusing a huge size"), pytest.raises(FormatError) as info:
                parse_layout(bad, "huge")
            assert "offset" in str(info.value)


def test_trailing_bytes_anomaly_not_in_end() -> None:
    data = tiny_eif()
    layout = parse_layout(data + b"\0" * 3, "t")
    assert layout.trailing == 3 and layout.end == len(data)
    assert layout.anomalies[-1].offset == len(data)


def test_crc_field_not_checked_by_parser() -> None:
    """parse_layout reports the stored CRC; comparing it is the measuring stage's job."""
    data = bytearray(tiny_eif())
    data[544:548] = b"\0\0\0\0"
    assert parse_layout(bytes(data), "crc").header.crc32 == 0
    assert with_crc(bytes(data)) == tiny_eif()


def test_header_dataclass_fields() -> None:
    h = parse_header(tiny_eif(), "x")
    assert isinstance(h, EifHeader)
    assert (h.magic, h.version, h.flags, h.default_mem, h.default_cpus, h.reserved,
            h.num_sections, h.unused) == (b".eif", 4, 0, 1 << 30, 2, 0, 5, 0)


@settings(max_examples=100, deadline=None)
@given(
    kernel=st.binary(max_size=64), cmdline=st.binary(max_size=32).filter(lambda b: b"\0" not in b),
    metadata=st.binary(max_size=64), ramdisks=st.lists(st.binary(max_size=64), min_size=1,
                                                       max_size=26),
    arch=st.sampled_from(["x86_64", "aarch64"]), signed=st.booleans(),
)
def test_write_parse_roundtrip(kernel: bytes, cmdline: bytes, metadata: bytes,
                               ramdisks: list[bytes], arch: str, signed: bool) -> None:
    sections = [(SectionType.KERNEL, kernel), (SectionType.CMDLINE, cmdline),
                (SectionType.METADATA, metadata)]
    sections += [(SectionType.RAMDISK, r) for r in ramdisks]
    if signed:
        sections.append((SectionType.SIGNATURE, b"sig"))
    data = write_eif(sections, arch=arch)
    layout = parse_layout(data, "rt")
    assert layout.anomalies == () and layout.header.arch == arch
    assert [(s.type, data[s.data_offset : s.end]) for s in layout.sections] == sections
    assert len(data) == HEADER_SIZE + sum(12 + len(d) for _, d in sections)
    assert layout.header.crc32 == zlib.crc32(data[548:], zlib.crc32(data[:544]))
    assert section_offsets(data) == [s.offset for s in layout.sections]
