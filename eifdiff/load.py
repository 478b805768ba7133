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
    DecompressionLimit,
    GzipHeader,
    decompress_to,
    detect,
    parse_gzip_header,
)
from eifdiff.formats.cpio import HEADER_SIZE, CpioArchive, CpioEntry, read_archive, skip_nuls
from eifdiff.formats.eif import EifLayout, Section, SectionType
from eifdiff.image import EifImage, PendingImage, finish_image, start_image
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

    @property
    def stream(self) -> str | None:
        """The coordinate space of offsets into `view`: None (file offsets) for a raw piece,
        else the decompressed stream (`gzip`, or `gzip[2]` for the ramdisk's third piece)."""
        if self.compression is None:
            return None
        return self.compression if self.index == 0 else f"{self.compression}[{self.index}]"


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
    """An opened image with its ramdisks; keep it open (a context manager) while diffing.

    The ramdisks are read at once; the measurements finish in the background, and `image`
    waits for them on first use, so work on the entries overlaps the hashing."""

    pending: PendingImage = field(repr=False)
    mapped: MappedFile
    ramdisks: tuple[Ramdisk, ...]
    _temps: list[tuple[object, mmap.mmap]] = field(default_factory=list, repr=False)
    _image: EifImage | None = field(default=None, repr=False)

    @property
    def layout(self) -> EifLayout:
        return self.pending.layout

    @property
    def image(self) -> EifImage:
        """The checked, measured and decoded image (waits for the measurement)."""
        if self._image is None:
            self._image = finish_image(self.pending)
        return self._image

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
        if self._image is None:
            with contextlib.suppress(Exception):
                self.pending.digests()  # let the hashing threads finish before unmapping
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


MAX_PIECES = 4096


@dataclass
class Limits:
    """Bounds on decompression: total output per stream and expansion ratio."""

    max_size: int = DEFAULT_MAX_SIZE
    max_ratio: int = DEFAULT_MAX_RATIO


def _releaser(mm: mmap.mmap) -> Callable[[], None]:
    def release() -> None:
        with contextlib.suppress(ValueError):
            mm.madvise(mmap.MADV_DONTNEED)
    return release


@dataclass(frozen=True)
class _Stream:
    """A compressed piece decompressed into the ramdisk's temporary file, not yet read."""

    fmt: str
    offset: int
    consumed: int
    begin: int
    size: int
    gzip: GzipHeader | None


def load_ramdisk(
    view: memoryview, section: Section, limits: Limits, temps: list[tuple[object, mmap.mmap]],
    release: Callable[[], None] | None = None,
) -> Ramdisk:
    """Split a ramdisk section into raw and compressed pieces and read the CPIO in each.

    Compressed pieces are decompressed into one temporary file per ramdisk, within one size
    and ratio budget for the whole ramdisk, and read once that file is mapped.
    """
    name = section.name
    start = section.data_offset
    found: list[Piece | _Stream] = []
    anomalies: list[Anomaly] = []
    handle = None
    budget = min(limits.max_size, limits.max_ratio * section.size + (1 << 20))
    total = 0
    pos = 0
    try:
        while True:
            pos = skip_nuls(view, pos)
            if pos >= len(view):
                break
            if len(found) >= MAX_PIECES:
                anomalies.append(Anomaly(name, f"more than {MAX_PIECES} archive or compressed "
                                         "pieces; the rest is not read", start + pos))
                break
            rest = view[pos:]
            fmt = detect(rest)
            if bytes(rest[:5]) == b"07070":
                archive = read_archive(rest, base=start + pos, path=name, stop_at_foreign=True,
                                       release=release)
                found.append(Piece(len(found), None, start + pos, archive.end - start - pos,
                                   rest, start + pos, archive))
                anomalies += archive.anomalies
                if archive.anomalies or archive.end == start + pos:
                    break
                pos = archive.end - start
            elif fmt is not None:
                if handle is None:
                    handle = tempfile.TemporaryFile(prefix="eifdiff-")  # noqa: SIM115 (mapped)
                begin = handle.tell()
                try:
                    written, consumed = decompress_to(rest, fmt, handle, max_size=budget - total,
                                                      max_ratio=limits.max_ratio)
                except DecompressionLimit as exc:
                    anomalies.append(Anomaly(
                        name, f"decompressed {fmt} data passes {total + exc.limit} "
                        f"bytes, the bound for this ramdisk (at most {limits.max_size} bytes, "
                        f"and {limits.max_ratio}x its {section.size} stored bytes plus 1 MiB)",
                        start + pos, part=f"{fmt} stream"))
                    handle.truncate(begin)
                    break
                except FormatError as exc:
                    anomalies.append(Anomaly(name, exc.detail, start + pos, part=f"{fmt} stream"))
                    handle.truncate(begin)
                    handle.seek(begin)
                    break
                total += written
                gz = None
                if fmt == "gzip":
                    with contextlib.suppress(FormatError):
                        gz = parse_gzip_header(rest)
                found.append(_Stream(fmt, start + pos, consumed, begin, written, gz))
                if consumed <= 0:
                    break
                pos += consumed
            else:
                anomalies.append(Anomaly(
                    name, f"{len(view) - pos} bytes that are neither CPIO nor a known "
                    f"compression (starting {bytes(rest[:8]).hex()})", start + pos))
                break
        mapped = None
        if handle is not None:
            handle.flush()
            if handle.seek(0, os.SEEK_END):
                mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
                temps.append((handle, mapped))
            else:
                handle.close()
            handle = None
    except BaseException:
        if handle is not None:
            handle.close()
        raise
    pieces: list[Piece] = []
    for i, item in enumerate(found):
        if isinstance(item, Piece):
            pieces.append(item)
            continue
        stream = (memoryview(mapped)[item.begin : item.begin + item.size]
                  if mapped is not None and item.size else memoryview(b""))
        label = item.fmt if i == 0 else f"{item.fmt}[{i}]"
        archive = read_archive(stream, base=0, path=name, stream=label,
                               release=_releaser(mapped) if mapped is not None else None)
        pieces.append(Piece(i, item.fmt, item.offset, item.consumed, stream, 0, archive,
                            item.gzip))
        anomalies += archive.anomalies
    return Ramdisk(section, view, tuple(pieces), tuple(anomalies))


def begin(path: str | os.PathLike[str]) -> PendingImage:
    """Map and check the EIF and start measuring it: the measurement forks its workers here, so
    call it before starting threads of your own (`finish` may then run in a thread)."""
    mapped = MappedFile.open(path)
    try:
        return start_image(mapped, sha256=True)
    except BaseException:
        mapped.close()
        raise


def abandon(pending: PendingImage) -> None:
    """Let a begun image's measurement end and unmap it (when its pair could not be opened)."""
    with contextlib.suppress(Exception):
        pending.digests()
    pending.mapped.close()


def finish(pending: PendingImage, *, limits: Limits | None = None) -> LoadedImage:
    """Read every ramdisk of a begun image down to its entries; on failure the image is closed."""
    limits = limits or Limits()
    mapped = pending.mapped
    temps: list[tuple[object, mmap.mmap]] = []
    try:
        ramdisks = tuple(
            load_ramdisk(mapped.view[s.data_offset : s.end], s, limits, temps, mapped.release)
            for s in pending.layout.of_type(SectionType.RAMDISK)
        )
        mapped.release()  # headers were read; pages come back from the page cache on demand
    except BaseException:
        _release(temps)
        abandon(pending)
        raise
    return LoadedImage(pending, mapped, ramdisks, temps)


def load(path: str | os.PathLike[str], *, limits: Limits | None = None) -> LoadedImage:
    """Open, check, measure and hash the EIF, then read every ramdisk down to its entries."""
    return finish(begin(path), limits=limits)
