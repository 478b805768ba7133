"""Kernel images opened down to the kernel itself: an x86 bzImage or an arm64 Image.

A bzImage is a boot sector and real-mode setup (`setup_sects + 1` sectors, the boot-protocol
header at 0x1F1), then the protected-mode part: a decompressor whose `payload_offset` and
`payload_length` (protocol 2.08 and later) frame the compressed vmlinux, an ELF file (gzip,
bzip2, lzma, xz, lzo, lz4 or zstd, followed by its uncompressed size as 4 bytes). An arm64 kernel
is a flat `Image` (magic `ARM\\x64` at 0x38), raw or gzip-compressed. Either way the
`Linux version` banner, the embedded config (IKCONFIG: a gzip blob between `IKCFG_ST` and
`IKCFG_ED`) and a built-in initramfs are read from the kernel inside; the vmlinux ELF is read
like any other.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from eifdiff.errors import FormatError
from eifdiff.formats.compression import (
    DEFAULT_MAX_RATIO,
    DecompressionLimit,
    decompress_to,
    detect,
)
from eifdiff.formats.elf import ElfFacts, elf_facts, is_elf
from eifdiff.formats.kernel import ARM64_MAGIC_OFFSET, KernelVersion, find_banner

HEADER_AT = 0x1F1
HEADER_END = 0x270
DEFAULT_MAX_VMLINUX = 512 << 20
MAX_CONFIG = 4 << 20
MAX_INITRAMFS = 256 << 20
CONFIG_START = b"IKCFG_ST"
CONFIG_END = b"IKCFG_ED"
XLF_KERNEL_64 = 1
# payload magics Python cannot decompress: the kernel also builds lzo-compressed images
UNSUPPORTED = ((b"\x89LZO", "lzo"),)
_SEARCH_STEP = 4 << 20


class UnsupportedCompression(FormatError):
    """A payload in a format Python cannot decompress (`fmt`); worth an anomaly, not a crash."""

    def __init__(self, message: str, *, fmt: str) -> None:
        super().__init__(message)
        self.fmt = fmt


@dataclass(frozen=True, slots=True)
class SetupHeader:
    """The x86 boot-protocol header fields a build decides (offsets in the kernel docs)."""

    setup_sects: int
    syssize: int
    protocol: str
    kernel_version_ptr: int
    loadflags: int
    kernel_alignment: int
    relocatable: bool
    xloadflags: int
    cmdline_size: int
    payload_offset: int
    payload_length: int
    pref_address: int
    init_size: int
    handover_offset: int

    @property
    def setup_size(self) -> int:
        """Bytes before the protected-mode code: the boot sector and the setup sectors."""
        return ((self.setup_sects or 4) + 1) * 512

    @property
    def payload_start(self) -> int:
        """File offset of the compressed kernel."""
        return self.setup_size + self.payload_offset

    @property
    def arch(self) -> str:
        return "x86_64" if self.xloadflags & XLF_KERNEL_64 else "x86"


@dataclass(frozen=True, slots=True)
class KernelConfig:
    """The embedded `.config`: where its gzip blob sits in the kernel, and its options in order.

    An option set to `n` (`# CONFIG_X is not set`) is kept with the value `n`.
    """

    offset: int
    compressed_size: int
    options: tuple[tuple[str, str], ...]
    release: str

    def get(self, key: str) -> str | None:
        return next((v for k, v in self.options if k == key), None)

    def as_dict(self) -> dict[str, str]:
        return dict(self.options)


@dataclass(frozen=True, slots=True)
class BuiltinInitramfs:
    """A newc CPIO archive linked into the kernel: its offset in the vmlinux and its bytes."""

    offset: int
    data: bytes
    names: tuple[str, ...]


@dataclass(frozen=True)
class KernelImage:
    """A kernel image and the kernel inside it.

    `vmlinux` is the decompressed kernel, read-only (an ELF file for a bzImage, the flat image
    for arm64);
    `elf` its ELF facts when it is one; `problems` lists parts that could not be read (a damaged
    config blob, an ELF pyelftools refuses) while the rest is complete.
    """

    format: str
    arch: str
    setup: SetupHeader | None
    compression: str | None
    payload_offset: int | None
    payload_size: int | None
    vmlinux: memoryview
    banner: KernelVersion | None
    config: KernelConfig | None
    initramfs: BuiltinInitramfs | None
    elf: ElfFacts | None
    problems: tuple[str, ...] = ()

    @property
    def build_id(self) -> str | None:
        return self.elf.build_id if self.elf is not None else None


def parse_setup_header(data: bytes | memoryview) -> SetupHeader:
    """The setup header of a bzImage; `FormatError` when there is none or it frames nothing."""
    if len(data) < HEADER_END:
        raise FormatError(f"bzImage of {len(data)} bytes is shorter than its setup header "
                          f"(0x{HEADER_END:x} bytes)")
    head = bytes(data[:HEADER_END])
    if head[0x202:0x206] != b"HdrS":
        raise FormatError("no bzImage setup header (magic HdrS at offset 0x202)")
    (version,) = struct.unpack_from("<H", head, 0x206)
    if version < 0x208:
        raise FormatError(f"boot protocol {version >> 8}.{version & 0xFF} at offset 0x206 is "
                          "older than 2.08 and does not locate its payload")
    setup = SetupHeader(
        setup_sects=head[0x1F1], syssize=struct.unpack_from("<I", head, 0x1F4)[0],
        protocol=f"{version >> 8}.{version & 0xFF:02d}",
        kernel_version_ptr=struct.unpack_from("<H", head, 0x20E)[0], loadflags=head[0x211],
        kernel_alignment=struct.unpack_from("<I", head, 0x230)[0],
        relocatable=bool(head[0x234]), xloadflags=struct.unpack_from("<H", head, 0x236)[0],
        cmdline_size=struct.unpack_from("<I", head, 0x238)[0],
        payload_offset=struct.unpack_from("<I", head, 0x248)[0],
        payload_length=struct.unpack_from("<I", head, 0x24C)[0],
        pref_address=struct.unpack_from("<Q", head, 0x258)[0],
        init_size=struct.unpack_from("<I", head, 0x260)[0],
        handover_offset=struct.unpack_from("<I", head, 0x264)[0],
    )
    end = setup.payload_start + setup.payload_length
    if setup.payload_length == 0 or end > len(data):
        raise FormatError(f"bzImage payload at offset {setup.payload_start} (payload_offset "
                          f"0x248) of {setup.payload_length} bytes (payload_length 0x24c) runs "
                          f"past the image's {len(data)} bytes")
    return setup


def payload_compression(head: bytes | memoryview) -> str:
    """The kernel payload's compression: `detect`'s names, `lzma`, `lzo` or `none` (an ELF)."""
    h = bytes(head[:16])
    if h.startswith(b"\x7fELF"):
        return "none"
    for magic, name in UNSUPPORTED:
        if h.startswith(magic):
            return name
    # a legacy .lzma header: properties byte 0x5d (lc=3, lp=0, pb=2), then the dictionary size
    if len(h) >= 13 and h[0] == 0x5D and h[1:3] == b"\0\0":
        return "lzma"
    fmt = detect(h)
    if fmt is None:
        raise FormatError(f"kernel payload starts with {h[:6].hex()}, no known compression")
    return fmt


class _Sink:
    """Decompressed output written into one buffer, sized up front from the size the build
    appends to the payload (never more than the decompression bound), so the kernel is held
    once rather than in chunks and then joined."""

    def __init__(self, size_hint: int) -> None:
        self.buf = bytearray(size_hint)
        self.pos = 0

    def write(self, chunk: bytes) -> None:
        end = self.pos + len(chunk)
        if end > len(self.buf):
            self.buf.extend(bytes(end - len(self.buf)))
        self.buf[self.pos : end] = chunk
        self.pos = end

    def value(self) -> bytearray:
        del self.buf[self.pos :]
        return self.buf


def decompress_payload(payload: memoryview, fmt: str, *, max_size: int) -> bytes | bytearray:
    """The decompressed payload, at most `max_size` bytes; `UnsupportedCompression` for lzo."""
    if fmt == "none":
        return bytes(payload)
    if fmt in dict((n, n) for _, n in UNSUPPORTED):
        raise UnsupportedCompression(f"kernel payload is {fmt}-compressed, which eifdiff cannot "
                                     "decompress", fmt=fmt)
    claimed = int.from_bytes(payload[-4:], "little") if len(payload) >= 4 else 0
    bound = min(max_size, DEFAULT_MAX_RATIO * len(payload) + (1 << 20))
    out = _Sink(claimed if claimed <= bound else 0)
    try:
        decompress_to(payload, fmt, out, max_size=max_size)
    except DecompressionLimit as exc:
        raise FormatError(f"kernel payload: {exc}") from None
    except FormatError as exc:
        raise FormatError(f"kernel payload: {exc}") from None
    except ImportError as exc:  # zstandard or lz4 not installed
        raise UnsupportedCompression(f"kernel payload is {fmt}-compressed and its module is "
                                     f"missing ({exc.name})", fmt=fmt) from None
    return out.value()


Buffer = bytes | bytearray


def _find(data: Buffer, needle: bytes, start: int = 0) -> int:
    return data.find(needle, start)


def read_config(vmlinux: Buffer) -> KernelConfig | None:
    """The IKCONFIG blob (`IKCFG_ST`, gzip, `IKCFG_ED`) when the kernel embeds one."""
    at = _find(vmlinux, CONFIG_START)
    while at >= 0:
        start = at + len(CONFIG_START)
        end = _find(vmlinux, CONFIG_END, start)
        if end > start and vmlinux[start : start + 2] == b"\x1f\x8b":
            out = io.BytesIO()
            try:
                decompress_to(memoryview(vmlinux)[start:end], "gzip", out, max_size=MAX_CONFIG)
            except FormatError as exc:
                raise FormatError(f"embedded config at offset {start}: {exc}") from None
            return _parse_config(out.getvalue(), start, end - start)
        at = _find(vmlinux, CONFIG_START, start)
    return None


def _parse_config(text: bytes, offset: int, size: int) -> KernelConfig:
    options: list[tuple[str, str]] = []
    release = ""
    for raw in text.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line.startswith("CONFIG_") and "=" in line:
            k, v = line.split("=", 1)
            options.append((k, v))
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            options.append((line[2:-len(" is not set")], "n"))
        elif line.startswith("# Linux/") and line.endswith("Kernel Configuration"):
            parts = line.split()
            release = parts[2] if len(parts) > 2 else ""
    return KernelConfig(offset, size, tuple(options), release)


def _newc_names(data: Buffer, at: int, limit: int) -> tuple[tuple[str, ...], int] | None:
    """Walk a newc archive at `at`; its member names and end (after TRAILER!!!), or None."""
    names: list[str] = []
    pos = at
    while pos + 110 <= min(len(data), at + limit):
        head = data[pos : pos + 110]
        if head[:6] not in (b"070701", b"070702"):
            return None
        try:
            namesize = int(head[94:102], 16)
            filesize = int(head[54:62], 16)
        except ValueError:
            return None
        name_end = pos + 110 + namesize
        name = data[pos + 110 : name_end - 1].decode("utf-8", "replace")
        pos = (name_end + 3) & ~3
        pos = (pos + filesize + 3) & ~3
        if name == "TRAILER!!!":
            return tuple(names), pos
        names.append(name)
    return None


def find_initramfs(vmlinux: Buffer) -> BuiltinInitramfs | None:
    """A built-in, uncompressed newc initramfs: the first CPIO magic that walks to a trailer.

    A compressed built-in initramfs in a stripped kernel has no symbol to find it by and is
    not looked for.
    """
    at = _find(vmlinux, b"070701")
    tries = 0
    while at >= 0 and tries < 64:
        found = _newc_names(vmlinux, at, MAX_INITRAMFS)
        if found is not None:
            names, end = found
            return BuiltinInitramfs(at, bytes(vmlinux[at:end]), names)
        tries += 1
        at = _find(vmlinux, b"070701", at + 6)
    return None


def _inside(vmlinux: Buffer, fmt: str, arch: str, setup: SetupHeader | None,
            compression: str | None, payload: tuple[int, int] | None) -> KernelImage:
    problems: list[str] = []
    elf = None
    if is_elf(vmlinux):
        try:
            elf = elf_facts(vmlinux)
        except FormatError as exc:
            problems.append(f"vmlinux: {exc}")
    try:
        config = read_config(vmlinux)
    except FormatError as exc:
        problems.append(str(exc))
        config = None
    banner = find_banner(vmlinux)
    return KernelImage(
        format=fmt, arch=arch if elf is None else elf.arch, setup=setup, compression=compression,
        payload_offset=payload[0] if payload else None,
        payload_size=payload[1] if payload else None,
        vmlinux=memoryview(vmlinux).toreadonly(), banner=banner,
        config=config, initramfs=find_initramfs(vmlinux), elf=elf, problems=tuple(problems),
    )


def _is_arm64(head: Buffer) -> bool:
    return head[ARM64_MAGIC_OFFSET : ARM64_MAGIC_OFFSET + 4] == b"ARM\x64"


def read_kernel(data: bytes | memoryview, *, max_size: int = DEFAULT_MAX_VMLINUX) -> KernelImage:
    """Open a bzImage, an arm64 Image (raw or gzip) or a vmlinux ELF down to the kernel.

    Raises `FormatError` when the image is none of these or its payload cannot be read
    (`UnsupportedCompression` when Python cannot decompress it); the decompressed kernel is
    bounded by `max_size` bytes.
    """
    view = memoryview(data) if not isinstance(data, memoryview) else data
    head = bytes(view[:HEADER_END])
    if head[0x202:0x206] == b"HdrS":
        setup = parse_setup_header(view)
        payload = view[setup.payload_start : setup.payload_start + setup.payload_length]
        fmt = payload_compression(payload)
        vmlinux = decompress_payload(payload, fmt, max_size=max_size)
        return _inside(vmlinux, "bzImage", setup.arch, setup, fmt,
                       (setup.payload_start, setup.payload_length))
    if _is_arm64(head):
        return _inside(bytes(view), "arm64-image", "aarch64", None, None, None)
    if head[:2] == b"\x1f\x8b":
        image = decompress_payload(view, "gzip", max_size=max_size)
        if not _is_arm64(image[:HEADER_END]):
            raise FormatError("gzip-compressed kernel does not hold an arm64 Image "
                              "(no ARM\\x64 magic at offset 0x38 once decompressed)")
        return _inside(image, "arm64-image", "aarch64", None, "gzip", (0, len(view)))
    if head[:4] == b"\x7fELF":
        return _inside(bytes(view), "elf", "unknown", None, None, None)
    raise FormatError("not a kernel image: no bzImage header (HdrS at 0x202), no arm64 magic "
                      "(ARM\\x64 at 0x38), not gzip, not ELF")


def vmlinux(data: bytes | memoryview, *, max_size: int = DEFAULT_MAX_VMLINUX) -> memoryview:
    """The decompressed kernel inside a kernel image (see `read_kernel`)."""
    return read_kernel(data, max_size=max_size).vmlinux
