"""Synthesise kernel images for tests: a vmlinux ELF and a bzImage around it.

The vmlinux is a small ELF64 x86-64 file with a `.rodata` holding the `Linux version` banner,
optionally an IKCONFIG blob (`IKCFG_ST`, gzip, `IKCFG_ED`) and a built-in newc initramfs, a
`.notes` section with a GNU build-id note (and optionally a `Linux` build-salt note), and a
`.comment`. The bzImage wraps it as the kernel's build does: a boot sector and one setup
sector with a boot-protocol 2.15 header (version string pointer, payload_offset,
payload_length, 64-bit xloadflags), a stand-in decompressor, then the payload compressed with
gzip, bzip2, lzma, xz, lz4 (legacy frame) or zstd and followed by its size as 4 bytes, or
stored as is.

    python scripts/make_kernel.py OUT [--release R] [--builder U@H] [--compression gzip]
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import hashlib
import lzma
import struct
from pathlib import Path

DEFAULT_RELEASE = "6.1.0-47-cloud-amd64"
DEFAULT_BUILDER = "debian-kernel@lists.debian.org"
DEFAULT_COMPILER = "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0"
DEFAULT_LINKER = "GNU ld (GNU Binutils for Debian) 2.40"
DEFAULT_TAIL = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.170-3 (2026-05-08)"
DEFAULT_COMMENT = ("GCC: (Debian 12.2.0-14+deb12u1) 12.2.0",
                   "GNU ld (GNU Binutils for Debian) 2.40")
SETUP_SECTS = 1
STUB = 0x200  # bytes of stand-in decompressor before the payload


def banner(release: str = DEFAULT_RELEASE, builder: str = DEFAULT_BUILDER,
           compiler: str = DEFAULT_COMPILER, linker: str = DEFAULT_LINKER,
           tail: str = DEFAULT_TAIL) -> str:
    tools = f"{compiler}, {linker}" if linker else compiler
    return f"Linux version {release} ({builder}) ({tools}) {tail}"


def newc(files: dict[str, bytes]) -> bytes:
    """A newc CPIO archive of regular files (and the trailer), ino counting from 1."""
    out = bytearray()
    for ino, (name, body) in enumerate([*files.items(), ("TRAILER!!!", b"")], 1):
        raw = name.encode() + b"\0"
        mode = 0o100644 if name != "TRAILER!!!" else 0
        fields = (ino if mode else 0, mode, 0, 0, 1, 0, len(body), 0, 0, 0, 0, len(raw), 0)
        out += b"070701" + b"".join(b"%08X" % f for f in fields) + raw
        out += b"\0" * (-len(out) % 4) + body + b"\0" * (-len(body) % 4)
    return bytes(out)


def ikconfig(options: dict[str, str], release: str) -> bytes:
    lines = [f"# Linux/x86 {release} Kernel Configuration"]
    for k, v in options.items():
        lines.append(f"# {k} is not set" if v == "n" else f"{k}={v}")
    body = ("\n".join(lines) + "\n").encode()
    return b"IKCFG_ST" + gzip.compress(body, mtime=0) + b"IKCFG_ED"


def _note(owner: bytes, ntype: int, desc: bytes) -> bytes:
    name = owner + b"\0"
    return (struct.pack("<3I", len(name), len(desc), ntype) + name + b"\0" * (-len(name) % 4)
            + desc + b"\0" * (-len(desc) % 4))


def make_vmlinux(*, release: str = DEFAULT_RELEASE, builder: str = DEFAULT_BUILDER,
                 compiler: str = DEFAULT_COMPILER, linker: str = DEFAULT_LINKER,
                 tail: str = DEFAULT_TAIL, build_id: bytes | None = None,
                 comment: tuple[str, ...] = DEFAULT_COMMENT,
                 config: dict[str, str] | None = None,
                 initramfs: dict[str, bytes] | None = None, text: bytes = b"") -> bytes:
    """A vmlinux ELF; the build-id defaults to the SHA-1 of everything else it holds."""
    text_line = banner(release, builder, compiler, linker, tail)
    rodata = b"\0" * 64 + text_line.encode() + b"\n\0"
    if config is not None:
        rodata += b"\0" * (-len(rodata) % 8) + ikconfig(config, release)
    if initramfs is not None:
        rodata += b"\0" * (-len(rodata) % 4) + newc(initramfs)
    code = b"\x90" * 64 + text
    comment_raw = b"".join(c.encode() + b"\0" for c in comment)
    if build_id is None:
        build_id = hashlib.sha1(code + rodata + comment_raw).digest()
    notes = _note(b"Linux", 0x100, release.encode() + b"\0") + _note(b"GNU", 3, build_id)
    sections = [(".text", 1, 6, code), (".rodata", 1, 2, rodata), (".notes", 7, 2, notes),
                (".comment", 1, 0x30, comment_raw)]
    shstr = b"\0" + b"".join(n.encode() + b"\0" for n, *_ in sections) + b".shstrtab\0"
    body = bytearray(b"\0" * 64)
    placed = []
    for name, stype, flags, data in sections:
        body += b"\0" * (-len(body) % 8)
        placed.append((name, stype, flags, len(body), data))
        body += data
    body += b"\0" * (-len(body) % 8)
    shstr_at = len(body)
    body += shstr + b"\0" * (-len(shstr) % 8)
    shoff = len(body)
    shdrs = [bytes(64)]
    name_at = 1
    for name, stype, flags, off, data in placed:
        align = 4 if stype == 7 else 1 if name == ".comment" else 16
        addr = 0 if name == ".comment" else 0xFFFFFFFF81000000 + off
        shdrs.append(struct.pack("<IIQQQQIIQQ", name_at, stype, flags, addr, off, len(data), 0,
                                 0, align, 1 if name == ".comment" else 0))
        name_at += len(name) + 1
    shdrs.append(struct.pack("<IIQQQQIIQQ", name_at, 3, 0, 0, shstr_at, len(shstr), 0, 0, 1, 0))
    body += b"".join(shdrs)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    body[:64] = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0xFFFFFFFF81000000, 0, shoff,
                                    0, 64, 56, 0, 64, len(shdrs), len(shdrs) - 1)
    return bytes(body)


def _lz4_legacy(data: bytes) -> bytes:
    import lz4.block

    out = bytearray(b"\x02\x21\x4c\x18")
    for pos in range(0, len(data), 8 << 20):
        block = lz4.block.compress(data[pos : pos + (8 << 20)], store_size=False)
        out += struct.pack("<I", len(block)) + block
    return bytes(out)


def compress(data: bytes, fmt: str, level: int | None = None) -> bytes:
    """The payload as the kernel's build compresses it (before the appended size); `level`
    for gzip only (default 9)."""
    if fmt == "gzip":
        return gzip.compress(data, compresslevel=9 if level is None else level, mtime=0)
    if fmt == "bzip2":
        return bz2.compress(data)
    if fmt == "lzma":
        return lzma.compress(data, format=lzma.FORMAT_ALONE)
    if fmt == "xz":
        return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)
    if fmt == "lz4":
        return _lz4_legacy(data)
    if fmt == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=19).compress(data)
    if fmt == "none":
        return data
    if fmt == "lzo":  # a header eifdiff recognises but cannot decompress
        return b"\x89LZO\0\r\n\x1a\n" + data[:64]
    raise ValueError(f"unknown compression {fmt}")


def make_bzimage(vmlinux: bytes, *, compression: str = "gzip", level: int | None = None,
                 version: str | None = None, protocol: int = 0x20F) -> bytes:
    """A bzImage around `vmlinux`; `version` is the setup header's string (by default the
    banner without `Linux version ` and without the toolchain group, as the kernel writes it)."""
    if version is None:
        at = vmlinux.find(b"Linux version ")
        line = vmlinux[at + 14 : vmlinux.index(b"\n", at)].decode() if at >= 0 else "0.0.0"
        release, rest = line.split(" ", 1)
        builder_end = rest.index(")") + 1
        after = rest[builder_end:].lstrip()
        if after.startswith("("):
            depth = 0
            for i, c in enumerate(after):
                depth += {"(": 1, ")": -1}.get(c, 0)
                if depth == 0:
                    after = after[i + 1 :].lstrip()
                    break
        version = f"{release} {rest[:builder_end]} {after}"
    payload = compress(vmlinux, compression, level)
    if compression != "none":  # the build appends the uncompressed size to compressed payloads
        payload += struct.pack("<I", len(vmlinux))
    setup = bytearray((SETUP_SECTS + 1) * 512)
    version_at = 0x300
    raw = version.encode() + b"\0"
    setup[version_at : version_at + len(raw)] = raw
    protected = bytearray(b"\xcc" * STUB) + payload
    protected += b"\0" * (-len(protected) % 16)
    setup[0x1F1] = SETUP_SECTS
    struct.pack_into("<I", setup, 0x1F4, len(protected) // 16)
    struct.pack_into("<H", setup, 0x1FE, 0xAA55)
    setup[0x200:0x202] = b"\xeb\x66"
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, protocol)
    struct.pack_into("<H", setup, 0x20E, version_at - 0x200)
    setup[0x211] = 0x01  # LOADED_HIGH
    struct.pack_into("<I", setup, 0x214, 0x100000)
    struct.pack_into("<I", setup, 0x230, 0x200000)
    setup[0x234] = 1
    struct.pack_into("<H", setup, 0x236, 0x7F)  # XLF_KERNEL_64 and friends
    struct.pack_into("<I", setup, 0x238, 2047)
    struct.pack_into("<II", setup, 0x248, STUB, len(payload))
    struct.pack_into("<Q", setup, 0x258, 0x1000000)
    struct.pack_into("<I", setup, 0x260, len(vmlinux) * 2)
    return bytes(setup + protected)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output")
    ap.add_argument("--release", default=DEFAULT_RELEASE)
    ap.add_argument("--builder", default=DEFAULT_BUILDER)
    ap.add_argument("--tail", default=DEFAULT_TAIL, help="build number, flags and date")
    ap.add_argument("--compression", default="gzip")
    args = ap.parse_args(argv)
    vm = make_vmlinux(release=args.release, builder=args.builder, tail=args.tail,
                      config={"CONFIG_IKCONFIG": "y", "CONFIG_MODVERSIONS": "y"})
    Path(args.output).write_bytes(make_bzimage(vm, compression=args.compression))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
