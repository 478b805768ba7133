"""The contents of an ELF file's sections as a reader of build paths needs them: compressed
sections (`SHF_COMPRESSED`, as Go and `-gz` builds write DWARF) inflated with a bound, and the
build IDs in its notes (GNU `NT_GNU_BUILD_ID`, Go's `Go` note of type 4)."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from eifdiff.errors import FormatError
from eifdiff.formats.elf import ViewStream

MAX_INFLATED = 128 << 20  # compressed sections inflate to at most this much in all, per file
MAX_RATIO = 1000  # nor to more than this many times their compressed size
MAX_SECTIONS = 65535
SHF_COMPRESSED = 0x800
SHF_STRINGS = 0x20
SHF_EXECINSTR = 0x4
NT_GNU_BUILD_ID = 3
NT_GO_BUILD_ID = 4


@dataclass(frozen=True, slots=True)
class SectionData:
    """One section: where it lies in the file and in memory, and its bytes (inflated when the
    section is compressed and the inflated size is within bounds: `inflated`)."""

    name: str
    index: int
    type: str
    flags: int
    offset: int
    size: int
    address: int
    data: bytes | memoryview  # a view into the file unless inflated: sections are not copied
    inflated: bool

    @property
    def code(self) -> bool:
        """Machine code (SHF_EXECINSTR)."""
        return bool(self.flags & SHF_EXECINSTR)

    @property
    def strings(self) -> bool:
        """A table of NUL-terminated strings (which a linker may merge and reorder)."""
        return bool(self.flags & SHF_STRINGS) or self.type == "SHT_STRTAB"


@dataclass(frozen=True)
class ElfData:
    sections: tuple[SectionData, ...]
    gnu_build_id: bytes | None
    go_build_id: bytes | None

    def section(self, name: str) -> SectionData | None:
        return next((s for s in self.sections if s.name == name), None)


def _notes(raw: bytes, order: str) -> list[tuple[bytes, int, bytes]]:
    """(owner, type, descriptor) of each note in a note section's bytes."""
    out: list[tuple[bytes, int, bytes]] = []
    pos = 0
    while pos + 12 <= len(raw) and len(out) < 64:
        namesz, descsz, ntype = struct.unpack_from(order + "III", raw, pos)
        name_end = pos + 12 + ((namesz + 3) & ~3)
        desc_end = name_end + ((descsz + 3) & ~3)
        if name_end + descsz > len(raw):
            break
        out.append((raw[pos + 12 : pos + 12 + namesz].rstrip(b"\0"), ntype,
                    raw[name_end : name_end + descsz]))
        pos = desc_end
    return out


def _inflate(body: bytes | memoryview, order: str, elfclass: int, budget: int) -> bytes | None:
    """A zlib-compressed section's bytes (after its Elf_Chdr), None when they do not inflate
    to exactly the size the header claims (within `budget`)."""
    head = 24 if elfclass == 64 else 12
    if len(body) < head:
        return None
    ctype, claimed = (struct.unpack_from(order + "IxxxxQ", body) if elfclass == 64
                      else struct.unpack_from(order + "II", body))
    if ctype != 1 or claimed > budget or claimed > MAX_RATIO * len(body):
        return None
    d = zlib.decompressobj()
    try:
        out = d.decompress(body[head:], claimed + 1)
    except zlib.error:
        return None
    return out if len(out) == claimed else None


def elf_data(data: bytes | memoryview) -> ElfData:
    """Every section's contents (views into `data`, never copies) and the build IDs;
    FormatError when the file cannot be read."""
    from elftools.elf.elffile import ELFFile

    raw = memoryview(data).cast("B")
    try:
        elf = ELFFile(ViewStream(raw))  # type: ignore[arg-type]
        if elf.num_sections() > MAX_SECTIONS:
            raise FormatError(f"ELF file declares {elf.num_sections()} sections")
        order = "<" if elf.little_endian else ">"
        sections = []
        gnu = go = None
        budget = MAX_INFLATED
        for i, sec in enumerate(elf.iter_sections()):
            off, size, stype = sec["sh_offset"], sec["sh_size"], sec["sh_type"]
            body: bytes | memoryview
            if stype == "SHT_NOBITS":
                body, inflated = b"", False
            else:
                body, inflated = raw[off : off + size], False
                if sec["sh_flags"] & SHF_COMPRESSED:
                    got = _inflate(body, order, elf.elfclass, budget)
                    if got is not None:
                        budget -= len(got)
                        body, inflated = got, True
            if stype == "SHT_NOTE" or sec.name.startswith(".note"):
                # notes are small: 64 KiB holds far more than the 64 notes read
                for owner, ntype, desc in _notes(bytes(raw[off : off + min(size, 1 << 16)]),
                                                 order):
                    if owner == b"GNU" and ntype == NT_GNU_BUILD_ID:
                        gnu = desc
                    elif owner == b"Go" and ntype == NT_GO_BUILD_ID:
                        go = desc
            sections.append(SectionData(sec.name, i, str(stype), sec["sh_flags"], off, size,
                                        sec["sh_addr"], body, inflated))
        return ElfData(tuple(sections), gnu, go)
    except FormatError:
        raise
    except Exception as exc:  # pyelftools raises many kinds on damaged files
        raise FormatError(f"ELF file cannot be parsed: {type(exc).__name__}: {exc}") from None
