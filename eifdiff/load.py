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
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

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
from eifdiff.formats.cpio import (
    HEADER_SIZE,
    MAX_ENTRIES,
    MAX_NAME_BYTES,
    CpioArchive,
    CpioEntry,
    read_archive,
    skip_nuls,
)
from eifdiff.formats.eif import EifLayout, Section, SectionType
from eifdiff.image import EifImage, PendingImage, finish_image, start_image
from eifdiff.mapped import MappedFile, track


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


class Member:
    """A CPIO entry of a ramdisk with the piece that holds it: `piece` and the entry's
    position in its archive's table; `entry` is made from the table on first use and kept."""

    __slots__ = ("_entry", "index", "piece")

    def __init__(self, piece: Piece, index: int) -> None:
        self.piece = piece
        self.index = index
        self._entry: CpioEntry | None = None

    @property
    def entry(self) -> CpioEntry:
        if self._entry is None:
            self._entry = self.piece.archive.entries[self.index]
        return self._entry

    @property
    def data(self) -> memoryview:
        e = self.entry
        start = e.data_offset - self.piece.base
        return self.piece.view[start : start + e.filesize]

    @property
    def header(self) -> memoryview:
        """The 110-byte newc header as stored."""
        start = self.entry.header_offset - self.piece.base
        return self.piece.view[start : start + HEADER_SIZE]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Member) and other.piece is self.piece and \
            other.index == self.index

    def __hash__(self) -> int:
        return hash((id(self.piece), self.index))

    def __repr__(self) -> str:
        return f"Member({self.entry!r}, piece {self.piece.index})"


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
            for i in p.archive.members.positions:
                yield Member(p, i)


@dataclass
class LoadedImage:
    """An opened image with its ramdisks; keep it open (a context manager) while diffing.

    The ramdisks are read at once; the measurements finish in the background, and `image`
    waits for them on first use, so work on the entries overlaps the hashing."""

    pending: PendingImage = field(repr=False)
    mapped: MappedFile
    ramdisks: tuple[Ramdisk, ...]
    _temps: list[tuple[IO[bytes], mmap.mmap]] = field(default_factory=list, repr=False)
    _image: EifImage | None = field(default=None, repr=False)
    budget: ImageBudget | None = field(default=None, repr=False)

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

    def close(self) -> None:
        if self._image is None:
            with contextlib.suppress(Exception):
                self.pending.digests()  # let the hashing threads finish before unmapping
        self.ramdisks = ()
        _release(self._temps)
        if self.budget is not None:  # the decompressed files are gone: their bytes are free
            self.budget.limits.give_back(self.budget.disk)
            self.budget.disk = 0
        self.mapped.close()

    def __enter__(self) -> LoadedImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _release(temps: list[tuple[IO[bytes], mmap.mmap]]) -> None:
    """Close decompressed temporary files (a map still viewed closes when collected)."""
    for handle, mm in temps:
        with contextlib.suppress(BufferError):
            mm.close()
        handle.close()
    temps.clear()


MAX_PIECES = 4096


@dataclass
class Limits:
    """Bounds on what images may cost.

    `max_size`: decompressed bytes on temporary disk for every ramdisk of an image together,
    and for every image loaded with this same `Limits` and still open (a pair being compared
    shares one); `max_ratio`: expansion of each ramdisk (its stored size times this, plus
    1 MiB); `max_entries`: CPIO entries read per image (the rest of the archive is an
    anomaly). The disk budget is taken as bytes are written and given back when an image is
    closed; it is safe to share between threads."""

    max_size: int = DEFAULT_MAX_SIZE
    max_ratio: int = DEFAULT_MAX_RATIO
    max_entries: int = MAX_ENTRIES
    max_name_bytes: int = MAX_NAME_BYTES
    _used: int = field(default=0, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False,
                                  compare=False)

    @property
    def disk_in_use(self) -> int:
        """Decompressed bytes held by open images loaded with these limits."""
        return self._used

    def take(self, n: int) -> bool:
        """Reserve `n` bytes of the disk budget; False (nothing reserved) if it would pass."""
        with self._lock:
            if self._used + n > self.max_size:
                return False
            self._used += n
            return True

    def give_back(self, n: int) -> None:
        with self._lock:
            self._used = max(0, self._used - n)


class BudgetExceeded(DecompressionLimit):
    """The decompression disk budget shared by an image's ramdisks (and a pair) is spent."""


class _Budgeted:
    """A temporary file that takes every byte written from the shared disk budget."""

    def __init__(self, handle: IO[bytes], limits: Limits) -> None:
        self.handle = handle
        self.limits = limits
        self.taken = 0

    def write(self, chunk: bytes) -> int:
        if not self.limits.take(len(chunk)):
            raise BudgetExceeded(
                f"decompressed data would pass {self.limits.max_size} bytes, the decompression "
                "budget shared by every ramdisk of the image (and both images of a pair)",
                limit=self.limits.max_size)
        self.taken += len(chunk)
        return self.handle.write(chunk)

    def undo(self, since: int, begin: int) -> None:
        """Drop what was written past `begin` (taken since `since`) and give it back."""
        self.handle.truncate(begin)
        self.handle.seek(begin)
        self.limits.give_back(self.taken - since)
        self.taken = since


@dataclass
class ImageBudget:
    """What one image has used of its `Limits`: entries read and disk bytes taken."""

    limits: Limits
    entries: int = 0
    names: int = 0
    disk: int = 0

    def count(self, archive: CpioArchive) -> None:
        self.entries += len(archive.members)
        self.names += archive.entries.name_bytes


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
    view: memoryview, section: Section, limits: Limits, temps: list[tuple[IO[bytes], mmap.mmap]],
    budget: ImageBudget | None = None,
) -> Ramdisk:
    """Split a ramdisk section into raw and compressed pieces and read the CPIO in each.

    Compressed pieces are decompressed into one temporary file per ramdisk, within the
    ramdisk's ratio bound and the disk budget the image shares (`budget`, counting the bytes
    taken from `limits`), and read once that file is mapped; archives are read up to the
    image's remaining entry count.
    """
    name = section.name
    start = section.data_offset
    found: list[Piece | _Stream] = []
    anomalies: list[Anomaly] = []
    handle = None
    out: _Budgeted | None = None
    image = budget if budget is not None else ImageBudget(limits)
    ratio_bound = limits.max_ratio * section.size + (1 << 20)
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
                                       max_entries=limits.max_entries,
                                       max_name_bytes=limits.max_name_bytes,
                                       entries_before=image.entries, names_before=image.names)
                image.count(archive)
                found.append(Piece(len(found), None, start + pos, archive.end - start - pos,
                                   rest, start + pos, archive))
                anomalies += archive.anomalies
                if archive.anomalies or archive.end == start + pos:
                    break
                pos = archive.end - start
            elif fmt is not None:
                if handle is None:
                    handle = tempfile.TemporaryFile(prefix="eifdiff-")  # noqa: SIM115 (mapped)
                    out = _Budgeted(handle, limits)
                assert out is not None
                begin, since = handle.tell(), out.taken
                try:
                    written, consumed = decompress_to(
                        rest, fmt, out, max_size=min(limits.max_size, ratio_bound) - total,
                        max_ratio=limits.max_ratio)
                except BudgetExceeded as exc:
                    out.undo(since, begin)
                    anomalies.append(Anomaly(name, exc.detail, start + pos,
                                             part=f"{fmt} stream"))
                    break
                except DecompressionLimit as exc:
                    out.undo(since, begin)
                    anomalies.append(Anomaly(
                        name, f"decompressed {fmt} data passes {total + exc.limit} "
                        f"bytes, the bound for this ramdisk (at most {limits.max_size} bytes, "
                        f"and {limits.max_ratio}x its {section.size} stored bytes plus 1 MiB)",
                        start + pos, part=f"{fmt} stream"))
                    break
                except FormatError as exc:
                    out.undo(since, begin)
                    anomalies.append(Anomaly(name, exc.detail, start + pos, part=f"{fmt} stream"))
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
                mapped = track(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ))
                temps.append((handle, mapped))
            else:
                handle.close()
            handle = None
    except BaseException:
        if handle is not None:
            handle.close()
        if out is not None:
            limits.give_back(out.taken)
        raise
    image.disk += out.taken if out is not None else 0
    pieces: list[Piece] = []
    for i, item in enumerate(found):
        if isinstance(item, Piece):
            pieces.append(item)
            continue
        stream = (memoryview(mapped)[item.begin : item.begin + item.size]
                  if mapped is not None and item.size else memoryview(b""))
        label = item.fmt if i == 0 else f"{item.fmt}[{i}]"
        archive = read_archive(stream, base=0, path=name, stream=label,
                               max_entries=limits.max_entries,
                               max_name_bytes=limits.max_name_bytes,
                               entries_before=image.entries, names_before=image.names)
        image.count(archive)
        pieces.append(Piece(i, item.fmt, item.offset, item.consumed, stream, 0, archive,
                            item.gzip))
        anomalies += archive.anomalies
    return Ramdisk(section, view, tuple(pieces), tuple(anomalies))


def begin(path: str | os.PathLike[str], *, measure: bool = True) -> PendingImage:
    """Map and check the EIF and start measuring it: the measurement forks its workers here, so
    call it before starting threads of your own (`finish` may then run in a thread). Without
    `measure`, only the rows of a comparison will be right (see `image.start_image`)."""
    mapped = MappedFile.open(path)
    try:
        return start_image(mapped, sha256=True, measure=measure)
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
    budget = ImageBudget(limits)
    mapped = pending.mapped
    temps: list[tuple[IO[bytes], mmap.mmap]] = []
    try:
        ramdisks = tuple(
            load_ramdisk(mapped.view[s.data_offset : s.end], s, limits, temps, budget)
            for s in pending.layout.of_type(SectionType.RAMDISK)
        )
        mapped.release()  # headers were read; pages come back from the page cache on demand
    except BaseException:
        _release(temps)
        limits.give_back(budget.disk)
        abandon(pending)
        raise
    return LoadedImage(pending, mapped, ramdisks, temps, budget=budget)


def load(path: str | os.PathLike[str], *, limits: Limits | None = None) -> LoadedImage:
    """Open, check, measure and hash the EIF, then read every ramdisk down to its entries."""
    return finish(begin(path), limits=limits)
