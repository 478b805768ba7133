"""Load an EIF down to its ramdisk entries: the tree the differ walks.

EIF -> sections -> ramdisks -> pieces (raw CPIO, or a compressed stream decompressed into a
temporary file with a size and ratio bound) -> CPIO entries. ELF and `.pyc` facts are read on
demand for the entries that differ (see `eifdiff.diff`). Damage inside a ramdisk becomes an
`Anomaly`; only a damaged container raises.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from eifdiff.errors import Anomaly, FormatError
from eifdiff.formats.compression import (
    DEFAULT_MAX_RATIO,
    DEFAULT_MAX_SIZE,
    GzipHeader,
    decompress_to,
    detect,
    parse_gzip_header,
)
from eifdiff.formats.cpio import HEADER_SIZE, CpioArchive, CpioEntry, read_archive, skip_nuls
from eifdiff.formats.eif import Section, SectionType
from eifdiff.image import EifImage, finish_image, start_image
from eifdiff.mapped import MappedFile


@dataclass(frozen=True)
class Piece:
    """One stretch of a ramdisk: a raw CPIO run, or one compressed stream and what it holds.

    `view` holds the CPIO bytes (decompressed for a compressed piece); `base` is the absolute
    file offset of `view[0]` for a raw piece and 0 for a decompressed one.
    """

    index: int
    compression: str | None
    offset: int
    size: int
    view: memoryview = field(repr=False)
    base: int
    archive: CpioArchive
    gzip: GzipHeader | None = None

    @property
    def decompressed_size(self) -> int:
        return len(self.view)


@dataclass(frozen=True, slots=True)
class Member:
    """A CPIO entry of a ramdisk with the piece that holds it."""

    entry: CpioEntry
    piece: Piece

    @property
    def data(self) -> memoryview:
        start = self.entry.data_offset - self.piece.base
        return self.piece.view[start : start + self.entry.filesize]

    @property
    def header(self) -> memoryview:
        """The 110-byte newc header as stored."""
        start = self.entry.header_offset - self.piece.base
        return self.piece.view[start : start + HEADER_SIZE]


@dataclass(frozen=True)
class Ramdisk:
    """A ramdisk section: its raw bytes and the pieces read from them."""

    section: Section
    raw: memoryview = field(repr=False)
    pieces: tuple[Piece, ...]
    anomalies: tuple[Anomaly, ...]

    def body(self, piece: Piece, skip: int = 0) -> memoryview:
        """The stored (possibly compressed) bytes of a piece, past `skip` header bytes."""
        start = piece.offset - self.section.data_offset
        return self.raw[start + skip : start + piece.size]

    @property
    def name(self) -> str:
        return self.section.name

    @property
    def compressions(self) -> tuple[str, ...]:
        return tuple(p.compression or "none" for p in self.pieces)

    def members(self) -> Iterator[Member]:
        for p in self.pieces:
            for e in p.archive.members:
                yield Member(e, p)


@dataclass
class LoadedImage:
    """An opened image with its ramdisks; keep it open (a context manager) while diffing."""

    image: EifImage
    mapped: MappedFile
    ramdisks: tuple[Ramdisk, ...]
    _temps: list[tuple[object, mmap.mmap]] = field(default_factory=list, repr=False)

    @property
    def path(self) -> str:
        return self.mapped.path

    def section_data(self, section: Section) -> memoryview:
        return self.mapped.view[section.data_offset : section.end]

    def release(self) -> None:
        """Drop resident pages of the file and of decompressed ramdisks (bounded memory)."""
        self.mapped.release()
        for _, mm in self._temps:
            with contextlib.suppress(ValueError):
                mm.madvise(mmap.MADV_DONTNEED)

    def close(self) -> None:
        self.ramdisks = ()
        _release(self._temps)
        self.mapped.close()

    def __enter__(self) -> LoadedImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _release(temps: list[tuple[object, mmap.mmap]]) -> None:
    """Close decompressed temporary files (a map still viewed closes when collected)."""
    for handle, mm in temps:
        with contextlib.suppress(BufferError):
            mm.close()
        handle.close()  # type: ignore[attr-defined]
    temps.clear()


@dataclass
class Limits:
    """Bounds on decompression: total output per stream and expansion ratio."""

    max_size: int = DEFAULT_MAX_SIZE
    max_ratio: int = DEFAULT_MAX_RATIO


def _decompress(
    view: memoryview, fmt: str, limits: Limits, temps: list[tuple[object, mmap.mmap]]
) -> tuple[memoryview, int]:
    handle = tempfile.TemporaryFile(prefix="eifdiff-")  # noqa: SIM115 (kept open while mapped)
    try:
        written, consumed = decompress_to(view, fmt, handle, max_size=limits.max_size,
                                          max_ratio=limits.max_ratio)
        handle.flush()
    except BaseException:
        handle.close()
        raise
    if not written:
        handle.close()
        return memoryview(b""), consumed
    mm = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    temps.append((handle, mm))
    return memoryview(mm), consumed


def _releaser(mm: mmap.mmap) -> Callable[[], None]:
    def release() -> None:
        with contextlib.suppress(ValueError):
            mm.madvise(mmap.MADV_DONTNEED)
    return release


def load_ramdisk(
    view: memoryview, section: Section, limits: Limits, temps: list[tuple[object, mmap.mmap]],
    release: Callable[[], None] | None = None,
) -> Ramdisk:
    """Split a ramdisk section into raw and compressed pieces and read the CPIO in each."""
    name = section.name
    start = section.data_offset
    pieces: list[Piece] = []
    anomalies: list[Anomaly] = []
    pos = 0
    while True:
        pos = skip_nuls(view, pos)
        if pos >= len(view):
            break
        rest = view[pos:]
        fmt = detect(rest)
        if bytes(rest[:5]) == b"07070":
            archive = read_archive(rest, base=start + pos, path=name, stop_at_foreign=True,
                                   release=release)
            pieces.append(Piece(len(pieces), None, start + pos, archive.end - start - pos, rest,
                                start + pos, archive))
            anomalies += archive.anomalies
            if archive.anomalies or archive.end == start + pos:
                break
            pos = archive.end - start
        elif fmt is not None:
            where = f"{name}~{fmt}"
            try:
                stream, consumed = _decompress(rest, fmt, limits, temps)
            except FormatError as exc:
                anomalies.append(Anomaly(where, exc.detail, start + pos))
                break
            gz = None
            if fmt == "gzip":
                try:
                    gz = parse_gzip_header(rest)
                except FormatError:
                    gz = None
            archive = read_archive(stream, base=0, path=where,
                                   release=_releaser(temps[-1][1]) if len(stream) else None)
            pieces.append(Piece(len(pieces), fmt, start + pos, consumed, stream, 0, archive, gz))
            anomalies += archive.anomalies
            if consumed <= 0:
                break
            pos += consumed
        else:
            anomalies.append(Anomaly(
                name, f"{len(view) - pos} bytes that are neither CPIO nor a known compression "
                f"(starting {bytes(rest[:8]).hex()})", start + pos))
            break
    return Ramdisk(section, view, tuple(pieces), tuple(anomalies))


def load(path: str | os.PathLike[str], *, limits: Limits | None = None) -> LoadedImage:
    """Open, check, measure and hash the EIF, then read every ramdisk down to its entries."""
    limits = limits or Limits()
    mapped = MappedFile.open(path)
    temps: list[tuple[object, mmap.mmap]] = []
    try:
        pending = start_image(mapped, sha256=True)
        ramdisks = tuple(
            load_ramdisk(mapped.view[s.data_offset : s.end], s, limits, temps, mapped.release)
            for s in pending.layout.of_type(SectionType.RAMDISK)
        )
        image = finish_image(pending)
        mapped.release()  # headers were read; pages come back from the page cache on demand
    except BaseException:
        _release(temps)
        mapped.close()
        raise
    return LoadedImage(image, mapped, ramdisks, temps)
