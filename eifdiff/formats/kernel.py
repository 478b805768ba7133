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

_DATE_RE = re.compile(
    r"(?P<date>(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+\w{3}\s+\d{1,2}\s+[\d:]{8}\s+\S+\s+\d{4})\s*$"
)
# Debian: `... Debian 6.1.170-3 (2025-06-25)`; the distribution's package version and its date
_DISTRO_RE = re.compile(
    r"(?P<distro>(?:Debian|Ubuntu)\s+\S+)(?:\s+\((?P<date>\d{4}-\d{2}-\d{2})\))?\s*$")
_FLAG_WORDS = ("SMP", "PREEMPT", "PREEMPT_DYNAMIC", "PREEMPT_RT", "RT", "tainted")


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
    compiler: str = ""
    linker: str = ""
    flags: str = ""
    distro_version: str = ""

    @property
    def builder(self) -> str:
        """`user@host` of the build (the banner's first parentheses)."""
        return self.build_host


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


def _cstring(data: bytes | bytearray | memoryview, start: int) -> bytes:
    chunk = bytes(data[start : start + MAX_VERSION])
    return chunk.split(b"\0", 1)[0]


def _group(text: str, pos: int) -> tuple[str, int] | None:
    """The balanced parenthesised group starting at `text[pos]` and the position after it."""
    if pos >= len(text) or text[pos] != "(":
        return None
    depth = 0
    for i in range(pos, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[pos + 1 : i], i + 1
    return None


def _split_top(text: str) -> list[str]:
    """Split on `, ` outside parentheses: `gcc (Debian 12.2.0-14) 12.2.0, GNU ld ... 2.40`."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += {"(": 1, ")": -1}.get(c, 0)
        if c == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def parse_version(text: str, offset: int, source: str) -> KernelVersion:
    """Split a version string or `Linux version` banner into its parts.

    `<release> (<user@host>) (<compiler>[, <linker>]) #<n> <flags> <date>`: the setup header's
    copy has no toolchain group; Debian ends with `Debian <package version> (<YYYY-MM-DD>)`.
    """
    body = (text[len("Linux version ") :] if text.startswith("Linux version ") else text).strip()
    release, _, rest = body.partition(" ")
    rest = rest.lstrip()
    groups = []
    while (g := _group(rest, 0)) is not None:
        groups.append(g[0])
        rest = rest[g[1] :].lstrip()
    if not release or not groups:
        return KernelVersion(text, offset, source)
    compiler = linker = ""
    if len(groups) > 1:
        tools = _split_top(groups[1])
        compiler = tools[0] if tools else ""
        linker = tools[1] if len(tools) > 1 else ""
    build, date, distro = "", "", ""
    if rest.startswith("#"):
        build, _, rest = rest.partition(" ")
    d = _DATE_RE.search(rest)
    if d:
        date, rest = d.group("date"), rest[: d.start()]
    else:
        m = _DISTRO_RE.search(rest)
        if m:
            distro, date, rest = m.group("distro"), m.group("date") or "", rest[: m.start()]
    if not distro:
        m = _DISTRO_RE.search(rest)
        if m:
            distro, rest = m.group("distro"), rest[: m.start()]
    flags = " ".join(w for w in rest.split() if w in _FLAG_WORDS)
    return KernelVersion(
        text, offset, source, release=release, build_host=groups[0], build_number=build,
        build_date=date, compiler=compiler, linker=linker, flags=flags, distro_version=distro,
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


def _find(data: bytes | bytearray | memoryview, start: int = 0) -> int:
    """Offset of the first banner at or after `start`, searching in windows so a large kernel
    is never copied whole."""
    step, overlap = 4 << 20, len(BANNER) - 1
    for pos in range(start, len(data), step):
        hit = bytes(data[pos : pos + step + overlap]).find(BANNER)
        if hit >= 0:
            return pos + hit
    return -1


MAX_BANNERS = 16


def find_banner(data: bytes | bytearray | memoryview) -> KernelVersion | None:
    """The `Linux version` banner of a decompressed kernel.

    Since Linux 6.1 a vmlinux holds two: `init/version.c`'s, whose build number is a bare `#`,
    and the one `init/version-timestamp.c` links in last with the real `#<n>`; the first banner
    with a build number is preferred, else the first found.
    """
    first = None
    at = _find(data)
    for _ in range(MAX_BANNERS):
        if at < 0:
            break
        raw = _cstring(data, at).split(b"\n", 1)[0]
        kv = parse_version(raw.decode("ascii", "replace"), at, "banner")
        if kv.build_number not in ("", "#"):
            return kv
        first = first or kv
        at = _find(data, at + len(BANNER))
    return first
