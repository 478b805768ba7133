"""Which toolchain produced a file: Go (build info, `.gopclntab`, `.note.go.buildid`), Rust
(`rustc version` in `.comment`), C or C++ (GCC or clang in `.comment`; C++ when the C++ runtime
is needed), Python (`.pyc` headers, a wheel's `WHEEL` generator), Java (a jar manifest's
`Created-By`, telling Maven and Gradle apart). Used to word the fix for a build-path or
timestamp difference in that toolchain's own terms."""

from __future__ import annotations

import re
from dataclasses import dataclass

from eifdiff.errors import FormatError
from eifdiff.formats.archive import read_archive, read_member
from eifdiff.formats.elf import ElfFacts, elf_facts, is_elf
from eifdiff.formats.pyc import parse_pyc_header

GO_SECTIONS = (".go.buildinfo", ".gopclntab", ".note.go.buildid")
GO_MAGIC = b"\xff Go buildinf:"
MANIFEST = "META-INF/MANIFEST.MF"
_RUSTC = re.compile(r"rustc version (\S+)")
_GCC = re.compile(r"GCC: \(.*\) (\S+)|GCC: (\S+)")
_CLANG = re.compile(r"clang version (\S+)")
_CXX_RUNTIMES = ("libstdc++", "libc++")


@dataclass(frozen=True, slots=True)
class Toolchain:
    """`name` is go, rust, c, c++, python or java; `version` when recorded; `builder` a build
    tool on top (maven, gradle, a wheel generator); `evidence` what told."""

    name: str
    version: str | None
    evidence: str
    builder: str | None = None


def _go_version(data: bytes | memoryview, facts: ElfFacts) -> str | None:
    """The Go version stored inline in `.go.buildinfo` (Go 1.18+)."""
    sec = facts.section(".go.buildinfo")
    if sec is None:
        return None
    head = bytes(data[sec.offset : sec.offset + 64 + 255])
    if not head.startswith(GO_MAGIC) or len(head) < 33 or not head[15] & 2:
        return None
    n = head[32]
    return head[33 : 33 + n].decode("utf-8", "replace") if n < 128 else None


def _elf(data: bytes | memoryview, facts: ElfFacts | None) -> Toolchain | None:
    if facts is None:
        try:
            facts = elf_facts(data)
        except FormatError:
            return None
    names = {s.name for s in facts.sections}
    if names & set(GO_SECTIONS):
        return Toolchain("go", _go_version(data, facts),
                         next(n for n in GO_SECTIONS if n in names))
    comment = facts.comment
    for line in comment:
        if (m := _RUSTC.search(line)) is not None:
            return Toolchain("rust", m.group(1), f".comment: {line}")
    cxx = any(n.startswith(_CXX_RUNTIMES) for n in facts.needed)
    for line in comment:
        for pattern in (_GCC, _CLANG):
            if (m := pattern.search(line)) is not None:
                return Toolchain("c++" if cxx else "c", m.group(1) or m.group(m.lastindex or 1),
                                 f".comment: {line}")
    producers = [d.value for d in facts.dwarf if d.attribute == "DW_AT_producer"]
    for p in producers:
        if p.startswith("GNU C++") or p.startswith("GNU C"):
            return Toolchain("c++" if "C++" in p else "c", p.split()[2] if len(p.split()) > 2
                             else None, f"DW_AT_producer: {p}")
    return None


def _headers(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key and not key.startswith(" "):
            out.setdefault(key.strip().lower(), value.strip())
    return out


def _zip(data: bytes | memoryview) -> Toolchain | None:
    try:
        arc = read_archive(data)
    except FormatError:
        return None
    if arc is None or arc.kind != "zip":
        return None
    manifest = arc.member(MANIFEST)
    if manifest is not None:
        raw = read_member(data, arc, manifest, 1 << 20)
        fields = _headers(raw.decode("utf-8", "replace")) if raw is not None else {}
        created = fields.get("created-by", "")
        low = created.lower()
        builder = "maven" if "maven" in low else "gradle" if "gradle" in low else None
        jdk = fields.get("build-jdk-spec") or fields.get("build-jdk")
        return Toolchain("java", jdk or (created.split()[0] if created else None),
                         f"{MANIFEST} Created-By: {created}" if created else MANIFEST, builder)
    wheel = next((m for m in arc.members if m.name.endswith(".dist-info/WHEEL")), None)
    if wheel is not None:
        raw = read_member(data, arc, wheel, 1 << 20)
        gen = _headers(raw.decode("utf-8", "replace")).get("generator") if raw else None
        return Toolchain("python", None, f"{wheel.name} Generator: {gen}" if gen else
                         wheel.name, gen.split()[0] if gen else None)
    return None


def detect_toolchain(data: bytes | memoryview, name: str = "", *,
                     facts: ElfFacts | None = None) -> Toolchain | None:
    """The toolchain that produced `data` (entry name `name`), None when nothing tells.
    Pass the ELF facts when they were already read."""
    if is_elf(data):
        return _elf(data, facts)
    if name.endswith(".pyc") and (h := parse_pyc_header(data)) is not None:
        v = h.version
        return Toolchain("python", None if v is None else f"{v[0]}.{v[1]}",
                         f".pyc magic {h.magic}")
    if bytes(data[:4]) == b"PK\x03\x04":
        return _zip(data)
    return None
