"""Compressed ramdisks: recognise gzip, xz, zstd, lz4 (frame and legacy), bzip2; parse the gzip
header; decompress incrementally with a bound on size and on expansion ratio, and on the
decoder's own memory (an xz dictionary over `XZ_MEMLIMIT`, a zstd window over `ZSTD_MAX_WINDOW`
is refused as corrupt data would be, whatever the stream declares).

The kernel accepts a ramdisk (or each concatenated piece of one) compressed with any of these.
gzip, xz and lzma (the legacy `.lzma` format, only recognised where a caller names it, as a
kernel payload) come from the standard library, zstd from `zstandard`, lz4 from `lz4`.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from eifdiff.errors import FormatError
from eifdiff.mapped import touched

MAGICS = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"\x02\x21\x4c\x18", "lz4-legacy"),
    (b"BZh", "bzip2"),
)
CHUNK = 1 << 20
DEFAULT_MAX_SIZE = 8 << 30
DEFAULT_MAX_RATIO = 1000
XZ_MEMLIMIT = 80 << 20  # xz -9 (a 64 MiB dictionary) needs about 65 MiB to decompress
ZSTD_MAX_WINDOW = 64 << 20  # zstd -19 uses 8 MiB; --long=26 64 MiB


def detect(head: bytes | memoryview) -> str | None:
    """The compression format whose magic starts `head`, or None."""
    h = bytes(head[:6])
    for magic, name in MAGICS:
        if h.startswith(magic):
            return name
    return None


@dataclass(frozen=True, slots=True)
class GzipHeader:
    """The fields of a gzip member header (RFC 1952) that builds leave behind."""

    method: int
    flags: int
    mtime: int
    xfl: int
    os: int
    name: str | None
    comment: str | None
    header_size: int
    name_offset: int | None = None

    @property
    def level_hint(self) -> str:
        return {2: "best (-9)", 4: "fastest (-1)"}.get(self.xfl, "default")


def _cstr(buf: bytes, pos: int) -> tuple[str, int]:
    end = buf.find(b"\0", pos)
    if end < 0:
        raise FormatError(f"gzip header string at offset {pos} is not NUL-terminated")
    return buf[pos:end].decode("latin-1"), end + 1


def parse_gzip_header(data: bytes | memoryview) -> GzipHeader:
    """Parse one gzip member header; raise `FormatError` when it is not one."""
    buf = bytes(data[:65536])
    if len(buf) < 10 or buf[:2] != b"\x1f\x8b":
        raise FormatError("not a gzip header")
    method, flags, mtime, xfl, os_ = struct.unpack_from("<BBIBB", buf, 2)
    pos = 10
    if flags & 0x04:
        if pos + 2 > len(buf):
            raise FormatError("gzip extra field runs past the data")
        (xlen,) = struct.unpack_from("<H", buf, pos)
        pos += 2 + xlen
    name = comment = None
    name_offset = None
    if flags & 0x08:
        name_offset = pos
        name, pos = _cstr(buf, pos)
    if flags & 0x10:
        comment, pos = _cstr(buf, pos)
    if flags & 0x02:
        pos += 2
    if pos > len(buf):
        raise FormatError("gzip header runs past the data")
    return GzipHeader(method, flags, mtime, xfl, os_, name, comment, pos, name_offset)


class DecompressionLimit(FormatError):
    """Decompressed output would pass the size or ratio bound (`limit` bytes)."""

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


def _lz4_legacy(data: memoryview) -> Iterator[bytes]:
    """The legacy lz4 format the kernel's `lz4 -l` ramdisks use: magic, then sized blocks."""
    import lz4.block

    pos = 4
    while pos + 4 <= len(data):
        (size,) = struct.unpack_from("<I", data, pos)
        if size == 0x184C2102:  # another legacy frame starts
            pos += 4
            continue
        if size == 0 or pos + 4 + size > len(data):
            break
        yield lz4.block.decompress(bytes(data[pos + 4 : pos + 4 + size]),
                                   uncompressed_size=8 << 20)
        pos += 4 + size


def zstd_frames_end(data: memoryview) -> int:
    """Offset just past the consecutive zstd (and skippable) frames at the start of `data`.

    zstandard does not report where a stream ends, so the frame headers and block headers are
    walked here (RFC 8878 section 3.1); the walk stops at the first byte that starts no frame.
    """
    pos, size = 0, len(data)
    while pos + 4 <= size:
        (magic,) = struct.unpack_from("<I", data, pos)
        if magic & 0xFFFFFFF0 == 0x184D2A50:  # skippable frame
            if pos + 8 > size:
                break
            pos += 8 + struct.unpack_from("<I", data, pos + 4)[0]
            continue
        if magic != 0xFD2FB528 or pos + 5 > size:
            break
        fhd = data[pos + 4]
        single = (fhd >> 5) & 1
        fcs = (1 if single else 0, 2, 4, 8)[fhd >> 6]
        pos += 5 + (0 if single else 1) + (0, 1, 2, 4)[fhd & 3] + fcs
        while True:
            if pos + 3 > size:
                return size
            header = int.from_bytes(data[pos : pos + 3], "little")
            kind, bsize = (header >> 1) & 3, header >> 3
            pos += 3 + (1 if kind == 1 else bsize)
            if header & 1:
                break
        pos += 4 if (fhd >> 2) & 1 else 0
    return min(pos, size)


def _bounded(step: Callable[[bytes, int], bytes], needs_input: Callable[[], bool],
             eof: Callable[[], bool], data: memoryview) -> Iterator[bytes]:
    """Drive a decompressor that takes (input, max_length), feeding input only when asked."""
    pos = 0
    while not eof():
        if needs_input():
            if pos >= len(data):
                raise EOFError("compressed stream ends before its end marker")
            chunk = bytes(data[pos : pos + CHUNK])
            pos += len(chunk)
        else:
            chunk = b""
        out = step(chunk, CHUNK)
        if out:
            yield out


def _stream(fmt: str, data: memoryview, consumed: list[int]) -> Iterator[bytes]:
    """Yield decompressed chunks of the first stream in `data`; set consumed[0] at its end."""
    if fmt == "gzip":
        z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pos = 0
        tail = b""
        while not z.eof:
            if not tail:
                if pos >= len(data):
                    raise EOFError("gzip stream ends before its trailer")
                tail = bytes(data[pos : pos + CHUNK])
                pos += len(tail)
            out = z.decompress(tail, CHUNK)
            tail = z.unconsumed_tail
            if out:
                yield out
        consumed[0] = pos - len(z.unused_data)
        return
    if fmt in ("xz", "lzma", "bzip2", "lz4"):
        if fmt in ("xz", "lzma"):
            d: lzma.LZMADecompressor | bz2.BZ2Decompressor = lzma.LZMADecompressor(
                lzma.FORMAT_ALONE if fmt == "lzma" else lzma.FORMAT_AUTO, memlimit=XZ_MEMLIMIT)
        elif fmt == "bzip2":
            d = bz2.BZ2Decompressor()
        else:
            import lz4.frame

            d = lz4.frame.LZ4FrameDecompressor()
        fed = [0]

        def step(chunk: bytes, n: int) -> bytes:
            fed[0] += len(chunk)
            return d.decompress(chunk, n)

        yield from _bounded(step, lambda: d.needs_input, lambda: d.eof, data)
        consumed[0] = fed[0] - len(d.unused_data or b"")
        return
    if fmt == "zstd":
        import zstandard

        end = zstd_frames_end(data)
        reader = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).stream_reader(
            data[:end], read_across_frames=True)
        while out := reader.read(CHUNK):
            yield out
        consumed[0] = end
        return
    if fmt == "lz4-legacy":
        yield from _lz4_legacy(data)
        consumed[0] = len(data)
        return
    raise FormatError(f"{fmt} decompression is not supported")


class Writable(Protocol):
    """Where `decompress_to` writes: a binary file or anything with its `write`."""

    def write(self, chunk: bytes, /) -> object: ...


def decompress_to(
    data: memoryview, fmt: str, out: Writable, *, max_size: int = DEFAULT_MAX_SIZE,
    max_ratio: int = DEFAULT_MAX_RATIO,
) -> tuple[int, int]:
    """Stream-decompress `data` into `out`; return (bytes written, compressed bytes consumed).

    Raises `DecompressionLimit` once the output would exceed `max_size` or `max_ratio` times
    the input (plus 1 MiB), and `FormatError` on corrupt data. Output is written in chunks, so
    memory stays at about one chunk whatever the claimed size; the input's mapped pages are
    dropped as the output grows (`eifdiff.mapped.touched`).
    """
    limit = min(max_size, max_ratio * len(data) + (1 << 20))
    written = 0

    def emit(chunk: bytes) -> None:
        nonlocal written
        written += len(chunk)
        if written > limit:
            raise DecompressionLimit(
                f"{fmt} stream inflates past {limit} bytes (bound: {max_size} bytes or "
                f"{max_ratio}x the compressed size)", limit=limit)
        out.write(chunk)
        touched(len(chunk))  # the compressed input read so far through a map: its pages go

    consumed = [len(data)]
    try:
        for chunk in _stream(fmt, data, consumed):
            emit(chunk)
        return written, consumed[0]
    except DecompressionLimit:
        raise
    except FormatError:
        raise
    except Exception as exc:  # each library has its own error types (zstd, lz4, lzma, zlib)
        raise FormatError(f"corrupt {fmt} stream after {written} output bytes: "
                          f"{type(exc).__name__}: {exc}") from None
