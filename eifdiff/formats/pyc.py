"""The 16-byte header of a compiled Python file (PEP 552): magic, flags, then either the source
file's mtime and size (timestamp-based, flags 0) or a SipHash of the source (hash-based)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER_SIZE = 16


@dataclass(frozen=True, slots=True)
class PycHeader:
    magic: int
    flags: int
    source_mtime: int | None
    source_size: int | None
    source_hash: str | None

    @property
    def hash_based(self) -> bool:
        return bool(self.flags & 1)


def parse_pyc_header(data: bytes | memoryview) -> PycHeader | None:
    """The header of a `.pyc`, or None when the bytes do not start like one."""
    head = bytes(data[:HEADER_SIZE])
    if len(head) < HEADER_SIZE or head[2:4] != b"\r\n":
        return None
    magic, flags = struct.unpack_from("<HxxI", head, 0)
    if flags & ~3:
        return None
    if flags & 1:
        return PycHeader(magic, flags, None, None, head[8:16].hex())
    mtime, size = struct.unpack_from("<II", head, 8)
    return PycHeader(magic, flags, mtime, size, None)
