"""Go binaries: the build info the linker embeds (what `go version -m` prints).

The blob starts with `\\xff Go buildinf:` (16-byte aligned, in the `.go.buildinfo` ELF section),
then the pointer size and a flags byte. Go >= 1.18 sets flag 2 and stores the Go version and the
module info inline after the 32-byte header, each a uvarint length and bytes; older versions
store two pointers to Go string headers (`runtime.buildVersion`, `runtime.modinfo`), read here
through the ELF program headers. The module info is framed by two 16-byte sentinels and holds
tab-separated lines: `path`, `mod` (the main module), `dep`, `=>` (a replacement of the line
before) and `build`. See Go's debug/buildinfo and runtime/debug.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from eifdiff.packages.model import Buffer, Package

MAGIC = b"\xff Go buildinf:"
ELF_MAGIC = b"\x7fELF"
HEADER = 32
MAX_BINARY = 256 << 20  # larger files are not scanned
SCAN_LIMIT = 32 << 20  # without section headers, the magic is looked for in this much
MAX_STRING = 1 << 20  # the longest version or module-info string read
_CHUNK = 1 << 20
STDLIB = "stdlib"


@dataclass(frozen=True)
class Module:
    """A module line: path, version, checksum, and what replaced it (a `=>` line)."""

    path: str
    version: str
    sum: str = ""
    replace: Module | None = None


@dataclass(frozen=True)
class BuildInfo:
    go: str
    path: str
    main: Module | None
    deps: tuple[Module, ...]
    settings: tuple[tuple[str, str], ...]

    def setting(self, key: str) -> str | None:
        return next((v for k, v in self.settings if k == key), None)

    @property
    def vcs(self) -> dict[str, str]:
        """The version-control stamp: `vcs`, `vcs.revision`, `vcs.time`, `vcs.modified`."""
        return {k: v for k, v in self.settings if k == "vcs" or k.startswith("vcs.")}

    @property
    def trimpath(self) -> bool:
        return self.setting("-trimpath") == "true"


@dataclass(frozen=True, slots=True)
class BuildInfoChange:
    """One differing build-info fact: `field` (`go version`, `module`, `vcs.time`,
    `vcs.revision`, `vcs.modified`, `vcs`, `setting`), `name` (the module path or setting
    key), both values (None: absent) and the category of its cause."""

    field: str
    name: str
    a: str | None
    b: str | None
    category: str


_VCS_CATEGORY = {"vcs.time": "timestamp", "vcs.revision": "content",
                 "vcs.modified": "content", "vcs": "content"}


def _versions(info: BuildInfo) -> dict[str, str]:
    mods = ([info.main] if info.main is not None else []) + list(info.deps)
    out = {}
    for m in mods:
        out[m.path] = _effective(m) + (f" => {m.replace.path}" if m.replace is not None and
                                       not m.replace.version.startswith("v") else "")
    return out


def compare_buildinfo(a: BuildInfo, b: BuildInfo) -> tuple[BuildInfoChange, ...]:
    """The build-info differences of two Go binaries: toolchain, module versions
    (`golang.org/x/net v0.1.0 -> v0.2.0`), the VCS stamp, other build settings."""
    out = []
    if a.go != b.go:
        out.append(BuildInfoChange("go version", "stdlib", a.go, b.go, "content"))
    va, vb = _versions(a), _versions(b)
    for path in sorted(va.keys() | vb.keys()):
        x, y = va.get(path), vb.get(path)
        if x != y:
            category = "added" if x is None else "removed" if y is None else "content"
            out.append(BuildInfoChange("module", path, x, y, category))
    sa, sb = dict(a.settings), dict(b.settings)
    for key in sorted(sa.keys() | sb.keys()):
        x, y = sa.get(key), sb.get(key)
        if x != y:
            vcs = key == "vcs" or key.startswith("vcs.")
            out.append(BuildInfoChange(key if vcs else "setting", key, x, y,
                                       _VCS_CATEGORY.get(key, "content") if vcs else
                                       "build-path" if key == "-trimpath" else "content"))
    return tuple(out)


def _scan(view: memoryview, limit: int) -> int | None:
    """The first 16-byte aligned offset of MAGIC in the first `limit` bytes."""
    end = min(len(view), limit)
    pos = 0
    while pos < end:
        chunk = bytes(view[pos : min(pos + _CHUNK + len(MAGIC), end)])
        at = chunk.find(MAGIC)
        while at >= 0:
            if (pos + at) % 16 == 0:
                return pos + at
            at = chunk.find(MAGIC, at + 1)
        pos += _CHUNK
    return None


@dataclass(frozen=True)
class _Elf:
    """What the scan needs from an ELF header: the section count, the `.go.buildinfo` span
    and the PT_LOAD segments (vaddr, offset, filesz)."""

    sections: int
    buildinfo: tuple[int, int] | None
    loads: tuple[tuple[int, int, int], ...]


_SECTION_NAME = b".go.buildinfo\0"


def _elf(view: memoryview) -> _Elf | None:
    """Read the ELF header, section table and program headers by hand (struct, not
    pyelftools: this runs on every ELF file of a root filesystem and must cost microseconds).
    None when the header is damaged."""
    head = bytes(view[:64])
    if len(head) < 52 or head[4] not in (1, 2) or head[5] not in (1, 2):
        return None
    wide, order = head[4] == 2, "<" if head[5] == 1 else ">"
    if wide and len(head) < 64:
        return None
    fields = struct.unpack_from(order + ("HHIQQQIHHHHHH" if wide else "HHIIIIIHHHHHH"), head, 16)
    phoff, shoff, phentsize, phnum, shentsize, shnum, shstrndx = (
        fields[4], fields[5], fields[8], fields[9], fields[10], fields[11], fields[12])
    sh = struct.Struct(order + ("IIQQQQIIQQ" if wide else "IIIIIIIIII"))
    ph = struct.Struct(order + ("IIQQQQQQ" if wide else "IIIIIIII"))

    def record(st: struct.Struct, table: int, size: int, i: int) -> tuple[int, ...] | None:
        at = table + i * size
        if size < st.size or at + st.size > len(view):
            return None
        return st.unpack(bytes(view[at : at + st.size]))

    loads = []
    for i in range(min(phnum, 4096)):
        p = record(ph, phoff, phentsize, i)
        if p is not None and p[0] == 1:  # PT_LOAD
            off, vaddr, filesz = (p[2], p[3], p[5]) if wide else (p[1], p[2], p[4])
            loads.append((vaddr, off, filesz))
    if shoff and shnum == 0 and (first := record(sh, shoff, shentsize, 0)) is not None:
        shnum = first[5]  # extended numbering: the count is in section 0's sh_size
    shnum = min(shnum, (len(view) - shoff) // max(shentsize, 1), 1 << 16) if shoff else 0
    span = None
    names = record(sh, shoff, shentsize, shstrndx) if shnum else None
    if names is not None:
        for i in range(shnum):
            s = record(sh, shoff, shentsize, i)
            if s is None:
                break
            at = names[4] + s[0]
            if bytes(view[at : at + len(_SECTION_NAME)]) == _SECTION_NAME:
                span = (s[4], s[5])
                break
    return _Elf(max(shnum, 0), span, tuple(loads))


def _uvarint(b: bytes, pos: int) -> tuple[int, int] | None:
    value = shift = 0
    while pos < len(b) and shift < 64:
        c = b[pos]
        value |= (c & 0x7F) << shift
        pos += 1
        if c < 0x80:
            return value, pos
        shift += 7
    return None


def _inline_strings(b: bytes, pos: int) -> tuple[str, str] | None:
    out = []
    for _ in range(2):
        got = _uvarint(b, pos)
        if got is None or got[0] > MAX_STRING or got[1] + got[0] > len(b):
            return None
        n, pos = got
        out.append(b[pos : pos + n].decode("utf-8", "replace"))
        pos += n
    return out[0], out[1]


def _pointer_strings(view: memoryview, elf: _Elf, head: bytes) -> tuple[str, str] | None:
    """The pre-1.18 layout: two addresses of Go string headers (pointer, length)."""
    size, order = head[14], ">" if head[15] & 1 else "<"
    pair = f"{order}2{'Q' if size == 8 else 'I'}"

    def read(addr: int, n: int) -> bytes | None:
        for vaddr, off, filesz in elf.loads:
            if vaddr <= addr and addr + n <= vaddr + filesz and off + addr - vaddr + n <= len(view):
                start = off + addr - vaddr
                return bytes(view[start : start + n])
        return None

    def string(addr: int) -> str | None:
        header = read(addr, 2 * size)
        if header is None:
            return None
        ptr, length = struct.unpack(pair, header)
        if length > MAX_STRING:
            return None
        raw = read(ptr, length) if length else b""
        return None if raw is None else raw.decode("utf-8", "replace")

    addrs = struct.unpack_from(pair, head, 16)
    go, mod = string(addrs[0]), string(addrs[1])
    return None if go is None or mod is None else (go, mod)


def raw_buildinfo(data: Buffer) -> tuple[str, str] | None:
    """(Go version, module info with its sentinels stripped) of an ELF Go binary, or None."""
    view = memoryview(data).cast("B")
    if bytes(view[:4]) != ELF_MAGIC or len(view) > MAX_BINARY:
        return None
    elf = _elf(view)
    if elf is not None and elf.buildinfo is not None:
        off, size = elf.buildinfo
        window = max(size, HEADER)
        at = off if bytes(view[off : off + len(MAGIC)]) == MAGIC else None
    elif elf is not None and elf.sections:
        return None  # section headers without .go.buildinfo: not a Go >= 1.13 binary
    else:
        at, window = _scan(view, SCAN_LIMIT), 64 << 10
    if at is None:
        return None
    blob = bytes(view[at : at + min(window, 64 << 10)])
    if len(blob) < HEADER or blob[14] not in (4, 8):
        return None
    if blob[15] & 2:
        got = _inline_strings(blob, HEADER)
    elif elf is not None:
        got = _pointer_strings(view, elf, blob[:HEADER])
    else:
        got = None
    if got is None or not got[0]:
        return None
    go, mod = got
    mod = mod[16:-16] if len(mod) >= 33 and mod[-17] == "\n" else ""
    return go, mod


def _module(fields: list[str]) -> Module | None:
    if not fields or not fields[0]:
        return None
    return Module(fields[0], fields[1] if len(fields) > 1 else "",
                  fields[2] if len(fields) > 2 else "")


def parse_modinfo(go: str, modinfo: str) -> BuildInfo:
    """The module info lines as a BuildInfo (unknown or malformed lines are skipped)."""
    path = ""
    main: Module | None = None
    deps: list[Module] = []
    settings: list[tuple[str, str]] = []
    last: str | None = None  # which module a `=>` line replaces
    for line in modinfo.splitlines():
        kind, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if kind == "path":
            path, last = rest, None
        elif kind in ("mod", "dep") and (m := _module(fields)) is not None:
            if kind == "mod":
                main = m
            else:
                deps.append(m)
            last = kind
        elif kind == "=>" and last and (r := _module(fields)) is not None:
            if last == "mod" and main is not None:
                main = Module(main.path, main.version, main.sum, r)
            elif last == "dep":
                d = deps[-1]
                deps[-1] = Module(d.path, d.version, d.sum, r)
            last = None
        elif kind == "build":
            key, _, value = rest.partition("=")
            settings.append((key, value))
        elif kind == "go":
            go = go or rest
    return BuildInfo(go, path, main, tuple(deps), tuple(settings))


def buildinfo(data: Buffer) -> BuildInfo | None:
    """The build info of an ELF Go binary, or None when it has none."""
    raw = raw_buildinfo(data)
    return None if raw is None else parse_modinfo(*raw)


def _effective(m: Module) -> str:
    """The version that was built: a replacement's own version, when it has one."""
    r = m.replace
    return r.version if r is not None and r.version.startswith("v") else m.version


def packages(info: BuildInfo, *, path: str, ramdisk: str = "") -> list[Package]:
    """One Package per module of the binary at entry name `path`: the main module first, the
    dependencies, then `stdlib` at the Go version (as SBOM tools name the toolchain).

    The binary's file list is on the main module, or on `stdlib` when the build had no main
    module (the Go toolchain's own commands, `go build file.go`)."""
    out = []
    mods = [(info.main, True)] if info.main is not None else []
    mods += [(d, False) for d in info.deps]
    for m, is_main in mods:
        extra: dict[str, object] = {"binary": path, "go": info.go, "main": is_main}
        if is_main:
            extra.update(info.vcs)
        if m.replace is not None:
            extra["replace"] = f"{m.replace.path} {m.replace.version}".strip()
        out.append(Package("go", m.path, _effective(m), path, ramdisk,
                           (path,) if is_main else None, extra))
    out.append(Package("go", STDLIB, info.go, path, ramdisk,
                       None if info.main is not None else (path,),
                       {"binary": path, "go": info.go, "main": False}))
    return out


def read_binary(data: Buffer, *, path: str, ramdisk: str = "") -> list[Package]:
    """The modules of the Go binary `data` at entry name `path` ([] when not a Go binary)."""
    info = buildinfo(data)
    return [] if info is None else packages(info, path=path, ramdisk=ramdisk)
