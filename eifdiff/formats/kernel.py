"""The kernel section: architecture and the version string a kernel build embeds.

An x86 bzImage carries a boot-protocol setup header (`HdrS` at 0x202) whose `kernel_version`
field (0x20E) points, relative to 0x200, at a NUL-terminated version string such as
`6.1.0 (builder@host) #1 SMP Mon Jan 1 00:00:00 UTC 2024`. Other kernels (an uncompressed arm64
`Image`, or a vmlinux) carry the `Linux version ...` banner in clear.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

SETUP_MAGIC_OFFSET = 0x202
SETUP_VERSION_PTR = 0x20E
ARM64_MAGIC_OFFSET = 0x38
BANNER = b"Linux version "
MAX_VERSION = 512

_VERSION_RE = re.compile(
    r"^(?P<release>\S+)\s+\((?P<host>[^()]*)\)(?:\s+\((?:[^()]|\([^()]*\))*\))*\s*(?P<build>#\S+)?"
    r"\s*(?P<rest>.*)$"
)
_DATE_RE = re.compile(
    r"(?P<date>(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+\w{3}\s+\d{1,2}\s+[\d:]{8}\s+\S+\s+\d{4})\s*$"
)


@dataclass(frozen=True, slots=True)
class KernelVersion:
    """A kernel version string and its parts; `offset` is relative to the section data."""

    text: str
    offset: int
    source: str
    release: str = ""
    build_host: str = ""
    build_number: str = ""
    build_date: str = ""


def kernel_format(data: bytes | memoryview) -> str:
    """`bzImage`, `arm64-image`, `elf` or `unknown`."""
    head = bytes(data[:0x210])
    if head[SETUP_MAGIC_OFFSET : SETUP_MAGIC_OFFSET + 4] == b"HdrS":
        return "bzImage"
    if head[ARM64_MAGIC_OFFSET : ARM64_MAGIC_OFFSET + 4] == b"ARM\x64":
        return "arm64-image"
    if head[:4] == b"\x7fELF":
        return "elf"
    return "unknown"


def _cstring(data: bytes | memoryview, start: int) -> bytes:
    chunk = bytes(data[start : start + MAX_VERSION])
    return chunk.split(b"\0", 1)[0]


def parse_version(text: str, offset: int, source: str) -> KernelVersion:
    body = text[len("Linux version ") :] if text.startswith("Linux version ") else text
    m = _VERSION_RE.match(body.strip())
    if not m:
        return KernelVersion(text, offset, source)
    rest = m.group("rest") or ""
    d = _DATE_RE.search(rest)
    return KernelVersion(
        text, offset, source, release=m.group("release"), build_host=m.group("host"),
        build_number=m.group("build") or "", build_date=d.group("date") if d else "",
    )


def find_version(data: bytes | memoryview) -> KernelVersion | None:
    """The kernel's version string, from the bzImage setup header or a clear-text banner."""
    if kernel_format(data) == "bzImage" and len(data) >= SETUP_VERSION_PTR + 2:
        (ptr,) = struct.unpack_from("<H", data, SETUP_VERSION_PTR)
        start = 0x200 + ptr
        if ptr and start < len(data):
            raw = _cstring(data, start)
            if raw and all(32 <= b < 127 for b in raw):
                return parse_version(raw.decode("ascii"), start, "setup-header")
    at = _find(data)
    if at >= 0:
        raw = _cstring(data, at).split(b"\n", 1)[0]
        return parse_version(raw.decode("ascii", "replace"), at, "banner")
    return None


def _find(data: bytes | memoryview) -> int:
    """Offset of the first banner, searching in windows so a large kernel is never copied whole."""
    step, overlap = 4 << 20, len(BANNER) - 1
    for pos in range(0, len(data), step):
        hit = bytes(data[pos : pos + step + overlap]).find(BANNER)
        if hit >= 0:
            return pos + hit
    return -1
