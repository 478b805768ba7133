"""Read-only memory maps of input files, streamed in windows with bounded resident memory.

Resident memory is bounded in one place: every map of an input or of a decompressed ramdisk is
registered here (`track`), whoever reads through a view says how much (`touched`), and every
`RELEASE_EVERY` bytes read the pages of all registered maps are dropped (they come back from the
page cache on demand). Parsers and differs take no callbacks for it."""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from eifdiff.errors import EifdiffError

WINDOW = 2 << 20
PAGE = mmap.PAGESIZE
RELEASE_EVERY = 16 << 20
FAULT_AROUND = 2 * 65536  # what touching one small object of a map may bring in, whatever its size

_maps: weakref.WeakSet[mmap.mmap] = weakref.WeakSet()
_read = [0]


def track(mm: mmap.mmap) -> mmap.mmap:
    """Register a map whose resident pages `touched` may drop; returns it."""
    _maps.add(mm)
    return mm


def touched(n: int) -> None:
    """`n` bytes were read through mapped views; every `RELEASE_EVERY` bytes, drop the resident
    pages of every registered map."""
    _read[0] += n
    if _read[0] > RELEASE_EVERY:
        _read[0] = 0
        release_all()


def sha256_of(view: bytes | memoryview) -> str:
    """SHA-256 (hex) of a view that may lie in a mapped file, read in windows, each counted
    as read (`touched`), so hashing a large entry keeps resident memory bounded."""
    h = hashlib.sha256()
    for pos in range(0, len(view), WINDOW):
        chunk = view[pos : pos + WINDOW]
        h.update(chunk)
        touched(len(chunk))
    return h.hexdigest()


def write_view(out: BinaryIO, view: bytes | memoryview) -> None:
    """Write a view that may lie in a mapped file, in windows each counted as read."""
    for pos in range(0, len(view), WINDOW):
        chunk = view[pos : pos + WINDOW]
        out.write(chunk)
        touched(len(chunk))


def release_all() -> None:
    for mm in list(_maps):
        with contextlib.suppress(ValueError, OSError):  # closed meanwhile
            mm.madvise(mmap.MADV_DONTNEED)


@dataclass
class MappedFile:
    """A file mapped read-only; `view` is a memoryview of all of it (empty files map to b"")."""

    path: str
    fd: int = -1
    size: int = 0
    _map: mmap.mmap | None = field(default=None, repr=False)
    view: memoryview = field(default_factory=lambda: memoryview(b""), repr=False)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> MappedFile:
        name = os.fspath(path)
        try:
            fd = os.open(name, os.O_RDONLY)
        except OSError as exc:
            raise EifdiffError(f"{name}: cannot open: {exc.strerror}") from None
        size = os.fstat(fd).st_size
        mf = cls(name, fd, size)
        if size:
            try:
                mf._map = track(mmap.mmap(fd, 0, access=mmap.ACCESS_READ))
            except (OSError, ValueError) as exc:
                os.close(fd)
                raise EifdiffError(f"{name}: cannot map: {exc}") from None
            mf.view = memoryview(mf._map)
        return mf

    def windows(self, start: int, end: int) -> Iterator[memoryview]:
        """Stream `[start, end)` in windows from a private map, dropping pages once passed.

        A private map per call lets several threads stream the same file without one dropping
        pages another still needs; resident memory stays at about one window per stream.
        """
        if end <= start:
            return
        own = mmap.mmap(self.fd, 0, access=mmap.ACCESS_READ)
        view = memoryview(own)
        try:
            for pos in range(start, end, WINDOW):
                stop = min(pos + WINDOW, end)
                chunk = view[pos:stop]
                yield chunk
                chunk.release()
                lo, hi = pos - pos % PAGE, stop - stop % PAGE
                if hi > lo:
                    own.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
        finally:
            view.release()
            own.close()

    def release(self) -> None:
        """Drop this map's resident pages (they are read again from the page cache if used)."""
        if self._map is not None and self.size:
            self._map.madvise(mmap.MADV_DONTNEED)

    def close(self) -> None:
        self.view.release()
        if self._map is not None:
            # a caller may still hold a slice; then the map closes when it is collected
            with contextlib.suppress(BufferError):
                self._map.close()
            self._map = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> MappedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
