"""rpm: the SQLite rpmdb (`usr/lib/sysimage/rpm/rpmdb.sqlite`, `var/lib/rpm/rpmdb.sqlite`).

Each row of `Packages(hnum, blob)` is an rpm header blob: big-endian `il` (index entries) and
`dl` (data store length), `il` 16-byte entries (tag, type, offset, count), then the store.
Every read is bounded by the blob; a blob whose counts do not fit is skipped whole. The BDB and
ndb databases of older rpm versions are not read.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import struct
import tempfile
from collections.abc import Mapping

from eifdiff.packages.model import MAX_DB_SIZE, Buffer, Package, rooted

DATABASES = ("usr/lib/sysimage/rpm/rpmdb.sqlite", "var/lib/rpm/rpmdb.sqlite")
NAME, VERSION, RELEASE, EPOCH, ARCH = 1000, 1001, 1002, 1003, 1022
DIRINDEXES, BASENAMES, DIRNAMES, OLDFILENAMES = 1116, 1117, 1118, 1027
INT32, STRING, STRING_ARRAY, I18NSTRING = 4, 6, 8, 9
WANTED = {NAME, VERSION, RELEASE, EPOCH, ARCH, DIRINDEXES, BASENAMES, DIRNAMES, OLDFILENAMES}
HEADER_MAGIC = b"\x8e\xad\xe8\x01"
_INDEX = struct.Struct(">IIII")

Value = str | tuple[str, ...] | tuple[int, ...]


def _strings(store: bytes, offset: int, count: int) -> tuple[str, ...] | None:
    out = []
    pos = offset
    for _ in range(count):
        end = store.find(b"\0", pos)
        if end < 0:
            return None
        out.append(store[pos:end].decode("utf-8", "replace"))
        pos = end + 1
    return tuple(out)


def parse_header(blob: Buffer) -> dict[int, Value]:
    """The wanted tags of one header blob ({} when the blob's counts do not fit in it).

    STRING and I18NSTRING give a str (the first translation), STRING_ARRAY a tuple of str,
    INT32 a tuple of int; other types and tags are skipped.
    """
    b = bytes(blob)
    if b[:4] == HEADER_MAGIC:  # a header as stored in a .rpm file, with its 8-byte preamble
        b = b[8:]
    if len(b) < 8:
        return {}
    il, dl = struct.unpack_from(">II", b)
    if il > (len(b) - 8) // 16 or 8 + 16 * il + dl > len(b):
        return {}
    start = 8 + 16 * il
    store = b[start : start + dl]
    out: dict[int, Value] = {}
    for i in range(il):
        tag, typ, offset, count = _INDEX.unpack_from(b, 8 + 16 * i)
        if tag not in WANTED or offset >= dl or count == 0 or count > dl:
            continue
        if typ in (STRING, I18NSTRING, STRING_ARRAY):
            values = _strings(store, offset, count if typ == STRING_ARRAY else 1)
            if values is not None:
                out[tag] = values if typ == STRING_ARRAY else values[0]
        elif typ == INT32 and offset + 4 * count <= dl:
            out[tag] = struct.unpack_from(f">{count}I", store, offset)
    return out


def _str(v: Value | None) -> str | None:
    if isinstance(v, str):
        return v
    return v[0] if isinstance(v, tuple) and v and isinstance(v[0], str) else None


def _file_list(h: Mapping[int, Value], root: str) -> tuple[str, ...]:
    base, dirs, index = h.get(BASENAMES), h.get(DIRNAMES), h.get(DIRINDEXES)
    paths: list[str] = []
    if isinstance(base, tuple) and isinstance(dirs, tuple) and isinstance(index, tuple):
        for name, di in zip(base, index, strict=False):
            if isinstance(di, int) and 0 <= di < len(dirs):
                paths.append(f"{dirs[di]}{name}")
    elif isinstance(old := h.get(OLDFILENAMES), tuple):
        paths = [p for p in old if isinstance(p, str)]
    return tuple(p for p in (rooted(root, p) for p in paths) if p is not None)


def package(blob: Buffer, *, source: str, root: str = "", ramdisk: str = "") -> Package | None:
    """One header blob as a Package (None without a name and version)."""
    h = parse_header(blob)
    name, version = _str(h.get(NAME)), _str(h.get(VERSION))
    if not name or not version:
        return None
    release = _str(h.get(RELEASE))
    epoch = h.get(EPOCH)
    full = version + (f"-{release}" if release else "")
    if isinstance(epoch, tuple) and epoch and isinstance(epoch[0], int):
        full = f"{epoch[0]}:{full}"
    extra = {"arch": _str(h.get(ARCH)), "release": release}
    return Package("rpm", name, full, source, ramdisk, _file_list(h, root), extra)


def blobs(data: Buffer) -> list[bytes]:
    """The header blobs of an rpmdb.sqlite file's `Packages` table ([] when it is not one)."""
    with tempfile.TemporaryDirectory(prefix="eifdiff-rpmdb-") as tmp:
        path = os.path.join(tmp, "rpmdb.sqlite")
        with open(path, "wb") as f:
            f.write(data)
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro&immutable=1",
                                                    uri=True)) as db:
                rows = db.execute("SELECT blob FROM Packages ORDER BY hnum").fetchall()
        except sqlite3.Error:
            return []
    return [bytes(r[0]) for r in rows if isinstance(r[0], bytes | memoryview)]


def read(files: Mapping[str, Buffer], *, root: str = "", ramdisk: str = "") -> list[Package]:
    """The packages of one root's rpmdb (keys relative to the root); the first database
    found in `DATABASES` order is read."""
    for rel in DATABASES:
        data = files.get(rel)
        if data is None or len(data) > MAX_DB_SIZE:
            continue
        pkgs = (package(b, source=root + rel, root=root, ramdisk=ramdisk) for b in blobs(data))
        return [p for p in pkgs if p is not None]
    return []


def wanted(rel: str) -> bool:
    return rel in DATABASES
