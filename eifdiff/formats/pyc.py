"""Compiled Python files: the 16-byte header (PEP 552) and the marshalled code object after it.

The header holds a magic number (which Python wrote it), flags, then either the source file's
mtime and size (timestamp-based, flags 0) or a SipHash of the source (hash-based, flag bit 0).

The body is a `marshal` stream. This reader follows the format of Python 3.8 to 3.13 whatever
Python runs it (the running interpreter's `marshal` only reads its own version's code objects):
type codes with the FLAG_REF bit, back-references, and the code object layouts of 3.8-3.10
(six counts, varnames/freevars/cellvars, `co_lnotab`/`co_linetable`) and 3.11-3.13 (five
counts, localsplus names and kinds, `co_qualname`, exception table). Hostile input is bounded:
nesting depth, object count, every length checked against the bytes left.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from eifdiff.errors import FormatError

HEADER_SIZE = 16
MAX_DEPTH = 200  # nested containers and code objects
MAX_OBJECTS = 1 << 20  # objects read from one stream
MAX_INPUT = 64 << 20  # larger .pyc files are not parsed
MAX_LONG_DIGITS = 4096  # 15-bit digits of one integer
FLAG_REF = 0x80
# magic numbers (the first two bytes, little-endian) of each release's .pyc files
VERSIONS = ((3400, 3420, (3, 8)), (3420, 3430, (3, 9)), (3430, 3450, (3, 10)),
            (3450, 3500, (3, 11)), (3500, 3550, (3, 12)), (3550, 3600, (3, 13)))


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

    @property
    def check_source(self) -> bool:
        """Whether a hash-based .pyc is checked against its source (flag bit 1)."""
        return bool(self.flags & 2)

    @property
    def version(self) -> tuple[int, int] | None:
        return python_version(self.magic)


def python_version(magic: int) -> tuple[int, int] | None:
    """The Python release (3, minor) whose .pyc files start with this magic number."""
    return next((v for lo, hi, v in VERSIONS if lo <= magic < hi), None)


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


@dataclass(frozen=True, slots=True)
class Atom:
    """A marshalled singleton other than None/True/False: `Ellipsis`, `StopIteration`, `NULL`."""

    name: str

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Container:
    """A mutable container in a marshal stream (`list`, `dict` as key-value pairs, `set`),
    kept as an immutable value with its kind."""

    kind: str
    items: tuple[object, ...]


@dataclass(frozen=True)
class Code:
    """A code object, version-independent. `counts` are the argument counts, stack size and
    (3.8-3.10) the number of locals; `locals` are the variable names (3.8-3.10: varnames,
    freevars, cellvars; 3.11+: localsplus names, then their kinds as bytes); `lines` is the
    line table (`co_lnotab` or `co_linetable`), `exceptions` the 3.11+ exception table."""

    name: str
    qualname: str
    filename: str
    firstlineno: int
    flags: int
    counts: tuple[int, ...]
    bytecode: bytes = field(repr=False)
    consts: tuple[object, ...] = field(repr=False)
    names: tuple[object, ...] = field(repr=False)
    locals: tuple[object, ...] = field(repr=False)
    lines: bytes = field(repr=False)
    exceptions: bytes = field(default=b"", repr=False)

    def walk(self) -> Iterator[Code]:
        """This code object and every one nested in its constants, depth first."""
        stack: list[Code] = [self]
        while stack:
            code = stack.pop()
            yield code
            stack.extend(reversed([c for c in _codes(code.consts)]))

    @property
    def filenames(self) -> tuple[str, ...]:
        """Every distinct `co_filename` of this code and the code nested in it, in order."""
        return tuple(dict.fromkeys(c.filename for c in self.walk()))

    def without_filenames(self) -> Code:
        """The same code with every `co_filename` blanked: equal for two compilations of the
        same source in different places."""
        return _map_filenames(self, 0)


def _codes(values: tuple[object, ...]) -> Iterator[Code]:
    for v in values:
        if isinstance(v, Code):
            yield v
        elif isinstance(v, (tuple, frozenset)):
            yield from _codes(tuple(v))
        elif isinstance(v, Container):
            yield from _codes(v.items)


def _map_value(v: object, depth: int) -> object:
    if isinstance(v, Code):
        return _map_filenames(v, depth + 1)
    if isinstance(v, tuple):
        return tuple(_map_value(x, depth + 1) for x in v)
    if isinstance(v, frozenset):
        return frozenset(_map_value(x, depth + 1) for x in v)
    return v


def _map_filenames(code: Code, depth: int) -> Code:
    if depth > MAX_DEPTH:
        raise FormatError("code objects nested too deeply")
    return replace(code, filename="", consts=tuple(_map_value(c, depth) for c in code.consts))


@dataclass(frozen=True)
class Pyc:
    """A parsed `.pyc`: its header, the Python version it was written for, its module code."""

    header: PycHeader
    version: tuple[int, int]
    code: Code


class _Reader:
    def __init__(self, data: bytes, version: tuple[int, int], base: int) -> None:
        self.data, self.pos, self.version, self.base = data, 0, version, base
        self.refs: list[object] = []
        self.objects = 0

    def fail(self, message: str) -> FormatError:
        return FormatError(f"marshal: {message} at offset {self.base + self.pos}",
                           offset=self.base + self.pos)

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"{n} bytes claimed, {len(self.data) - self.pos} left")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def long(self) -> int:
        return int.from_bytes(self.take(4), "little", signed=True)

    def size(self, unit: int = 1) -> int:
        n = self.long()
        if n < 0 or n * unit > len(self.data) - self.pos:
            raise self.fail(f"size {n} exceeds the {len(self.data) - self.pos} bytes left")
        return n

    def obj(self, depth: int = 0) -> object:
        if depth > MAX_DEPTH:
            raise self.fail("objects nested too deeply")
        self.objects += 1
        if self.objects > MAX_OBJECTS:
            raise self.fail(f"more than {MAX_OBJECTS} objects")
        code = self.take(1)[0]
        flag, kind = code & FLAG_REF, chr(code & ~FLAG_REF)
        slot = None
        if flag and kind not in "0NFTS.r":
            slot = len(self.refs)
            self.refs.append(_PENDING)
        value = self._value(kind, depth)
        if slot is not None:
            self.refs[slot] = value
        return value

    def _string(self, n: int, encoding: str) -> str:
        raw = self.take(n)
        return raw.decode(encoding, "surrogatepass" if encoding == "utf-8" else "strict")

    def _value(self, kind: str, depth: int) -> object:
        if kind == "N":
            return None
        if kind == "F":
            return False
        if kind == "T":
            return True
        if kind == "0":
            return Atom("NULL")
        if kind == "S":
            return Atom("StopIteration")
        if kind == ".":
            return Atom("Ellipsis")
        if kind == "i":
            return self.long()
        if kind == "I":
            return int.from_bytes(self.take(8), "little", signed=True)
        if kind == "l":
            n = self.long()
            if abs(n) > MAX_LONG_DIGITS:
                raise self.fail(f"integer of {abs(n)} digits")
            digits = self.take(2 * abs(n))
            value = 0
            for k in range(abs(n) - 1, -1, -1):
                d = digits[2 * k] | digits[2 * k + 1] << 8
                if d >= 1 << 15:
                    raise self.fail("long digit out of range")
                value = value << 15 | d
            return -value if n < 0 else value
        if kind == "g":
            return struct.unpack("<d", self.take(8))[0]
        if kind == "y":
            return complex(*struct.unpack("<dd", self.take(16)))
        if kind in "fx":
            parts = []
            for _ in range(2 if kind == "x" else 1):
                text = self.take(self.take(1)[0]).decode("ascii", "replace")
                try:
                    parts.append(float(text))
                except ValueError:
                    raise self.fail(f"float {text!r} is not a number") from None
            return complex(*parts) if kind == "x" else parts[0]
        if kind == "s":
            return self.take(self.size())
        if kind in "tu":
            try:
                return self._string(self.size(), "utf-8")
            except UnicodeDecodeError as exc:
                raise self.fail(f"bad UTF-8 string ({exc.reason})") from None
        if kind in "aA":
            return self._string(self.size(), "latin-1")
        if kind in "zZ":
            return self._string(self.take(1)[0], "latin-1")
        if kind == ")":
            return tuple(self.obj(depth + 1) for _ in range(self.take(1)[0]))
        if kind in "([<>":
            items = tuple(self.obj(depth + 1) for _ in range(self.size()))
            if kind == "(":
                return items
            if kind == ">":
                try:
                    return frozenset(items)
                except TypeError:
                    raise self.fail("unhashable frozenset member") from None
            return Container("list" if kind == "[" else "set", items)
        if kind == "{":
            pairs: list[object] = []
            while True:
                key = self.obj(depth + 1)
                if key == Atom("NULL"):
                    return Container("dict", tuple(pairs))
                pairs.append((key, self.obj(depth + 1)))
        if kind == "r":
            n = self.long()
            if not 0 <= n < len(self.refs) or self.refs[n] is _PENDING:
                raise self.fail(f"bad back-reference {n}")
            return self.refs[n]
        if kind == "c":
            return self._code(depth)
        raise self.fail(f"unknown type code {kind!r}")

    def _bytes(self, depth: int, what: str) -> bytes:
        v = self.obj(depth + 1)
        if not isinstance(v, bytes):
            raise self.fail(f"{what} is not bytes")
        return v

    def _str(self, depth: int, what: str) -> str:
        v = self.obj(depth + 1)
        if not isinstance(v, str):
            raise self.fail(f"{what} is not a string")
        return v

    def _tuple(self, depth: int, what: str) -> tuple[object, ...]:
        v = self.obj(depth + 1)
        if not isinstance(v, tuple):
            raise self.fail(f"{what} is not a tuple")
        return v

    def _code(self, depth: int) -> Code:
        if self.version >= (3, 11):
            counts = tuple(self.long() for _ in range(4))
            flags = self.long()
            bytecode = self._bytes(depth, "co_code")
            consts = self._tuple(depth, "co_consts")
            names = self._tuple(depth, "co_names")
            local_names = self._tuple(depth, "co_localsplusnames")
            kinds = self._bytes(depth, "co_localspluskinds")
            filename = self._str(depth, "co_filename")
            name = self._str(depth, "co_name")
            qualname = self._str(depth, "co_qualname")
            first = self.long()
            lines = self._bytes(depth, "co_linetable")
            exceptions = self._bytes(depth, "co_exceptiontable")
            return Code(name, qualname, filename, first, flags, counts, bytecode, consts, names,
                        (*local_names, kinds), lines, exceptions)
        counts = tuple(self.long() for _ in range(5))
        flags = self.long()
        bytecode = self._bytes(depth, "co_code")
        consts = self._tuple(depth, "co_consts")
        names = self._tuple(depth, "co_names")
        local_names = tuple(self._tuple(depth, what)
                            for what in ("co_varnames", "co_freevars", "co_cellvars"))
        filename = self._str(depth, "co_filename")
        name = self._str(depth, "co_name")
        first = self.long()
        lines = self._bytes(depth, "co_lnotab")
        return Code(name, name, filename, first, flags, counts, bytecode, consts, names,
                    local_names, lines)


_PENDING = object()


def read_code(data: bytes | memoryview, version: tuple[int, int], *, base: int = 0) -> Code:
    """The code object marshalled in `data` as Python `version` wrote it (`base`: the offset
    of `data` in its file, for messages). Raises FormatError on any damage."""
    if not (3, 8) <= version <= (3, 13):
        raise FormatError(f"marshal: Python {version[0]}.{version[1]} is not read", offset=base)
    if len(data) > MAX_INPUT:
        raise FormatError(f"marshal: larger than {MAX_INPUT >> 20} MiB", offset=base)
    reader = _Reader(bytes(data), version, base)
    code = reader.obj()
    if not isinstance(code, Code):
        raise FormatError("marshal: the stream does not hold a code object", offset=base)
    return code


def parse_pyc(data: bytes | memoryview) -> Pyc:
    """The header and module code of a `.pyc` written by Python 3.8 to 3.13; FormatError when
    it is not one, is of another version, or is damaged."""
    header = parse_pyc_header(data)
    if header is None:
        raise FormatError("not a .pyc header", offset=0)
    version = header.version
    if version is None:
        raise FormatError(f"unknown .pyc magic number {header.magic}", offset=0)
    return Pyc(header, version, read_code(memoryview(data)[HEADER_SIZE:], version,
                                          base=HEADER_SIZE))
