"""eifdiff.formats.elf: notes read by owner, `.comment` toolchains, `.modinfo` keys, `__versions`,
on synthetic ELF files and on compiled stand-ins for nitro-cli's blobs (tests/boot_blobs.py)."""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eifdiff.formats.elf import (
    ModInfo,
    elf_facts,
    parse_comment,
    parse_modinfo,
    parse_notes,
    parse_versions,
)
from eifdiff.formats.kernel import parse_version
from tests.boot_blobs import BootBlobs


def note(owner: bytes, ntype: int, desc: bytes, align: int = 4) -> bytes:
    name = owner + b"\0"
    return (struct.pack("<3I", len(name), len(desc), ntype) + name + b"\0" * (-len(name) % align)
            + desc + b"\0" * (-len(desc) % align))


def elf_with(sections: list[tuple[str, int, bytes]]) -> bytes:
    """A minimal ELF64 x86-64 relocatable file holding the given (name, sh_type, bytes)."""
    shstr = b"\0" + b"".join(n.encode() + b"\0" for n, _, _ in sections) + b".shstrtab\0"
    body = bytearray(64)
    placed = []
    for name, stype, data in sections:
        body += b"\0" * (-len(body) % 8)
        placed.append((name, stype, len(body), data))
        body += data
    shstr_at = len(body)
    body += shstr + b"\0" * (-len(shstr) % 8)
    shoff = len(body)
    headers = [bytes(64)]
    name_at = 1
    for name, stype, off, data in placed:
        headers.append(struct.pack("<IIQQQQIIQQ", name_at, stype, 0, 0, off, len(data), 0, 0,
                                   4, 0))
        name_at += len(name) + 1
    headers.append(struct.pack("<IIQQQQIIQQ", name_at, 3, 0, 0, shstr_at, len(shstr), 0, 0, 1,
                               0))
    body += b"".join(headers)
    body[:64] = (b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8) + struct.pack(
        "<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, len(headers),
        len(headers) - 1))
    return bytes(body)


def stapsdt_desc(provider: bytes, name: bytes) -> bytes:
    return struct.pack("<3Q", 0x401000, 0x402000, 0) + provider + b"\0" + name + b"\0-4@%eax\0"


def test_build_id_only_from_the_gnu_owner() -> None:
    """A SystemTap note has type 3 too; placed first, it must not be taken for the build-id."""
    gnu_id = bytes(range(20))
    notes = note(b"stapsdt", 3, stapsdt_desc(b"libc", b"setjmp")) + note(b"GNU", 3, gnu_id)
    facts = elf_facts(elf_with([(".note.stapsdt", 7, notes[: len(notes) - 36]),
                                (".note.gnu.build-id", 7, notes[len(notes) - 36 :])]))
    assert facts.build_id == gnu_id.hex()
    kinds = [(n.section, n.owner, n.type, n.kind, n.value) for n in facts.notes]
    assert kinds == [(".note.stapsdt", "stapsdt", 3, "stapsdt", "libc:setjmp"),
                     (".note.gnu.build-id", "GNU", 3, "build-id", gnu_id.hex())]
    section = facts.section(".note.gnu.build-id")
    assert section is not None
    assert facts.build_id_note is not None and facts.build_id_note.desc_offset == \
        section.offset + 16 and facts.build_id_note.desc_size == 20


def test_no_gnu_note_no_build_id() -> None:
    facts = elf_with([(".note.stapsdt", 7, note(b"stapsdt", 3, stapsdt_desc(b"p", b"n")))])
    assert elf_facts(facts).build_id is None


def test_notes_by_owner() -> None:
    package = b'{"type":"deb","name":"app","version":"1.0"}'
    raw = (note(b"GNU", 1, struct.pack("<4I", 0, 3, 2, 0)) + note(b"Go", 4, b"abc/def\0")
           + note(b"FDO", 0xCAFE1A7E, package + b"\0") + note(b"Linux", 0x100, b"6.1.0-47\0")
           + note(b"Xen", 9, b"\x01\x02\x03\x04") + note(b"Other", 7, bytes(range(40))))
    got = [(n.owner, n.kind, n.value) for n in
           parse_notes(raw, ".notes", 1000, align=4, little_endian=True, elf_class=64)]
    assert got == [
        ("GNU", "abi-tag", "os 0 3.2.0"), ("Go", "go-build-id", "abc/def"),
        ("FDO", "package", package.decode()), ("Linux", "linux", "6.1.0-47"),
        ("Xen", "other", "01020304"),
        ("Other", "other", "sha256:" + hashlib.sha256(bytes(range(40))).hexdigest()),
    ]
    first = parse_notes(raw, ".notes", 1000, align=4, little_endian=True, elf_class=64)[0]
    assert first.desc_offset == 1000 + 16 and first.desc_size == 16


def test_truncated_note_ends_the_walk() -> None:
    raw = note(b"GNU", 3, bytes(20))
    assert parse_notes(raw[:-4], ".n", 0, align=4, little_endian=True, elf_class=64) == ()
    assert parse_notes(struct.pack("<3I", 4, 0xFFFFFFF0, 3) + b"GNU\0", ".n", 0, align=4,
                       little_endian=True, elf_class=64) == ()


@pytest.mark.parametrize(("text", "role", "tool", "version", "release"), [
    ("GCC: (GNU) 7.3.1 20180712 (Red Hat 7.3.1-13)", "compiler", "GCC", "7.3.1",
     "Red Hat 7.3.1-13"),
    ("GCC: (GNU) 7.3.1 20180712 (Red Hat 7.3.1-17)", "compiler", "GCC", "7.3.1",
     "Red Hat 7.3.1-17"),
    ("GCC: (Debian 12.2.0-14+deb12u1) 12.2.0", "compiler", "GCC", "12.2.0",
     "Debian 12.2.0-14+deb12u1"),
    ("GCC: (Ubuntu 7.5.0-3ubuntu1~18.04) 7.5.0", "compiler", "GCC", "7.5.0",
     "Ubuntu 7.5.0-3ubuntu1~18.04"),
    ("GCC: (GNU) 13.2.0", "compiler", "GCC", "13.2.0", "13.2.0"),
    ("Linker: LLD 15.0.7", "linker", "LLD", "15.0.7", "15.0.7"),
    ("GNU ld (GNU Binutils for Debian) 2.40", "linker", "GNU ld", "2.40", "2.40"),
    ("clang version 15.0.7 (Fedora 15.0.7-2.fc37)", "compiler", "clang", "15.0.7",
     "Fedora 15.0.7-2.fc37"),
    ("rustc version 1.75.0 (82e1608df 2023-12-21)", "compiler", "rustc", "1.75.0", "1.75.0"),
])
def test_comment_split(text: str, role: str, tool: str, version: str, release: str) -> None:
    c = parse_comment(text)
    assert (c.text, c.role, c.tool, c.version, c.release) == (text, role, tool, version, release)


def test_modinfo_and_versions() -> None:
    raw = (b"license=GPL\0description=Virtio NSM driver\0srcversion=D3B5\0alias=a1\0alias=a2\0"
           b"depends=\0name=nsm\0vermagic=4.14.256-209.484.amzn2.x86_64 SMP mod_unload \0junk\0")
    m = parse_modinfo(raw)
    assert m.get("name") == "nsm" and m.get("depends") == "" and m.get("absent") is None
    assert m.values("alias") == ("a1", "a2")
    assert m.by_key()["alias"] == "a1, a2"
    assert m.vermagic == "4.14.256-209.484.amzn2.x86_64 SMP mod_unload "
    assert m.kernel_release == "4.14.256-209.484.amzn2.x86_64"
    assert ModInfo(()).kernel_release is None
    entries = struct.pack("<Q", 0x1234ABCD) + b"module_layout".ljust(56, b"\0")
    entries += struct.pack("<Q", 0xFFFFFFFF00000001) + b"printk".ljust(56, b"\0")
    got = parse_versions(entries + b"\0" * 10, elf_class=64, little_endian=True)
    assert [(v.symbol, v.crc) for v in got] == [("module_layout", 0x1234ABCD), ("printk", 1)]


def test_init_pure_rebuild(boot_blobs: BootBlobs) -> None:
    """Two `init` builds that differ only in the 20 bytes of their GNU build-id."""
    a, b = boot_blobs["init-2021-12"], boot_blobs["init-2022-02"]
    assert len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) > 0
    fa, fb = elf_facts(a), elf_facts(b)
    assert fa.build_id == "bc037dbce97236ca52748950b98a767188a39332"
    assert fb.build_id == "aa942fa284918fdd64ea861537c9198839256693"
    assert fa.build_id_note is not None and fb.build_id_note is not None
    at = fa.build_id_note.desc_offset
    assert at == fb.build_id_note.desc_offset
    assert [i for i in range(len(a)) if a[i] != b[i]] == \
        [i for i in range(at, at + 20) if a[i] != b[i]]
    assert a[:at] == b[:at] and a[at + 20 :] == b[at + 20 :]
    stap = [n for n in fa.notes if n.owner == "stapsdt"]
    assert stap and all(n.type == 3 and n.kind == "stapsdt" for n in stap)
    assert [n.value for n in stap] == ["libc:setjmp", "libc:longjmp"]
    # read without its owner, a stapsdt note (type 3 too) would give other bytes as build-id
    assert all(a[n.desc_offset : n.desc_offset + 20].hex() != fa.build_id for n in stap)
    assert fa.arch == "x86_64"
    assert [(t.tool, t.version, t.release) for t in fa.compilers] == [
        ("GCC", "7.3.1", "Red Hat 7.3.1-13")]


def test_nsm_ko_vermagic_change(boot_blobs: BootBlobs) -> None:
    fa = elf_facts(boot_blobs["nsm-2021-10.ko"])
    fb = elf_facts(boot_blobs["nsm-2022-02.ko"])
    assert fa.module is not None and fb.module is not None
    assert fa.module.vermagic == "4.14.246-198.474.amzn2.x86_64 SMP mod_unload modversions "
    assert fb.module.vermagic == "4.14.256-209.484.amzn2.x86_64 SMP mod_unload modversions "
    assert fa.module.get("srcversion") == fb.module.get("srcversion") == \
        "D3B5E8FDCD94DD8FF56025B"
    ka, kb = fa.module.by_key(), fb.module.by_key()
    assert {k for k in ka if ka[k] != kb.get(k)} == {"vermagic"}
    assert ka["name"] == "nsm" and ka["depends"] == ""
    assert len(fa.versions) == len(fb.versions) == 35
    assert [v.symbol for v in fa.versions] == [v.symbol for v in fb.versions]
    assert fa.versions[0].symbol == "module_layout"
    assert fa.versions[0].crc != fb.versions[0].crc
    assert sum(p.crc != q.crc for p, q in zip(fa.versions, fb.versions, strict=True)) == 11
    assert fa.build_id != fb.build_id and fa.build_id is not None
    assert fa.build_id_note is not None and fa.build_id_note.section == ".note.gnu.build-id"


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.binary(max_size=400), st.sampled_from([4, 8]), st.booleans())
def test_note_and_string_parsers_never_raise(raw: bytes, align: int, little: bool) -> None:
    notes = parse_notes(raw, ".n", 100, align=align, little_endian=little, elf_class=64)
    for n in notes:
        assert 100 <= n.desc_offset <= 100 + len(raw) and n.desc_size <= len(raw)
    parse_modinfo(raw)
    parse_versions(raw, elf_class=64, little_endian=little)
    text = raw.decode("latin-1")
    parse_comment(text)
    parse_version(text, 0, "banner")
