"""CPIO "newc" archives (`070701`, and `070702` with its checksum), as the initramfs uses them.

Hand-written on purpose: Python's standard library has no CPIO module, libarchive drops the inode
and device fields and stops at the first trailer, and a forensic reader must keep every header
field and the offset of every header and payload. Concatenated archives (several segments, each
ending in `TRAILER!!!`, separated by NUL padding) are read as one sequence of entries.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

from eifdiff.errors import Anomaly

MAGIC_NEWC = b"070701"
MAGIC_CRC = b"070702"
HEADER_SIZE = 110
TRAILER_NAME = "TRAILER!!!"
FIELDS = (
    "ino", "mode", "uid", "gid", "nlink", "mtime", "filesize",
    "devmajor", "devminor", "rdevmajor", "rdevminor", "namesize", "check",
)
MAX_NAME_SIZE = 4096  # PATH_MAX, as the kernel's initramfs unpacker enforces
RELEASE_EVERY = 32 << 20

S_IFMT = 0o170000
S_IFDIR = 0o040000
S_IFREG = 0o100000
S_IFLNK = 0o120000


def _align4(n: int) -> int:
    return (n + 3) & ~3


@dataclass(frozen=True, slots=True)
class CpioEntry:
    """One archive member with every header field and where its header and payload sit.

    Offsets are absolute (the buffer's `base` added), so they point into the EIF file.
    """

    name: str
    magic: str
    ino: int
    mode: int
    uid: int
    gid: int
    nlink: int
    mtime: int
    filesize: int
    devmajor: int
    devminor: int
    rdevmajor: int
    rdevminor: int
    namesize: int
    check: int
    header_offset: int
    data_offset: int
    segment: int = 0

    @property
    def is_trailer(self) -> bool:
        return self.name == TRAILER_NAME

    @property
    def kind(self) -> str:
        """`dir`, `file`, `symlink`, `chardev`, `blockdev`, `fifo`, `socket` or `unknown`."""
        return {
            0o040000: "dir", 0o100000: "file", 0o120000: "symlink", 0o020000: "chardev",
            0o060000: "blockdev", 0o010000: "fifo", 0o140000: "socket",
        }.get(self.mode & S_IFMT, "unknown")

    @property
    def end_offset(self) -> int:
        """Absolute offset just past the payload and its padding."""
        return self.data_offset + _align4(self.filesize)


@dataclass(frozen=True, slots=True)
class CpioArchive:
    """What a read found: entries (trailers included), segment spans, and what went wrong."""

    entries: tuple[CpioEntry, ...]
    segments: tuple[tuple[int, int], ...]
    end: int
    anomalies: tuple[Anomaly, ...] = field(default=())

    @property
    def members(self) -> tuple[CpioEntry, ...]:
        """Entries without the trailers."""
        return tuple(e for e in self.entries if not e.is_trailer)


_FIELDS = struct.Struct(">13I")


def _hex_fields(header: bytes) -> tuple[int, ...] | None:
    """The 13 header fields, or None when any of the 104 characters is not a hex digit."""
    try:
        raw = bytes.fromhex(header[6:110].decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None
    if len(raw) != 52:  # fromhex skips whitespace: a field with a space is not hex
        return None
    return _FIELDS.unpack(raw)


_MAGIC_TEXT = {MAGIC_NEWC: "070701", MAGIC_CRC: "070702"}


def skip_nuls(view: memoryview, pos: int) -> int:
    """The offset of the first non-NUL byte at or after `pos` (len(view) if none)."""
    n = len(view)
    while pos < n:
        chunk = bytes(view[pos : pos + 4096])
        stripped = chunk.lstrip(b"\0")
        pos += len(chunk) - len(stripped)
        if stripped:
            break
    return pos


def data_checksum(data: bytes | memoryview) -> int:
    """The `070702` checksum: the sum of all payload bytes, modulo 2**32."""
    if len(data) < 4096:
        return sum(bytes(data)) & 0xFFFFFFFF
    import numpy  # large payloads only; numpy comes with pandas

    return int(numpy.frombuffer(data, dtype=numpy.uint8).sum(dtype=numpy.uint64)) & 0xFFFFFFFF


def read_archive(
    buf: bytes | memoryview, *, base: int = 0, path: str = "ramdisk", verify_check: bool = True,
    stop_at_foreign: bool = False, release: Callable[[], None] | None = None,
    stream: str | None = None,
) -> CpioArchive:
    """Read every entry of one or more concatenated newc archives in `buf`.

    Never raises on bad data: the read stops at the first damaged header and the damage becomes
    an `Anomaly` naming the section `path` and the offset (in the decompressed `stream` when
    given, else absolute); entries read before it are kept. With
    `stop_at_foreign`, data after a trailer that is not another archive (say, a compressed
    archive that follows) ends the read quietly; `end` then points at it. `release` is called
    after every `RELEASE_EVERY` bytes walked, so a mapped buffer can drop its resident pages.
    """
    view = memoryview(buf).cast("B") if not isinstance(buf, memoryview) else buf
    size = len(view)
    entries: list[CpioEntry] = []
    segments: list[tuple[int, int]] = []
    anomalies: list[Anomaly] = []
    pos = 0
    segment = 0
    seg_start = 0
    released = 0
    while True:
        if release is not None and pos - released > RELEASE_EVERY:
            release()
            released = pos
        if pos + HEADER_SIZE > size:
            anomalies.append(Anomaly(path, "archive ends without a TRAILER!!! entry",
                                     base + min(pos, size)))
            segments.append((base + seg_start, base + min(pos, size)))
            break
        header = bytes(view[pos : pos + HEADER_SIZE])
        magic = header[:6]
        if magic not in (MAGIC_NEWC, MAGIC_CRC):
            anomalies.append(
                Anomaly(path, f"bad CPIO magic {magic!r} (expected 070701 or 070702)", base + pos)
            )
            break
        values = _hex_fields(header)
        if values is None:
            anomalies.append(Anomaly(path, "CPIO header has a non-hexadecimal field", base + pos))
            break
        namesize, filesize = values[11], values[6]
        if namesize == 0 or namesize > MAX_NAME_SIZE:
            anomalies.append(
                Anomaly(path, f"CPIO name size {namesize} is outside 1..{MAX_NAME_SIZE}",
                        base + pos)
            )
            break
        name_end = pos + HEADER_SIZE + namesize
        if name_end > size:
            anomalies.append(
                Anomaly(path, f"CPIO name of {namesize} bytes runs past the end at {base + size}",
                        base + pos)
            )
            break
        raw_name = bytes(view[pos + HEADER_SIZE : name_end])
        if raw_name[-1:] != b"\0":
            anomalies.append(Anomaly(path, "CPIO name is not NUL-terminated", base + pos))
        name = raw_name.rstrip(b"\0").decode("utf-8", "surrogateescape")
        data_start = _align4(name_end)
        if data_start + filesize > size:
            anomalies.append(
                Anomaly(path,
                        f"CPIO entry declares {filesize} bytes at offset {base + data_start} "
                        f"but the archive ends at {base + size}", base + pos, stream, name)
            )
            break
        entry = CpioEntry(name, _MAGIC_TEXT[magic], *values, base + pos, base + data_start,
                          segment)
        if (
            verify_check and magic == MAGIC_CRC and entry.kind == "file"
            and data_checksum(view[data_start : data_start + filesize]) != entry.check
        ):
            anomalies.append(Anomaly(path, "070702 checksum does not match the data",
                                     base + pos, stream, name))
        entries.append(entry)
        pos = _align4(data_start + filesize)
        if entry.is_trailer:
            pos = min(pos, size)
            segments.append((base + seg_start, base + pos))
            pos = skip_nuls(view, pos)
            if pos >= size:
                break
            if bytes(view[pos : pos + 5]) != b"07070":
                if stop_at_foreign:
                    break
                anomalies.append(
                    Anomaly(path,
                            f"{size - pos} bytes after the last CPIO trailer are not an archive",
                            base + pos)
                )
                break
            segment += 1
            seg_start = pos
    if stream is not None:
        anomalies = [replace(x, stream=stream) for x in anomalies]
    return CpioArchive(tuple(entries), tuple(segments), base + min(pos, size), tuple(anomalies))


def iter_payloads(
    buf: bytes | memoryview, archive: CpioArchive, *, base: int = 0
) -> Iterator[tuple[CpioEntry, memoryview]]:
    """Each member with a zero-copy view of its payload (`base` is the buffer's absolute offset)."""
    view = memoryview(buf)
    for e in archive.members:
        start = e.data_offset - base
        yield e, view[start : start + e.filesize]


@dataclass(frozen=True, slots=True)
class CpioMember:
    """What the writer needs for one member; every header field is explicit."""

    name: str
    data: bytes | memoryview = b""
    mode: int = S_IFREG | 0o644
    uid: int = 0
    gid: int = 0
    nlink: int = 1
    mtime: int = 0
    ino: int = 0
    devmajor: int = 0
    devminor: int = 0
    rdevmajor: int = 0
    rdevminor: int = 0


def member_from_entry(entry: CpioEntry, data: bytes | memoryview) -> CpioMember:
    """The writer's view of a read entry (the payload is kept as given, a view is not copied)."""
    return CpioMember(
        name=entry.name, data=data, mode=entry.mode, uid=entry.uid, gid=entry.gid,
        nlink=entry.nlink, mtime=entry.mtime, ino=entry.ino, devmajor=entry.devmajor,
        devminor=entry.devminor, rdevmajor=entry.rdevmajor, rdevminor=entry.rdevminor,
    )


_HEX13 = b"%08X" * 13


def _header(magic: bytes, values: tuple[int, ...]) -> bytes:
    """The 110-byte header: the magic and 13 fields as 8 hex digits each (one format)."""
    if min(values) < 0 or max(values) > 0xFFFFFFFF:
        bad = next(v for v in values if not 0 <= v <= 0xFFFFFFFF)
        raise ValueError(f"CPIO header field {bad} does not fit in 32 bits")
    return magic + _HEX13 % values


def iter_archive(
    members: Iterable[CpioMember], *, crc: bool = False, trailer: bool = True,
    block_size: int = 512,
) -> Iterator[bytes | memoryview]:
    """Stream the archive `write_archive` returns, in pieces; payloads are passed through
    uncopied, so a member's data may be a view into a mapped file."""
    magic = MAGIC_CRC if crc else MAGIC_NEWC
    size = 0
    tail = [CpioMember(TRAILER_NAME, mode=0, nlink=1)] if trailer else []
    for m in itertools.chain(members, tail):
        name = m.name.encode("utf-8", "surrogateescape") + b"\0"
        check = data_checksum(m.data) if crc else 0
        head = _header(magic, (
            m.ino, m.mode, m.uid, m.gid, m.nlink, m.mtime, len(m.data), m.devmajor,
            m.devminor, m.rdevmajor, m.rdevminor, len(name), check,
        )) + name
        head += b"\0" * (_align4(size + len(head)) - size - len(head))
        size += len(head)
        yield head
        if m.data:
            yield m.data
            size += len(m.data)
        pad = _align4(size) - size
        if pad:
            yield b"\0" * pad
            size += pad
    if block_size and size % block_size:
        yield b"\0" * (block_size - size % block_size)


def write_archive(
    members: Iterable[CpioMember], *, crc: bool = False, trailer: bool = True,
    block_size: int = 512,
) -> bytes:
    """Serialise members as GNU cpio `-H newc` (or `-H crc`) writes them.

    Names get a NUL, header+name and payload are padded to 4 bytes, a `TRAILER!!!` entry closes
    the archive and the whole is padded with NULs to `block_size` (GNU cpio's 512; 0 for none).
    """
    return b"".join(iter_archive(members, crc=crc, trailer=trailer, block_size=block_size))
