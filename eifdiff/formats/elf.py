"""Facts about an ELF file that explain why two builds differ, read with pyelftools.

Section table with a digest per section, the GNU build-id, DWARF compile-unit strings
(`DW_AT_comp_dir`, `DW_AT_name`, `DW_AT_producer`, with the section each string lives in),
`.comment`, `.modinfo` (kernel modules), the interpreter and the needed libraries.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from eifdiff.errors import FormatError

ELF_MAGIC = b"\x7fELF"
MAX_DWARF_UNITS = 10000
MAX_SECTIONS = 65535
HASH_BUDGET_FACTOR = 8  # section bytes hashed at most 8 times the file's size
_STRING_SECTION = {
    "DW_FORM_strp": ".debug_str", "DW_FORM_line_strp": ".debug_line_str",
    "DW_FORM_string": ".debug_info", "DW_FORM_strx": ".debug_str", "DW_FORM_strx1": ".debug_str",
    "DW_FORM_strx2": ".debug_str", "DW_FORM_strx4": ".debug_str",
}
DWARF_ATTRS = ("DW_AT_comp_dir", "DW_AT_name", "DW_AT_producer")


def is_elf(data: bytes | memoryview) -> bool:
    return bytes(data[:4]) == ELF_MAGIC


@dataclass(frozen=True, slots=True)
class ElfSection:
    name: str
    type: str
    offset: int
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class DwarfString:
    """One compile-unit attribute string and the ELF section that holds it."""

    unit: int
    attribute: str
    value: str
    section: str


@dataclass(frozen=True)
class ElfFacts:
    elf_class: int
    machine: str
    elf_type: str
    section_header_offset: int
    sections: tuple[ElfSection, ...]
    build_id: str | None
    interpreter: str | None
    needed: tuple[str, ...]
    comment: tuple[str, ...]
    modinfo: tuple[str, ...]
    dwarf: tuple[DwarfString, ...]

    def section(self, name: str) -> ElfSection | None:
        return next((s for s in self.sections if s.name == name), None)


def _strings(raw: bytes) -> tuple[str, ...]:
    return tuple(s.decode("utf-8", "replace") for s in raw.split(b"\0") if s)


def _dwarf_strings(elf: object) -> tuple[DwarfString, ...]:
    if not elf.has_dwarf_info():  # type: ignore[attr-defined]
        return ()
    out = []
    info = elf.get_dwarf_info()  # type: ignore[attr-defined]
    for i, cu in enumerate(info.iter_CUs()):
        if i >= MAX_DWARF_UNITS:
            break
        top = cu.get_top_DIE()
        for attr in DWARF_ATTRS:
            a = top.attributes.get(attr)
            if a is None:
                continue
            value = a.value.decode("utf-8", "replace") if isinstance(a.value, bytes) else str(
                a.value)
            out.append(DwarfString(i, attr, value, _STRING_SECTION.get(a.form, ".debug_info")))
    return tuple(out)


def elf_facts(data: bytes | memoryview) -> ElfFacts:
    """Read the facts of one ELF file; raise `FormatError` when pyelftools cannot parse it."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    raw = bytes(data)
    try:
        elf = ELFFile(io.BytesIO(raw))
        sections = []
        build_id = interp = None
        needed: list[str] = []
        comment: tuple[str, ...] = ()
        modinfo: tuple[str, ...] = ()
        digests: dict[tuple[int, int], str] = {}
        budget = HASH_BUDGET_FACTOR * len(raw) + (1 << 20)
        if elf.num_sections() > MAX_SECTIONS:
            raise FormatError(f"ELF file declares {elf.num_sections()} sections "
                              f"(more than {MAX_SECTIONS})")
        for sec in elf.iter_sections():
            stype = sec["sh_type"]
            off, size = sec["sh_offset"], sec["sh_size"]
            span = (0, 0) if stype == "SHT_NOBITS" else (off, min(size, max(len(raw) - off, 0)))
            if span not in digests:
                budget -= span[1]
                if budget < 0:  # sections overlapping over and over: refuse, do not hash
                    raise FormatError("ELF sections cover the file more than "
                                      f"{HASH_BUDGET_FACTOR} times over")
                digests[span] = hashlib.sha256(raw[span[0] : span[0] + span[1]]).hexdigest()
            body = raw[span[0] : span[0] + span[1]] if sec.name in (
                ".comment", ".modinfo", ".interp") else b""
            sections.append(ElfSection(sec.name, str(stype), off, size, digests[span]))
            if stype == "SHT_NOTE":
                for note in sec.iter_notes():
                    if note["n_type"] == "NT_GNU_BUILD_ID":
                        build_id = str(note["n_desc"])
            elif isinstance(sec, DynamicSection):
                needed += [t.needed for t in sec.iter_tags() if t.entry.d_tag == "DT_NEEDED"]
            if sec.name == ".comment":
                comment = _strings(body)
            elif sec.name == ".modinfo":
                modinfo = _strings(body)
            elif sec.name == ".interp":
                interp = body.rstrip(b"\0").decode("utf-8", "replace")
        dwarf = _dwarf_strings(elf)
        return ElfFacts(
            elf_class=elf.elfclass, machine=str(elf["e_machine"]), elf_type=str(elf["e_type"]),
            section_header_offset=elf["e_shoff"], sections=tuple(sections), build_id=build_id,
            interpreter=interp, needed=tuple(needed), comment=comment, modinfo=modinfo,
            dwarf=dwarf,
        )
    except FormatError:
        raise
    except ELFError as exc:
        raise FormatError(f"ELF file cannot be parsed: {exc}") from None
    except Exception as exc:  # pyelftools raises many kinds on damaged files
        raise FormatError(f"ELF file cannot be parsed: {type(exc).__name__}: {exc}") from None
