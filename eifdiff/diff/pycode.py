"""Why two `.pyc` files differ: their headers field by field, then their code objects with the
file names set aside, so that "the same code compiled in another folder" (pip's
`/tmp/pip-target-xxxx/lib/python`) and "another source mtime" are told apart from new code."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from eifdiff.diff.buildpaths import common_directory
from eifdiff.errors import FormatError
from eifdiff.formats.pyc import Pyc, parse_pyc

SAME = "same"
FILENAMES = "same except file names"
DIFFERENT = "different"
UNREADABLE = "unreadable"


@dataclass(frozen=True, slots=True)
class PycChange:
    """One differing fact: `field` (`pyc magic`, `pyc flags`, `pyc source mtime`, `pyc source
    size`, `pyc source hash`, `compiled in`, `code`), the values on both sides, where it lies
    in the file (same offset on both sides for header fields) and its category."""

    field: str
    a: str | int | None
    b: str | int | None
    category: str
    offset: int | None = None
    length: int | None = None


@dataclass(frozen=True, slots=True)
class PycComparison:
    """`code` says how the code objects compare (SAME, FILENAMES, DIFFERENT, UNREADABLE);
    `compiled_in` are the (a, b) directories the code was compiled in, `installed_at` the
    directory of the image that corresponds to them (when the entry name was given);
    `problem` says why a side could not be read."""

    changes: tuple[PycChange, ...]
    code: str
    compiled_in: tuple[tuple[str, str], ...] = ()
    installed_at: str | None = None
    problem: str | None = None

    @property
    def explained(self) -> bool:
        """Whether every change has a cause other than `content`."""
        return self.code in (SAME, FILENAMES) and all(
            c.category != "content" for c in self.changes)


def source_of(entry: str) -> str | None:
    """The source file a `.pyc` entry was compiled from: `d/__pycache__/m.cpython-311.pyc` and
    `d/m.pyc` -> `d/m.py` (None for other names)."""
    folder, base = posixpath.split(entry)
    if not base.endswith(".pyc"):
        return None
    stem = base[: -len(".pyc")]
    if posixpath.basename(folder) == "__pycache__":
        folder = posixpath.dirname(folder)
        stem = stem.split(".", 1)[0]
    return posixpath.join(folder, stem + ".py")


def _compiled_in(x: str, y: str, source: str | None) -> tuple[str, str, str | None]:
    """The directories `x` and `y` were compiled in and the image directory matching them:
    the part of each file name before the tail it shares with the entry's own source path
    (`/tmp/pip-target-1/lib/python` + `pkg/m.py` for `opt/app/pkg/m.py`), else before the
    tail the two share."""
    if source is not None:
        parts, xs, ys = source.strip("/").split("/"), x.split("/"), y.split("/")
        n = 0
        while (n < min(len(parts), len(xs) - 1, len(ys) - 1)
               and parts[-1 - n] == xs[-1 - n] == ys[-1 - n]):
            n += 1
        if n:
            return ("/".join(xs[:-n]) or "/", "/".join(ys[:-n]) or "/",
                    "/" + "/".join(parts[:-n]))
    da, db, _ = common_directory(x, y)
    return da, db, None


def _header_changes(pa: Pyc, pb: Pyc) -> list[PycChange]:
    ha, hb = pa.header, pb.header
    out = []
    if ha.magic != hb.magic:
        out.append(PycChange("pyc magic", ha.magic, hb.magic, "content", 0, 2))
    if ha.flags != hb.flags:
        out.append(PycChange("pyc flags", ha.flags, hb.flags, "content", 4, 4))
    if ha.source_mtime != hb.source_mtime:
        out.append(PycChange("pyc source mtime", ha.source_mtime, hb.source_mtime,
                             "timestamp", 8, 4))
    if ha.source_size != hb.source_size:
        out.append(PycChange("pyc source size", ha.source_size, hb.source_size, "content",
                             12, 4))
    if ha.source_hash != hb.source_hash:
        out.append(PycChange("pyc source hash", ha.source_hash, hb.source_hash, "content",
                             8, 8))
    return out


def compare_pyc(a: bytes | memoryview, b: bytes | memoryview, entry: str = "") -> PycComparison:
    """Compare two `.pyc` files; `entry` is the entry name of the file in the image (to name
    the image folder that the compile-time folder stands for)."""
    try:
        pa, pb = parse_pyc(a), parse_pyc(b)
    except FormatError as exc:
        return PycComparison((PycChange("code", f"{len(a)} bytes", f"{len(b)} bytes",
                                        "content"),), UNREADABLE, problem=exc.detail)
    changes = _header_changes(pa, pb)
    if pa.version != pb.version:
        changes.append(PycChange("code", "Python {}.{}".format(*pa.version),
                                 "Python {}.{}".format(*pb.version), "content", 16))
        return PycComparison(tuple(changes), DIFFERENT)
    if pa.code == pb.code:
        return PycComparison(tuple(changes), SAME)
    if pa.code.without_filenames() != pb.code.without_filenames():
        changes.append(PycChange("code", f"{len(a) - 16} bytes", f"{len(b) - 16} bytes",
                                 "content", 16))
        return PycComparison(tuple(changes), DIFFERENT)
    source = source_of(entry) if entry else None
    dirs: dict[tuple[str, str], None] = {}
    installed = None
    for x, y in zip(pa.code.filenames, pb.code.filenames, strict=False):
        if x != y:
            da, db, at = _compiled_in(x, y, source)
            dirs[(da, db)] = None
            installed = installed or at
    for da, db in dirs:
        changes.append(PycChange("compiled in", da, db, "build-path", 16))
    return PycComparison(tuple(changes), FILENAMES, tuple(dirs), installed)
