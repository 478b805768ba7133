"""CPIO "newc" archives (`070701`, and `070702` with its checksum), as the initramfs uses them.

Hand-written on purpose: Python's standard library has no CPIO module, libarchive drops the inode
and device fields and stops at the first trailer, and a forensic reader must keep every header
field and the offset of every header and payload. Concatenated archives (several segments, each
ending in `TRAILER!!!`, separated by NUL padding) are read as one sequence of entries.
"""

from __future__ import annotations

import itertools
import struct
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import overload

from eifdiff.errors import Anomaly
from eifdiff.mapped import touched

MAGIC_NEWC = b"070701"
MAGIC_CRC = b"070702"
HEADER_SIZE = 110
TRAILER_NAME = "TRAILER!!!"
TRAILER_RAW = TRAILER_NAME.encode()
FIELDS = (
    "ino", "mode", "uid", "gid", "nlink", "mtime", "filesize",
    "devmajor", "devminor", "rdevmajor", "rdevminor", "namesize", "check",
)
MAX_NAME_SIZE = 4096  # PATH_MAX, as the kernel's initramfs unpacker enforces
WALKED = 1 << 20  # the walk is counted as read in steps of this many bytes
MAX_ENTRIES = 150_000  # per image (eifdiff.load shares both between an image's archives)
MAX_NAME_BYTES = 16 << 20

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


class EntryTable(Sequence[CpioEntry]):
    """Entries stored by column (fixed-width arrays and one buffer of names): about 90 bytes
    per entry plus its name, instead of a few hundred for one object per entry. Indexing and
    iteration give `CpioEntry` objects made on demand (equal, not identical, on each access);
    `name(i)` and `is_trailer(i)` read one column without making one."""

    __slots__ = ("_crc", "_ends", "_fields", "_names", "_offsets", "_segments")

    def __init__(self) -> None:
        self._fields = array("I")  # the 13 header fields of each entry, one after the other
        self._offsets = array("q")  # header and data offset of each entry
        self._segments = array("I")
        self._crc = bytearray()  # 1 for a 070702 entry
        self._names = bytearray()  # raw names (without the NUL), end to end
        self._ends = array("Q")

    def append(self, raw_name: bytes, crc: bool, values: Sequence[int], header_offset: int,
               data_offset: int, segment: int) -> None:
        self._fields.extend(values)
        self._offsets.extend((header_offset, data_offset))
        self._segments.append(segment)
        self._crc.append(1 if crc else 0)
        self._names += raw_name
        self._ends.append(len(self._names))

    def __len__(self) -> int:
        return len(self._ends)

    @property
    def name_bytes(self) -> int:
        """Bytes of all names together (trailers included)."""
        return len(self._names)

    def raw_name(self, i: int) -> bytes:
        start = self._ends[i - 1] if i > 0 else 0
        return bytes(self._names[start : self._ends[i]])

    def name(self, i: int) -> str:
        return self.raw_name(i).decode("utf-8", "surrogateescape")

    def segment(self, i: int) -> int:
        return self._segments[i]

    def mode(self, i: int) -> int:
        return self._fields[13 * i + 1]

    def is_trailer(self, i: int) -> bool:
        return self.raw_name(i) == TRAILER_RAW

    def _entry(self, i: int) -> CpioEntry:
        (ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor,
         namesize, check) = self._fields[13 * i : 13 * i + 13]
        return CpioEntry(self.name(i), "070702" if self._crc[i] else "070701", ino, mode, uid,
                         gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor,
                         namesize, check, self._offsets[2 * i], self._offsets[2 * i + 1],
                         self._segments[i])

    @overload
    def __getitem__(self, i: int) -> CpioEntry: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[CpioEntry, ...]: ...

    def __getitem__(self, i: int | slice) -> CpioEntry | tuple[CpioEntry, ...]:
        if isinstance(i, slice):
            return tuple(self._entry(j) for j in range(*i.indices(len(self))))
        n = len(self)
        if not -n <= i < n:
            raise IndexError("entry index out of range")
        return self._entry(i % n)

    def __iter__(self) -> Iterator[CpioEntry]:
        for i in range(len(self)):
            yield self._entry(i)

    def __eq__(self, other: object) -> bool:
        return _equal_entries(self, other)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<EntryTable of {len(self)} entries>"


def _equal_entries(self: Sequence[CpioEntry], other: object) -> bool:
    """Entry sequences compare equal entry by entry (tables, views, tuples and lists alike)."""
    if not isinstance(other, tuple | list | EntryTable | MemberView):
        return NotImplemented
    return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))


class MemberView(Sequence[CpioEntry]):
    """The entries of a table that are not trailers, by position (made on demand)."""

    __slots__ = ("positions", "table")
    positions: array[int]  # where the members are in `table`

    def __init__(self, table: EntryTable) -> None:
        self.table = table
        self.positions = array("I", (i for i in range(len(table)) if not table.is_trailer(i)))

    def __len__(self) -> int:
        return len(self.positions)

    @overload
    def __getitem__(self, i: int) -> CpioEntry: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[CpioEntry, ...]: ...

    def __getitem__(self, i: int | slice) -> CpioEntry | tuple[CpioEntry, ...]:
        if isinstance(i, slice):
            return tuple(self.table[j] for j in self.positions[i])
        return self.table[self.positions[i]]

    def __iter__(self) -> Iterator[CpioEntry]:
        for j in self.positions:
            yield self.table[j]

    __eq__ = _equal_entries
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<MemberView of {len(self)} entries>"


@dataclass(frozen=True)
class CpioArchive:
    """What a read found: entries (trailers included), segment spans, and what went wrong.

    `entries` is a columnar `EntryTable`; `members` (the entries without trailers) is computed
    once and kept."""

    entries: EntryTable
    segments: tuple[tuple[int, int], ...]
    end: int
    anomalies: tuple[Anomaly, ...] = field(default=())

    @cached_property
    def members(self) -> MemberView:
        """Entries without the trailers."""
        return MemberView(self.entries)


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


def data_checksum(data: Payload) -> int:
    """The `070702` checksum: the sum of all payload bytes, modulo 2**32."""
    if isinstance(data, Joined):
        return sum(data_checksum(p) for p in data.parts) & 0xFFFFFFFF
    if len(data) < 4096:
        return sum(bytes(data)) & 0xFFFFFFFF
    import numpy  # large payloads only; numpy comes with pandas

    return int(numpy.frombuffer(data, dtype=numpy.uint8).sum(dtype=numpy.uint64)) & 0xFFFFFFFF


def read_archive(
    buf: bytes | memoryview, *, base: int = 0, path: str = "ramdisk", verify_check: bool = True,
    stop_at_foreign: bool = False, stream: str | None = None, max_entries: int = MAX_ENTRIES,
    max_name_bytes: int = MAX_NAME_BYTES, entries_before: int = 0, names_before: int = 0,
) -> CpioArchive:
    """Read every entry of one or more concatenated newc archives in `buf`.

    Never raises on bad data: the read stops at the first damaged header and the damage becomes
    an `Anomaly` naming the section `path` and the offset (in the decompressed `stream` when
    given, else absolute); entries read before it are kept. With
    `stop_at_foreign`, data after a trailer that is not another archive (say, a compressed
    archive that follows) ends the read quietly; `end` then points at it. The walk is counted
    as read (`eifdiff.mapped.touched`), so a mapped buffer's resident pages stay bounded.
    At most `max_entries` entries (trailers not counted), with names of at most
    `max_name_bytes` bytes together, are read, counting `entries_before` entries and
    `names_before` name bytes read elsewhere (other archives of the image); one more is an
    anomaly.
    """
    view = memoryview(buf).cast("B") if not isinstance(buf, memoryview) else buf
    size = len(view)
    entries = EntryTable()
    segments: list[tuple[int, int]] = []
    anomalies: list[Anomaly] = []
    pos = 0
    segment = 0
    seg_start = 0
    released = 0
    while True:
        if pos - released > WALKED:
            touched(pos - released)
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
        raw_name = raw_name.rstrip(b"\0")
        data_start = _align4(name_end)
        if data_start + filesize > size:
            name = raw_name.decode("utf-8", "surrogateescape")
            anomalies.append(
                Anomaly(path,
                        f"CPIO entry declares {filesize} bytes at offset {base + data_start} "
                        f"but the archive ends at {base + size}", base + pos, stream, name)
            )
            break
        trailer = raw_name == TRAILER_RAW
        if not trailer and entries_before + len(entries) - segment >= max_entries:
            anomalies.append(Anomaly(path, f"more than {max_entries} entries; the rest is not "
                                     "read (the bound on entries per image)", base + pos))
            break
        if not trailer and names_before + entries.name_bytes + len(raw_name) > max_name_bytes:
            anomalies.append(Anomaly(path, f"entry names pass {max_name_bytes} bytes; the rest "
                                     "is not read (the bound on name bytes per image)",
                                     base + pos))
            break
        if (
            verify_check and magic == MAGIC_CRC and (values[1] & S_IFMT) == S_IFREG
            and data_checksum(view[data_start : data_start + filesize]) != values[12]
        ):
            name = raw_name.decode("utf-8", "surrogateescape")
            anomalies.append(Anomaly(path, "070702 checksum does not match the data",
                                     base + pos, stream, name))
        entries.append(raw_name, magic == MAGIC_CRC, values, base + pos, base + data_start,
                       segment)
        pos = _align4(data_start + filesize)
        if trailer:
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
    return CpioArchive(entries, tuple(segments), base + min(pos, size), tuple(anomalies))


def iter_payloads(
    buf: bytes | memoryview, archive: CpioArchive, *, base: int = 0
) -> Iterator[tuple[CpioEntry, memoryview]]:
    """Each member with a zero-copy view of its payload (`base` is the buffer's absolute offset)."""
    view = memoryview(buf)
    for e in archive.members:
        start = e.data_offset - base
        yield e, view[start : start + e.filesize]


@dataclass(frozen=True, slots=True)
class Joined:
    """A payload made of parts (a new header before a view of the old body, say), written one
    after the other and never copied into one buffer."""

    parts: tuple[bytes | memoryview, ...]

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)


Payload = bytes | memoryview | Joined


@dataclass(frozen=True, slots=True)
class CpioMember:
    """What the writer needs for one member; every header field is explicit."""

    name: str
    data: Payload = b""
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
            if isinstance(m.data, Joined):
                yield from m.data.parts
            else:
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
