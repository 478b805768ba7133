"""Facts about an ELF file that explain why two builds differ, read with pyelftools.

Section table with a digest per section, the notes by owner (the build-id comes only from a
`GNU` note of type 3; SystemTap `stapsdt` probes share that type number), DWARF compile-unit
strings (`DW_AT_comp_dir`, `DW_AT_name`, `DW_AT_producer`, with the section each string lives
in), `.comment` split into compiler and linker releases, a kernel module's `.modinfo` keys and
`__versions` symbol CRCs, the interpreter and the needed libraries.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from eifdiff.errors import FormatError
from eifdiff.mapped import sha256_of

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from elftools.elf.elffile import ELFFile

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
MAX_NOTES = 4096
MAX_NOTE_TEXT = 4096
VERSIONS_ENTRY = 64  # struct modversion_info: a CRC word, then the symbol name, 64 bytes in all
MAX_VERSIONS = 65536


def is_elf(data: bytes | bytearray | memoryview) -> bool:
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


@dataclass(frozen=True, slots=True)
class ElfNote:
    """One note: its section, owner and type, what it is (`kind`) and its value as text.

    `kind` is `build-id` (owner GNU, type 3), `abi-tag`, `gnu-property`, `stapsdt` (a SystemTap
    probe, value `provider:name`), `go-build-id`, `package` (the `FDO` package-metadata JSON),
    `linux` (the kernel's and its modules' notes) or `other`; for those two the value is the
    descriptor as text when it is printable, else its hex (up to 32 bytes) or `sha256:<hex>`.
    `desc_offset` is the descriptor's file offset, `desc_size` its length.
    """

    section: str
    owner: str
    type: int
    kind: str
    value: str
    desc_offset: int
    desc_size: int


@dataclass(frozen=True, slots=True)
class ToolchainComment:
    """One `.comment` string split into the tool, its upstream version and the packaged release.

    `GCC: (GNU) 7.3.1 20180712 (Red Hat 7.3.1-13)` gives role `compiler`, tool `GCC`, version
    `7.3.1`, release `Red Hat 7.3.1-13`; `Linker: LLD 15.0.7` gives role `linker`. `release` is
    the most specific name of the build (the distribution's package release when present,
    else the version).
    """

    text: str
    role: str
    tool: str
    version: str
    release: str


@dataclass(frozen=True, slots=True)
class ModInfo:
    """A kernel module's `.modinfo` as ordered (key, value) pairs (`alias` and others repeat)."""

    fields: tuple[tuple[str, str], ...]

    def get(self, key: str) -> str | None:
        return next((v for k, v in self.fields if k == key), None)

    def values(self, key: str) -> tuple[str, ...]:
        return tuple(v for k, v in self.fields if k == key)

    @property
    def vermagic(self) -> str | None:
        return self.get("vermagic")

    @property
    def kernel_release(self) -> str | None:
        """The kernel release the module was built for: the first word of `vermagic`."""
        vm = self.vermagic
        return vm.split()[0] if vm and vm.split() else None

    def by_key(self) -> dict[str, str]:
        """Each key once; repeated keys joined with `, ` in file order."""
        out: dict[str, list[str]] = {}
        for k, v in self.fields:
            out.setdefault(k, []).append(v)
        return {k: ", ".join(v) for k, v in out.items()}


@dataclass(frozen=True, slots=True)
class SymbolVersion:
    """One `__versions` entry: an imported kernel symbol and the CRC the module was built with."""

    symbol: str
    crc: int


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
    notes: tuple[ElfNote, ...] = ()
    toolchain: tuple[ToolchainComment, ...] = ()
    module: ModInfo | None = None
    versions: tuple[SymbolVersion, ...] = ()
    little_endian: bool = True
    build_id_note: ElfNote | None = field(default=None, repr=False)

    def section(self, name: str) -> ElfSection | None:
        return next((s for s in self.sections if s.name == name), None)

    @property
    def arch(self) -> str:
        """`x86_64`, `aarch64`, or the ELF machine name for anything else."""
        return ELF_ARCH.get(self.machine, self.machine)

    @property
    def compilers(self) -> tuple[ToolchainComment, ...]:
        return tuple(t for t in self.toolchain if t.role == "compiler")

    @property
    def linkers(self) -> tuple[ToolchainComment, ...]:
        return tuple(t for t in self.toolchain if t.role == "linker")


ELF_ARCH = {"EM_X86_64": "x86_64", "EM_AARCH64": "aarch64", "EM_386": "i386", "EM_ARM": "arm"}


_GCC_RE = re.compile(
    r"^GCC:\s*\((?P<pkg>[^()]*(?:\([^()]*\))?[^()]*)\)\s*(?P<ver>\S+)(?P<rest>.*)$")
_PAREN_RE = re.compile(r"\(([^()]*)\)")
_VERSION_WORD = re.compile(r"\d+(?:\.\d+)+\S*")


def parse_comment(text: str) -> ToolchainComment:
    """Split one `.comment` string into role, tool, upstream version and packaged release."""
    t = text.strip()
    m = _GCC_RE.match(t)
    if m:
        pkg, ver = m.group("pkg").strip(), m.group("ver")
        inner = [p for p in _PAREN_RE.findall(m.group("rest")) if _VERSION_WORD.search(p)]
        # `GCC: (GNU) 7.3.1 20180712 (Red Hat 7.3.1-13)`: the package is in the last parentheses
        # `GCC: (Debian 12.2.0-14) 12.2.0`: the package is in the first
        if inner:
            release = inner[-1].strip()
        elif _VERSION_WORD.search(pkg):
            release = pkg
        else:
            release = ver
        return ToolchainComment(text, "compiler", "GCC", ver, release)
    low = t.lower()
    role = "linker" if low.startswith(("linker:", "gnu ld", "lld")) or " ld " in f" {low} " \
        else "compiler" if low.startswith(("clang", "rustc", "gcc", "go", "ghc")) \
        or "clang version" in low else "other"
    body = t.split(":", 1)[1].strip() if low.startswith("linker:") else t
    version_m = _VERSION_WORD.search(body)
    version = version_m.group(0).rstrip(")") if version_m else ""
    tool = body[: version_m.start()].strip() if version_m else body
    tool = _PAREN_RE.sub("", tool.removesuffix("version")).strip() or body
    pkg = [p for p in _PAREN_RE.findall(body) if _VERSION_WORD.search(p)]
    release = pkg[-1].strip() if pkg else version
    return ToolchainComment(text, role, tool, version, release)


def parse_modinfo(raw: bytes) -> ModInfo:
    """`.modinfo`'s NUL-separated `key=value` strings, in order (strings without `=` skipped)."""
    pairs = []
    for s in raw.split(b"\0"):
        if b"=" in s:
            k, v = s.split(b"=", 1)
            pairs.append((k.decode("utf-8", "replace"), v.decode("utf-8", "replace")))
    return ModInfo(tuple(pairs))


def parse_versions(raw: bytes, *, elf_class: int, little_endian: bool) -> tuple[SymbolVersion, ...]:
    """`__versions`: 64-byte entries, a CRC in an `unsigned long` (its low 32 bits count),
    then the NUL-terminated symbol name."""
    out = []
    word = 8 if elf_class == 64 else 4
    fmt = ("<" if little_endian else ">") + ("Q" if word == 8 else "I")
    for pos in range(0, min(len(raw), VERSIONS_ENTRY * MAX_VERSIONS) - VERSIONS_ENTRY + 1,
                     VERSIONS_ENTRY):
        (crc,) = struct.unpack_from(fmt, raw, pos)
        name = raw[pos + word : pos + VERSIONS_ENTRY].split(b"\0", 1)[0]
        out.append(SymbolVersion(name.decode("utf-8", "replace"), crc & 0xFFFFFFFF))
    return tuple(out)


def _note_kind(owner: str, ntype: int) -> str:
    if owner == "GNU":
        return {3: "build-id", 1: "abi-tag", 5: "gnu-property"}.get(ntype, "other")
    if owner == "stapsdt" and ntype == 3:
        return "stapsdt"
    if owner == "Go" and ntype == 4:
        return "go-build-id"
    if owner == "FDO" and ntype == 0xCAFE1A7E:
        return "package"
    if owner == "Linux":
        return "linux"
    return "other"


def _note_value(kind: str, desc: bytes, word: int, fmt: str) -> str:
    if kind == "build-id":
        return desc.hex()
    if kind == "stapsdt" and len(desc) > 3 * word:
        # three address words, then provider, name and argument format as C strings
        parts = desc[3 * word :].split(b"\0")
        return ":".join(p.decode("utf-8", "replace") for p in parts[:2])
    if kind in ("go-build-id", "package"):
        return desc[:MAX_NOTE_TEXT].rstrip(b"\0").decode("utf-8", "replace")
    if kind == "abi-tag" and len(desc) >= 16:
        os_, *ver = struct.unpack_from(fmt[0] + "4I", desc)
        return f"os {os_} " + ".".join(map(str, ver))
    text = desc.rstrip(b"\0")
    if text and all(32 <= b < 127 for b in text):  # e.g. Linux's build salt, Xen's loader
        return text[:MAX_NOTE_TEXT].decode("ascii")
    return desc.hex() if len(desc) <= 32 else "sha256:" + hashlib.sha256(desc).hexdigest()


def parse_notes(raw: bytes, section: str, base: int, *, align: int, little_endian: bool,
                elf_class: int) -> tuple[ElfNote, ...]:
    """The notes of one SHT_NOTE section at file offset `base`, read by owner.

    A note is namesz, descsz, type (32-bit words), then the owner name and the descriptor, each
    padded to `align` (4, or 8 for sections aligned to 8). A note running past the section
    ends the walk.
    """
    align = 8 if align == 8 else 4
    endian = "<" if little_endian else ">"
    word = 8 if elf_class == 64 else 4
    out: list[ElfNote] = []
    pos = 0
    while pos + 12 <= len(raw) and len(out) < MAX_NOTES:
        namesz, descsz, ntype = struct.unpack_from(endian + "3I", raw, pos)
        name_at = pos + 12
        desc_at = name_at + -(-namesz // align) * align
        end = desc_at + -(-descsz // align) * align
        if desc_at + descsz > len(raw):
            break
        owner = raw[name_at : name_at + namesz].rstrip(b"\0").decode("ascii", "replace")
        desc = raw[desc_at : desc_at + descsz]
        kind = _note_kind(owner, ntype)
        out.append(ElfNote(section, owner, ntype, kind,
                           _note_value(kind, desc, word, endian + "I"), base + desc_at, descsz))
        pos = end
    return tuple(out)


def _strings(raw: bytes) -> tuple[str, ...]:
    return tuple(s.decode("utf-8", "replace") for s in raw.split(b"\0") if s)


def _dwarf_strings(elf: ELFFile) -> tuple[DwarfString, ...]:
    if not elf.has_dwarf_info():
        return ()
    out = []
    info = elf.get_dwarf_info()
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


class ViewStream(io.RawIOBase):
    """A read-only stream over a memoryview, so pyelftools reads a mapped file without a copy."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view, self._pos = view, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(base + offset, 0)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        into = memoryview(buffer).cast("B")
        chunk = self._view[self._pos : self._pos + len(into)]
        n = len(chunk)
        into[:n] = chunk
        self._pos += n
        return n

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else self._pos + size
        out = bytes(self._view[self._pos : end])
        self._pos += len(out)
        return out


def elf_facts(data: bytes | bytearray | memoryview) -> ElfFacts:
    """Read the facts of one ELF file; raise `FormatError` when pyelftools cannot parse it."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    # bytes are read in place; a view (a mapped ramdisk entry, a decompressed kernel) too
    raw: bytes | memoryview = data if isinstance(data, bytes) else memoryview(data).cast("B")
    try:
        # pyelftools annotates IO[bytes] but only reads, seeks and tells: a raw stream will do
        elf = ELFFile(io.BytesIO(raw) if isinstance(raw, bytes)
                      else ViewStream(raw))  # type: ignore[arg-type]
        sections = []
        build_id = interp = None
        needed: list[str] = []
        comment: tuple[str, ...] = ()
        modinfo: tuple[str, ...] = ()
        module: ModInfo | None = None
        versions: tuple[SymbolVersion, ...] = ()
        notes: list[ElfNote] = []
        read: set[tuple[str, tuple[int, int]]] = set()
        little = elf.little_endian
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
                digests[span] = sha256_of(raw[span[0] : span[0] + span[1]])
            sections.append(ElfSection(sec.name, str(stype), off, size, digests[span]))
            # each span is read once per purpose: repeated headers cost no more than the budget
            purpose = "note" if stype == "SHT_NOTE" else sec.name if sec.name in (
                ".comment", ".modinfo", ".interp", "__versions") else None
            body = b""
            if purpose is not None and (purpose, span) not in read:
                read.add((purpose, span))
                body = bytes(raw[span[0] : span[0] + span[1]])
            elif purpose is not None:
                continue
            if stype == "SHT_NOTE" and len(notes) < MAX_NOTES:
                notes += parse_notes(body, sec.name, off, align=sec["sh_addralign"],
                                     little_endian=little, elf_class=elf.elfclass)
            elif isinstance(sec, DynamicSection):
                # pyelftools sets `needed` with setattr on DT_NEEDED tags: its types omit it
                needed += [t.needed for t in sec.iter_tags()  # type: ignore[attr-defined]
                           if t.entry.d_tag == "DT_NEEDED"]
            if sec.name == ".comment":
                comment = _strings(body)
            elif sec.name == ".modinfo":
                modinfo = _strings(body)
                module = parse_modinfo(body)
            elif sec.name == "__versions":
                versions = parse_versions(body, elf_class=elf.elfclass, little_endian=little)
            elif sec.name == ".interp":
                interp = body.rstrip(b"\0").decode("utf-8", "replace")
        dwarf = _dwarf_strings(elf)
        gnu_id = next((n for n in notes if n.kind == "build-id"), None)
        build_id = gnu_id.value if gnu_id else None
        return ElfFacts(
            elf_class=elf.elfclass, machine=str(elf["e_machine"]), elf_type=str(elf["e_type"]),
            section_header_offset=elf["e_shoff"], sections=tuple(sections), build_id=build_id,
            interpreter=interp, needed=tuple(needed), comment=comment, modinfo=modinfo,
            dwarf=dwarf, notes=tuple(notes), toolchain=tuple(parse_comment(c) for c in comment),
            module=module, versions=versions, little_endian=little, build_id_note=gnu_id,
        )
    except FormatError:
        raise
    except ELFError as exc:
        raise FormatError(f"ELF file cannot be parsed: {exc}") from None
    except Exception as exc:  # pyelftools raises many kinds on damaged files
        raise FormatError(f"ELF file cannot be parsed: {type(exc).__name__}: {exc}") from None
