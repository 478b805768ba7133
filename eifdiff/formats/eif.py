"""The EIF container: a 548-byte big-endian header, then sections (12-byte header + data).

Hand-written on purpose: the format has no Python library, and eifdiff must check every header
field against the file before trusting it. Layout, CRC coverage and section rules follow the
reference builder (see the README's format notes); `write_eif` reproduces its output byte for byte.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from eifdiff.errors import Anomaly, FormatError

MAGIC = b".eif"
CURRENT_VERSION = 4
HEADER_SIZE = 548
CRC_OFFSET = 544
SECTION_HEADER_SIZE = 12
MAX_SECTIONS = 32
SIGNATURE_MAX_SIZE = 32768
DEFAULT_MEM = 1 << 30
DEFAULT_CPUS = 2
ARCH_AARCH64_FLAG = 0x1

_HEADER = struct.Struct(">4sHHQQHH32Q32QII")
_SECTION = struct.Struct(">HHQ")
assert _HEADER.size == HEADER_SIZE and _SECTION.size == SECTION_HEADER_SIZE


class SectionType(IntEnum):
    """Section type codes; 0 is invalid, 6 and above are unknown."""

    KERNEL = 1
    CMDLINE = 2
    RAMDISK = 3
    SIGNATURE = 4
    METADATA = 5

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def reference_name(self) -> str:
        """The name the reference tools print (`EifSectionKernel`)."""
        return "EifSection" + self.name.capitalize()


@dataclass(frozen=True, slots=True)
class EifHeader:
    """Every field of the 548-byte header, as stored."""

    magic: bytes
    version: int
    flags: int
    default_mem: int
    default_cpus: int
    reserved: int
    num_sections: int
    section_offsets: tuple[int, ...]
    section_sizes: tuple[int, ...]
    unused: int
    crc32: int

    @property
    def arch(self) -> str:
        return "aarch64" if self.flags & ARCH_AARCH64_FLAG else "x86_64"

    def pack(self) -> bytes:
        return _HEADER.pack(
            self.magic, self.version, self.flags, self.default_mem, self.default_cpus,
            self.reserved, self.num_sections, *self.section_offsets, *self.section_sizes,
            self.unused, self.crc32,
        )


@dataclass(frozen=True, slots=True)
class Section:
    """One section: its index in the header table, type, header offset and data span."""

    index: int
    type: SectionType
    flags: int
    offset: int
    size: int
    ordinal: int

    @property
    def data_offset(self) -> int:
        return self.offset + SECTION_HEADER_SIZE

    @property
    def end(self) -> int:
        return self.data_offset + self.size

    @property
    def name(self) -> str:
        """`kernel`, `cmdline`, `metadata`, `signature`, or `ramdisk[i]` (i counts ramdisks)."""
        if self.type is SectionType.RAMDISK:
            return f"ramdisk[{self.ordinal}]"
        return self.type.label


@dataclass(frozen=True, slots=True)
class EifLayout:
    """The checked container structure of one file; no section data is held."""

    source: str
    file_size: int
    header: EifHeader
    sections: tuple[Section, ...]
    trailing: int
    anomalies: tuple[Anomaly, ...]

    def of_type(self, kind: SectionType) -> tuple[Section, ...]:
        return tuple(s for s in self.sections if s.type is kind)

    @property
    def ramdisks(self) -> tuple[Section, ...]:
        return self.of_type(SectionType.RAMDISK)

    def one(self, kind: SectionType) -> Section | None:
        found = self.of_type(kind)
        return found[0] if found else None

    @property
    def end(self) -> int:
        """Offset just past the last section."""
        return self.sections[-1].end if self.sections else HEADER_SIZE


def parse_header(buf: bytes | memoryview, source: str) -> EifHeader:
    """Unpack and check the fixed header; raise `FormatError` naming the field and offset."""
    if len(buf) < HEADER_SIZE:
        raise FormatError(
            f"EIF header needs {HEADER_SIZE} bytes at offset 0 but the file has {len(buf)}",
            source=source, offset=0,
        )
    v = _HEADER.unpack_from(buf, 0)
    header = EifHeader(
        magic=v[0], version=v[1], flags=v[2], default_mem=v[3], default_cpus=v[4], reserved=v[5],
        num_sections=v[6], section_offsets=tuple(v[7:39]), section_sizes=tuple(v[39:71]),
        unused=v[71], crc32=v[72],
    )
    if header.magic != MAGIC:
        raise FormatError(
            f"bad magic {header.magic!r} at offset 0 (expected {MAGIC!r}): not an EIF file",
            source=source, offset=0,
        )
    if header.version not in (2, 3, 4):
        raise FormatError(
            f"EIF header version {header.version} at offset 4 is not one of 2, 3, 4",
            source=source, offset=4,
        )
    if not 1 <= header.num_sections <= MAX_SECTIONS:
        raise FormatError(
            f"EIF header declares {header.num_sections} sections at offset 26 "
            f"(allowed 1..{MAX_SECTIONS})", source=source, offset=26,
        )
    return header


def parse_layout(buf: bytes | memoryview, source: str) -> EifLayout:
    """Check the header and section table against the file; return the layout.

    Fatal (`FormatError`): anything that makes the section data ambiguous or out of the file,
    i.e. bad magic or version, a section count outside 1..32, a section that does not start where
    the previous one ended, a section header whose type is unknown or whose size disagrees with
    the table, data past the end of the file, a missing kernel, cmdline or ramdisk, or a
    duplicated kernel, cmdline, metadata or signature section.
    Not fatal (an `Anomaly`): non-zero reserved fields or section flags, table entries past
    `num_sections` that are not zero, bytes after the last section (not covered by the CRC),
    and a missing metadata section in a version-4 file.
    """
    header = parse_header(buf, source)
    size = len(buf)
    anomalies: list[Anomaly] = []
    n = header.num_sections
    if header.reserved or header.unused:
        anomalies.append(Anomaly("eif-header", "reserved or unused header fields are not zero", 24))
    if header.flags & ~ARCH_AARCH64_FLAG:
        anomalies.append(Anomaly("eif-header", f"unknown header flag bits 0x{header.flags:04x}", 6))
    if any(header.section_offsets[n:]) or any(header.section_sizes[n:]):
        anomalies.append(
            Anomaly("eif-header", f"section table entries past the first {n} are not zero", 28)
        )
    sections: list[Section] = []
    counts: dict[SectionType, int] = {}
    expected = HEADER_SIZE
    for i in range(n):
        off, declared = header.section_offsets[i], header.section_sizes[i]
        if off != expected:
            raise FormatError(
                f"section {i} starts at offset {off} but the previous one ends at {expected}",
                source=source, offset=28 + 8 * i,
            )
        if off + SECTION_HEADER_SIZE > size:
            raise FormatError(
                f"section {i} header needs {SECTION_HEADER_SIZE} bytes at offset {off} "
                f"but the file ends at {size}", source=source, offset=off,
            )
        stype, sflags, ssize = _SECTION.unpack_from(buf, off)
        try:
            kind = SectionType(stype)
        except ValueError:
            raise FormatError(
                f"section {i} at offset {off} has unknown type {stype}", source=source, offset=off
            ) from None
        label = kind.label
        if ssize != declared:
            raise FormatError(
                f"section {i} ({label}) header at offset {off} says {ssize} bytes "
                f"but the header table says {declared}", source=source, offset=off + 4,
            )
        if off + SECTION_HEADER_SIZE + ssize > size:
            raise FormatError(
                f"section {i} ({label}) declares {ssize} bytes at offset "
                f"{off + SECTION_HEADER_SIZE} but the file ends at {size}",
                source=source, offset=off,
            )
        if sflags:
            anomalies.append(Anomaly(f"section[{i}]", f"section flags are 0x{sflags:04x}", off + 2))
        if kind is SectionType.SIGNATURE and ssize > SIGNATURE_MAX_SIZE:
            anomalies.append(Anomaly(
                f"section[{i}]", f"signature section of {ssize} bytes exceeds {SIGNATURE_MAX_SIZE}",
                off,
            ))
        ordinal = counts.get(kind, 0)
        if ordinal and kind is not SectionType.RAMDISK:
            raise FormatError(
                f"section {i} at offset {off} is a second {label} section "
                f"(at most one allowed)", source=source, offset=off,
            )
        counts[kind] = ordinal + 1
        sections.append(Section(i, kind, sflags, off, ssize, ordinal))
        expected = off + SECTION_HEADER_SIZE + ssize
    for kind in (SectionType.KERNEL, SectionType.CMDLINE, SectionType.RAMDISK):
        if not counts.get(kind):
            types = ", ".join(f"{s.type.label} at offset {s.offset}" for s in sections)
            raise FormatError(
                f"EIF has no {kind.label} section among its {n} sections ({types})",
                source=source, offset=HEADER_SIZE,
            )
    kernel_index = next(s.index for s in sections if s.type is SectionType.KERNEL)
    if any(s.type is SectionType.RAMDISK and s.index < kernel_index for s in sections):
        anomalies.append(Anomaly("eif-header", "a ramdisk section comes before the kernel", 26))
    if header.version >= 4 and not counts.get(SectionType.METADATA):
        anomalies.append(Anomaly("eif-header", "version 4 EIF without a metadata section", 4))
    trailing = size - expected
    if trailing:
        anomalies.append(Anomaly(
            "eif", f"{trailing} bytes after the last section (not covered by the CRC)", expected
        ))
    return EifLayout(source, size, header, tuple(sections), trailing, tuple(anomalies))


def layout_for(sections: Sequence[tuple[SectionType, int]]) -> tuple[list[int], list[int]]:
    """Header-table offsets and sizes for contiguous sections of the given types and sizes."""
    offsets, sizes, pos = [], [], HEADER_SIZE
    for _, size in sections:
        offsets.append(pos)
        sizes.append(size)
        pos += SECTION_HEADER_SIZE + size
    return offsets, sizes


def section_header(kind: SectionType, size: int) -> bytes:
    return _SECTION.pack(int(kind), 0, size)


def build_header(
    sections: Sequence[tuple[SectionType, int]], *, arch: str = "x86_64", crc32: int = 0
) -> EifHeader:
    """The header the reference builder writes for these sections (CRC filled in by the caller)."""
    if len(sections) > MAX_SECTIONS:
        raise ValueError(f"{len(sections)} sections exceed the maximum of {MAX_SECTIONS}")
    offsets, sizes = layout_for(sections)
    pad = [0] * (MAX_SECTIONS - len(sections))
    return EifHeader(
        magic=MAGIC, version=CURRENT_VERSION,
        flags=ARCH_AARCH64_FLAG if arch == "aarch64" else 0,
        default_mem=DEFAULT_MEM, default_cpus=DEFAULT_CPUS, reserved=0,
        num_sections=len(sections), section_offsets=tuple(offsets + pad),
        section_sizes=tuple(sizes + pad), unused=0, crc32=crc32,
    )


def write_eif(sections: Sequence[tuple[SectionType, bytes]], *, arch: str = "x86_64") -> bytes:
    """Serialise sections in the given order with a correct header and CRC-32."""
    header = build_header([(k, len(d)) for k, d in sections], arch=arch)
    body = bytearray()
    for kind, data in sections:
        body += section_header(kind, len(data))
        body += data
    packed = header.pack()
    crc = zlib.crc32(body, zlib.crc32(packed[:CRC_OFFSET]))
    return packed[:CRC_OFFSET] + struct.pack(">I", crc) + bytes(body)
