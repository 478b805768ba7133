"""Normalizations: rewrite ramdisks (and metadata) the way a reproducible build would have
written them, so PCRs can be recomputed as if the build had been fixed.

Each has a name (what `--fix` takes) and composes with the others:
`mtime[=T]` every CPIO mtime to T (default 0); `order` entries in C-locale byte order (parents
come before children); `owner` uid and gid 0; `inode` inodes renumbered in archive order (hard
links keep sharing one), device numbers 0, directory nlink 2 + subdirectories, as GNU cpio
`--reproducible` writes them; `mode[=UMASK]` permission bits masked with a umask (default 022);
`gzip` gzip headers without file name and mtime (ramdisk members and gzip files inside), as
`gzip -n` writes them, leaving the deflate data untouched; `build-time[=T]` metadata BuildTime
to T (default 1970-01-01T00:00:00+00:00).

CPIO archives are rewritten with the project's writer (which reproduces GNU cpio's layout) and
the EIF with its EIF writer. A compressed ramdisk that needs its CPIO rewritten is compressed
again by eifdiff in the same format, quickly (gzip level 1, without name or mtime; xz preset 0),
so its bytes are eifdiff's, not the original compressor's. The signature section is kept as it
is: PCR8 stays, but it no longer signs the new PCR0.

`normalize_file` refuses rather than drop bytes: a ramdisk to rewrite that could not be read
whole (an undecodable or over-budget compressed piece, a damaged archive, an entry bound) stops
it with an error naming the anomaly, and nothing is written. Members are made from the entry
table one at a time, so memory holds the sort order and the hard-link groups, not the archive.
"""

from __future__ import annotations

import bz2
import contextlib
import hashlib
import lzma
import os
import struct
import tempfile
import threading
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from eifdiff.build import Part, measure_parts, write_sections
from eifdiff.errors import EifdiffError, FormatError
from eifdiff.formats.compression import GzipHeader, parse_gzip_header
from eifdiff.formats.cpio import (
    S_IFDIR,
    S_IFMT,
    CpioMember,
    Joined,
    iter_archive,
    member_from_entry,
)
from eifdiff.formats.eif import SectionType
from eifdiff.formats.metadata import encode_metadata
from eifdiff.load import Limits, LoadedImage, Piece, Ramdisk, load
from eifdiff.mapped import WINDOW, touched
from eifdiff.measure import measure_sections

NAMES = ("mtime", "order", "owner", "inode", "mode", "gzip", "build-time")
CPIO_LEVEL = frozenset({"mtime", "order", "owner", "inode", "mode"})
DEFAULT_VALUES = {"mtime": "0", "mode": "022", "build-time": "1970-01-01T00:00:00+00:00"}
FNAME, FCOMMENT, FHCRC = 0x08, 0x10, 0x02


@dataclass(frozen=True)
class Fix:
    """One normalization and its value (None for those that take none)."""

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return self.name if self.value in (None, DEFAULT_VALUES.get(self.name)) else \
            f"{self.name}={self.value}"


def parse_fixes(text: str) -> tuple[Fix, ...]:
    """`mtime,order` or `mode=027,build-time=2024-01-01T00:00:00+00:00` -> fixes, in the
    canonical order."""
    found: dict[str, Fix] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, _, given = item.partition("=")
        if name not in NAMES:
            raise EifdiffError(f"unknown normalization {name!r} (one of {', '.join(NAMES)})")
        if given and name not in DEFAULT_VALUES:
            raise EifdiffError(f"normalization {name!r} takes no value")
        value = given or DEFAULT_VALUES.get(name)
        if name == "mtime" and not (value or "").isdigit():
            raise EifdiffError(f"mtime={value!r}: expected seconds since the epoch")
        if name == "mode":
            try:
                umask = int(value or "", 8)
            except ValueError:
                raise EifdiffError(f"mode={value!r}: expected an octal umask") from None
            if not 0 <= umask <= 0o7777:
                raise EifdiffError(f"mode={value!r}: a umask is at most 7777")
        found[name] = Fix(name, value)
    if not found:
        raise EifdiffError("no normalization named")
    return tuple(found[n] for n in NAMES if n in found)


def fixes_name(fixes: Iterable[Fix]) -> str:
    return ",".join(str(f) for f in fixes)


def _values(fixes: Sequence[Fix]) -> dict[str, str | None]:
    return {f.name: f.value for f in fixes}


@dataclass(frozen=True)
class _Source:
    """Members by position, made on demand: `count`, `member(i)` and `raw_name(i)` (the name's
    bytes, for sorting without making members)."""

    count: int
    member: Callable[[int], CpioMember]
    raw_name: Callable[[int], bytes]
    is_dir: Callable[[int], bool]

    @classmethod
    def of_list(cls, members: Sequence[CpioMember]) -> _Source:
        return cls(len(members), members.__getitem__,
                   lambda i: members[i].name.encode("utf-8", "surrogateescape"),
                   lambda i: (members[i].mode & S_IFMT) == S_IFDIR)


def normalize_members(members: list[CpioMember], fixes: Sequence[Fix]) -> list[CpioMember]:
    """Apply the CPIO-level fixes (and gzip, to gzip files inside) to one archive's members."""
    return list(_normalized(_Source.of_list(members), fixes))


def _normalized(src: _Source, fixes: Sequence[Fix]) -> Iterator[CpioMember]:
    """The members of `src` with the fixes applied, made one at a time: memory holds the sort
    order (`order`), the pending hard-link groups and the directory counts (`inode`), never
    every member at once."""
    want = _values(fixes)
    if "order" in want:
        order = sorted(range(src.count), key=src.raw_name)
        out: Iterator[CpioMember] = _link_data_last(src.member(i) for i in order)
    else:
        out = (src.member(i) for i in range(src.count))
    if "mtime" in want:
        t = int(want["mtime"] or 0)
        out = (replace(m, mtime=t) for m in out)
    if "owner" in want:
        out = (replace(m, uid=0, gid=0) for m in out)
    if "mode" in want:
        mask = int(want["mode"] or "0", 8)
        out = (replace(m, mode=m.mode & ~(mask & 0o7777)) for m in out)
    if "gzip" in want:
        out = (_gzip_member(m) for m in out)
    if "inode" in want:
        subdirs: dict[str, int] = {}
        for i in range(src.count):
            if src.is_dir(i):
                name = src.raw_name(i).decode("utf-8", "surrogateescape")
                if _dir_key(name) not in ("", "."):
                    parent = _parent(name)
                    subdirs[parent] = subdirs.get(parent, 0) + 1
        out = _renumber(out, subdirs)
    return out


def _gzip_member(m: CpioMember) -> CpioMember:
    """The member with its gzip header as `gzip -n` writes it (the body is not copied)."""
    data = m.data
    if isinstance(data, Joined) or bytes(data[:2]) != b"\x1f\x8b" or (m.mode & S_IFMT) == S_IFDIR:
        return m
    try:
        header = parse_gzip_header(data)
    except FormatError:
        return m
    if not header.mtime and not header.name:
        return m
    return replace(m, data=Joined((_gzip_head_without_name(data, header),
                                   memoryview(data)[header.header_size :])))


def _dir_key(name: str) -> str:
    name = name.strip("/")
    return name[2:] if name.startswith("./") else name


def _parent(name: str) -> str:
    key = _dir_key(name)
    return key.rsplit("/", 1)[0] if "/" in key else "."


def _is_link(m: CpioMember) -> bool:
    return (m.mode & S_IFMT) != S_IFDIR and m.nlink > 1


def _link_data_last(members: Iterable[CpioMember]) -> Iterator[CpioMember]:
    """Hard-link groups as GNU cpio writes newc: each group's names are held back until the
    last of them (`nlink` in all) is reached and then written together, the data on the last;
    groups not complete in the archive come at the end."""
    def flush(group: list[CpioMember]) -> list[CpioMember]:
        data = next((m.data for m in group if len(m.data)), b"")
        return [replace(m, data=data if i == len(group) - 1 else b"")
                for i, m in enumerate(group)]

    pending: dict[tuple[int, int, int], list[CpioMember]] = {}
    for m in members:
        if not _is_link(m):
            yield m
            continue
        group = pending.setdefault((m.devmajor, m.devminor, m.ino), [])
        group.append(m)
        if len(group) >= m.nlink:
            yield from flush(pending.pop((m.devmajor, m.devminor, m.ino)))
    for group in pending.values():
        yield from flush(group)


def _renumber(members: Iterable[CpioMember], subdirs: dict[str, int]) -> Iterator[CpioMember]:
    """Inodes 0, 1, 2, ... in archive order (hard links share one), device numbers 0,
    directory nlink 2 + subdirectories (`subdirs`: count per parent folder): what GNU cpio
    `--reproducible` writes."""
    links: dict[tuple[int, int, int], int] = {}
    next_ino = 0
    for m in members:
        key = (m.devmajor, m.devminor, m.ino)
        if _is_link(m) and key in links:
            ino = links[key]
        else:
            ino = next_ino
            next_ino += 1
            if _is_link(m):
                links[key] = ino
        is_dir = (m.mode & S_IFMT) == S_IFDIR
        nlink = 2 + subdirs.get(_dir_key(m.name) or ".", 0) if is_dir else m.nlink
        yield replace(m, ino=ino, devmajor=0, devminor=0, nlink=nlink)


def _gzip_head_without_name(data: bytes | memoryview, h: GzipHeader) -> bytes:
    """The header of a gzip member as `gzip -n` writes it: mtime 0 and no file name."""
    raw = bytes(data[: h.header_size])
    flags = h.flags & ~FNAME
    head = bytearray(struct.pack("<BBBBIBB", 0x1F, 0x8B, h.method, flags, 0, h.xfl, h.os))
    pos = 10
    if h.flags & 0x04:
        (xlen,) = struct.unpack_from("<H", raw, pos)
        head += raw[pos : pos + 2 + xlen]
        pos += 2 + xlen
    if h.flags & FNAME:
        pos = raw.index(b"\0", pos) + 1
    if h.flags & FCOMMENT:
        end = raw.index(b"\0", pos) + 1
        head += raw[pos:end]
        pos = end
    if h.flags & FHCRC:
        head += struct.pack("<H", zlib.crc32(head) & 0xFFFF)
    return bytes(head)


def _compress(fmt: str, chunks: Iterable[bytes | memoryview],
              gz: GzipHeader | None) -> Iterator[bytes]:
    """Compress a stream in the given format, deterministically and fast (the bytes are
    eifdiff's own either way: gzip level 1, xz preset 0, bzip2 level 1, zstd level 3),
    chunk by chunk."""
    if fmt == "gzip":
        level = 1
        c = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
        crc, size = 0, 0
        yield struct.pack("<BBBBIBB", 0x1F, 0x8B, 8, 0, 0, {9: 2, 1: 4}.get(level, 0),
                          gz.os if gz else 3)
        for chunk in chunks:
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
            yield c.compress(chunk)
        yield c.flush()
        yield struct.pack("<II", crc, size & 0xFFFFFFFF)
        return
    if fmt == "xz":
        x = lzma.LZMACompressor(format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32, preset=0)
        yield from (x.compress(c) for c in chunks)
        yield x.flush()
        return
    if fmt == "bzip2":
        b = bz2.BZ2Compressor(1)
        yield from (b.compress(c) for c in chunks)
        yield b.flush()
        return
    if fmt == "zstd":
        import zstandard

        z = zstandard.ZstdCompressor(level=3).compressobj()
        yield from (z.compress(bytes(c)) for c in chunks)
        yield z.flush()
        return
    if fmt == "lz4":
        import lz4.frame

        lc = lz4.frame.LZ4FrameCompressor()
        yield lc.begin()
        yield from (lc.compress(bytes(c)) for c in chunks)
        yield lc.flush()
        return
    raise EifdiffError(f"cannot compress {fmt} again; normalize it by hand first")


class _Spool:
    """Bytes written once to an unlinked temporary file and streamed back in windows: a
    recompressed ramdisk costs disk, not memory, however large it is."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.file = tempfile.TemporaryFile(prefix="eifdiff-packed-")  # noqa: SIM115 (kept)
        try:
            for chunk in chunks:
                self.file.write(chunk)
            self.file.flush()
        except BaseException:
            self.file.close()
            raise
        self.size = self.file.tell()

    def __call__(self) -> Iterator[bytes]:
        fd, pos = self.file.fileno(), 0
        while pos < self.size:  # positionless reads: threads and forked workers may share it
            chunk = os.pread(fd, min(WINDOW, self.size - pos), pos)
            if not chunk:
                raise EifdiffError(f"a temporary file of eifdiff's ended at {pos} bytes")
            pos += len(chunk)
            yield chunk


_PACKED: dict[tuple[str, str, int], _Spool] = {}
_PACKED_LOCK = threading.Lock()
PACKED_CACHE = 2


def _compressed(fmt: str, stream: Stream, gz: GzipHeader | None) -> _Spool:
    """`_compress` of a stream, spooled, computed once per distinct content: both sides of a
    pair (and successive remedies) often normalize to the same archive, and hashing it is far
    cheaper than compressing it again."""
    digest = hashlib.sha256()
    for chunk in _counted(stream()):  # the archive's bytes come from mapped files
        digest.update(chunk)
    key = (fmt, digest.hexdigest(), gz.os if gz else 3)
    with _PACKED_LOCK:
        if key not in _PACKED:
            if len(_PACKED) >= PACKED_CACHE:
                _PACKED.pop(next(iter(_PACKED))).file.close()
            _PACKED[key] = _Spool(_compress(fmt, _counted(stream()), gz))
        return _PACKED[key]


def _segments_of(piece: Piece) -> list[_Source]:
    """The members of a piece, one source per concatenated archive segment, made on demand
    from its entry table."""
    table = piece.archive.entries
    positions: list[array[int]] = []
    for i in piece.archive.members.positions:
        seg = table.segment(i)
        while len(positions) <= seg:
            positions.append(array("I"))
        positions[seg].append(i)

    def source(idx: array[int]) -> _Source:
        def member(i: int) -> CpioMember:
            e = table[idx[i]]
            start = e.data_offset - piece.base
            return member_from_entry(e, piece.view[start : start + e.filesize])
        return _Source(len(idx), member, lambda i: table.raw_name(idx[i]),
                       lambda i: (table.mode(idx[i]) & S_IFMT) == S_IFDIR)

    return [source(idx) for idx in positions] or [_Source.of_list([])]


Stream = Callable[[], Iterable[bytes | memoryview]]


def _fixed(chunk: bytes | memoryview) -> Stream:
    """A stream of one chunk, read again each time it is streamed."""
    return lambda: [chunk]


def _fixed_parts(*chunks: bytes | memoryview) -> Stream:
    """A stream of these chunks (views into the image are not copied)."""
    return lambda: chunks


def _piece_stream(piece: Piece, fixes: Sequence[Fix]) -> Stream:
    def stream() -> Iterator[bytes | memoryview]:
        for segment in _segments_of(piece):
            yield from iter_archive(_normalized(segment, fixes))
    return stream


def _needs_cpio(piece: Piece, fixes: Sequence[Fix]) -> bool:
    names = {f.name for f in fixes}
    if names & CPIO_LEVEL:
        return True
    if "gzip" not in names:
        return False
    return any(_gzip_member(m) is not m for segment in _segments_of(piece)
               for m in (segment.member(i) for i in range(segment.count)))


def ramdisk_part(r: Ramdisk, fixes: Sequence[Fix]) -> Part:
    """The normalized ramdisk: pieces rewritten as needed, the bytes between them kept."""
    stream = ramdisk_stream(r, fixes)
    if stream is None:
        return Part(len(r.raw), stream=lambda: [r.raw])
    return Part.of_stream(stream)


def ramdisk_stream(r: Ramdisk, fixes: Sequence[Fix]) -> Stream | None:
    """The normalized ramdisk's bytes, made anew on each call (None: the fixes leave its
    bytes as they are)."""
    names = {f.name for f in fixes}
    if not ({"gzip"} | CPIO_LEVEL) & names or not r.pieces:
        return None
    parts: list[Stream] = []
    pos = r.section.data_offset
    for piece in r.pieces:
        gap = r.raw[pos - r.section.data_offset : piece.offset - r.section.data_offset]
        if len(gap):
            parts.append(_fixed(gap))
        stored = r.body(piece)
        if _needs_cpio(piece, fixes):
            stream = _piece_stream(piece, fixes)
            if piece.compression is None:
                parts.append(stream)
            else:
                parts.append(_compressed(piece.compression, stream, piece.gzip))
        elif "gzip" in names and piece.gzip is not None:
            head = _gzip_head_without_name(stored, piece.gzip)
            parts.append(_fixed_parts(head, stored[piece.gzip.header_size :]))
        else:
            parts.append(_fixed(stored))
        pos = piece.offset + piece.size
    tail = r.raw[pos - r.section.data_offset :]
    if len(tail):
        parts.append(_fixed(tail))

    def stream_all() -> Iterator[bytes | memoryview]:
        for p in parts:
            yield from p()

    return stream_all


def _counting(part: Part) -> Part:
    """The same part, its bytes counted as read (`eifdiff.mapped.touched`) as they stream."""
    if part.stream is None:
        return part
    inner = part.chunks  # windows of at most WINDOW bytes, so releases come often enough

    def stream() -> Iterator[bytes | memoryview]:
        return _counted(inner())

    return Part(part.size, stream=stream)


def normalized_sections(img: LoadedImage, fixes: Sequence[Fix]) -> list[tuple[SectionType, Part]]:
    """Every section of the image, in file order, with the fixes applied."""
    want = _values(fixes)
    ramdisks = {r.section.index: r for r in img.ramdisks}
    out: list[tuple[SectionType, Part]] = []
    for s in img.image.layout.sections:
        data = img.section_data(s)
        if s.type is SectionType.RAMDISK:
            out.append((s.type, _counting(ramdisk_part(ramdisks[s.index], fixes))))
        elif s.type is SectionType.METADATA and "build-time" in want and img.image.metadata:
            md = replace(img.image.metadata, build_time=want["build-time"] or "")
            out.append((s.type, Part.of_bytes(encode_metadata(md))))
        else:
            out.append((s.type, _counting(Part(len(data), stream=_fixed(data)))))
    return out


@dataclass(frozen=True)
class Normalized:
    """The PCRs of a normalized image, and the unmeasured parts that decide byte identity."""

    pcrs: dict[str, str]
    unmeasured: tuple[bytes | str, ...]


def measure_normalized(img: LoadedImage, fixes: Sequence[Fix]) -> Normalized:
    """PCRs of the image as the fixes would leave it, without writing a file: each normalized
    section is made once and read once by every chain that measures it (see
    `measure_sections`); resident pages are dropped as the reading goes."""
    want = _values(fixes)
    ramdisks = {r.section.index: r for r in img.ramdisks}
    small = (SectionType.METADATA, SectionType.SIGNATURE)
    sections: list[tuple[SectionType, Iterable[bytes | memoryview]]] = []
    unmeasured: list[bytes | str] = []
    for s in img.image.layout.sections:
        data = img.section_data(s)
        chunks: Iterable[bytes | memoryview] = _windows(data)
        if s.type is SectionType.RAMDISK:
            stream = ramdisk_stream(ramdisks[s.index], fixes)
            if stream is not None:
                chunks = stream()
        elif s.type is SectionType.METADATA and "build-time" in want and img.image.metadata:
            md = replace(img.image.metadata, build_time=want["build-time"] or "")
            chunks = [encode_metadata(md)]
        if s.type in small:
            unmeasured.append(b"".join(bytes(c) for c in chunks))
        else:
            sections.append((s.type, _counted(chunks)))
    pcrs = measure_sections(sections)
    if img.image.signature is not None:
        pcrs["PCR8"] = img.image.signature.pcr8
    return Normalized(pcrs, (*unmeasured, img.image.layout.header.arch))


def _same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name one file (device and inode: hard links and symlinks too)."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _readable_whole(img: LoadedImage, fixes: Sequence[Fix]) -> None:
    """Refuse (`EifdiffError`) when a ramdisk the fixes rewrite could not be read whole (an
    undecodable or over-budget compressed piece, a damaged archive, an entry bound), or when
    `build-time` is asked of metadata that could not be read: rewriting would drop or ignore
    what could not be read, so nothing is written."""
    names = {f.name for f in fixes}
    has_metadata = any(s.type is SectionType.METADATA for s in img.image.layout.sections)
    if "build-time" in names and has_metadata and img.image.metadata is None:
        why = next((str(a) for a in img.image.anomalies if a.section == "metadata"), "")
        raise EifdiffError(f"{img.path}: {why or 'metadata cannot be read'}; refusing to set "
                           "its build time (nothing written)")
    if not ({"gzip"} | CPIO_LEVEL) & names:
        return
    for r in img.ramdisks:
        if r.anomalies:
            raise EifdiffError(f"{img.path}: {r.anomalies[0]}; refusing to normalize a ramdisk "
                               "that cannot be read whole (nothing written)")
def _windows(data: memoryview) -> Iterator[memoryview]:
    for pos in range(0, len(data), WINDOW):
        yield data[pos : pos + WINDOW]


def _counted(chunks: Iterable[bytes | memoryview]) -> Iterator[bytes | memoryview]:
    """The chunks, in windows of at most WINDOW bytes, each counted as read, so the image's
    resident pages stay bounded (a stored piece or a large file is one view of many MiB)."""
    for chunk in chunks:
        if len(chunk) <= WINDOW:
            yield chunk
            touched(len(chunk))
            continue
        for window in _windows(memoryview(chunk)):
            yield window
            touched(len(window))


def normalize_file(src: str | os.PathLike[str], dest: str | os.PathLike[str],
                   fixes: Sequence[Fix], *, limits: Limits | None = None) -> dict[str, str]:
    """Write the normalized EIF to `dest`; return its PCRs.

    Refuses when `dest` is `src` (same device and inode, through any link) and when a ramdisk
    to rewrite could not be read whole. The output is written to a temporary file beside `dest`
    and renamed over it once complete, so `dest` is never truncated in place (a mapped input
    stays intact) and a failed run leaves no partial file."""
    target = Path(dest)
    if _same_file(src, target):
        raise EifdiffError(f"{target}: is the input file; refusing to overwrite it")
    if target.is_dir():
        raise EifdiffError(f"{target}: is a directory")
    folder = target.parent if str(target.parent) else Path(".")
    with load(src, limits=limits) as img:
        _readable_whole(img, fixes)
        sections = normalized_sections(img, fixes)
        pcrs = measure_parts(sections)
        if img.image.signature is not None:
            pcrs["PCR8"] = img.image.signature.pcr8
        try:
            fd, tmp = tempfile.mkstemp(prefix=".eifdiff-", suffix=".tmp", dir=folder)
        except OSError as exc:
            raise EifdiffError(f"{target}: cannot write: {exc.strerror}") from None
        os.close(fd)
        try:
            write_sections(Path(tmp), sections, img.image.layout.header.arch)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, target)
        except OSError as exc:
            raise EifdiffError(f"{target}: cannot write: {exc.strerror}") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    return pcrs
