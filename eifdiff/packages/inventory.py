"""Every package an image's ramdisks record, who owns an entry, and what changed between two.

Databases are found by path under any root prefix (`rootfs/var/lib/dpkg/status` has the root
`rootfs/`) and read from the CPIO payloads in place; file lists are entry names, so they match
`m.entry.name`. Go binaries are ELF files carrying the build-info magic; only executables (or
files in a `bin/` folder) are opened to look, so a large tree of data files costs nothing.
"""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING

from eifdiff.mapped import FAULT_AROUND, touched
from eifdiff.packages import apk, dpkg, golang, npm, python, rpm
from eifdiff.packages.model import Buffer, Package, PackageChange

if TYPE_CHECKING:
    from eifdiff.load import LoadedImage, Ramdisk

SYSTEM = (
    (dpkg, re.compile(r"(?:.*/)?(var/lib/dpkg/.+)")),
    (apk, re.compile(r"(?:.*/)?(lib/apk/db/installed)")),
    (rpm, re.compile(r"(?:.*/)?((?:usr/lib/sysimage|var/lib)/rpm/rpmdb\.sqlite)")),
)
_PYTHON = re.compile(r".*\.(?:dist-info/(?:METADATA|RECORD|INSTALLER|direct_url\.json)|"
                     r"egg-info(?:/PKG-INFO|/installed-files\.txt)?)")
# substrings every database path above contains: a cheap test before the regular expressions
_HINTS = ("var/lib/dpkg/", "lib/apk/db/", "/rpm/rpmdb.sqlite", ".dist-info/", ".egg-info",
          npm.LOCK)
DEFAULT_ROOTS = ("rootfs/",)  # where nitro-cli puts the container's root filesystem
# who owns a path claimed twice
TIER = {"dpkg": 0, "apk": 0, "rpm": 0, "python": 1, "npm": 1, "go": 2}


def _root_of(name: str, roots: Iterable[str]) -> str:
    """The longest known root that prefixes `name` ("" when none does)."""
    return max((r for r in roots if name.startswith(r)), key=len, default="")


def _may_run(name: str, mode: int) -> bool:
    return bool(mode & 0o111) or "bin/" in name


def ramdisk_packages(rd: Ramdisk) -> list[Package]:
    """The packages one ramdisk records, walking its members once (each file whose first bytes
    are read counts as the pages a fault brings in, so resident memory stays bounded)."""
    groups: dict[tuple[ModuleType, str], dict[str, Buffer]] = defaultdict(dict)
    py_files: dict[str, Buffer] = {}
    npm_files: dict[str, Buffer] = {}
    binaries = []
    for m in rd.members():
        e = m.entry
        if (e.mode & 0o170000) != 0o100000 or not e.filesize:
            continue
        name = e.name
        if not any(hint in name for hint in _HINTS):
            # Go binaries are executables (or lie in a bin folder); their first bytes say ELF
            if _may_run(name, e.mode) and 64 <= e.filesize <= golang.MAX_BINARY:
                touched(FAULT_AROUND)
                if bytes(m.data[:4]) == golang.ELF_MAGIC:
                    binaries.append(m)
            continue
        for reader, pattern in SYSTEM:
            match = pattern.fullmatch(name)
            if match and reader.wanted(match.group(1)):
                root = name[: match.start(1)]
                groups[(reader, root)][match.group(1)] = m.data
                break
        else:
            if _PYTHON.fullmatch(name):
                py_files[name] = m.data
            elif npm.is_lock(name):
                npm_files[name] = m.data
            elif _may_run(name, e.mode) and 64 <= e.filesize <= golang.MAX_BINARY and \
                    bytes(m.data[:4]) == golang.ELF_MAGIC:
                binaries.append(m)
    out: list[Package] = []
    for (reader, root), files in groups.items():
        out += reader.read(files, root=root, ramdisk=rd.name)
    roots = {root for _, root in groups} | set(DEFAULT_ROOTS)
    by_root: dict[str, dict[str, Buffer]] = defaultdict(dict)
    for name, data in py_files.items():
        root = _root_of(name, roots)
        by_root[root][name[len(root):]] = data
    for root, files in by_root.items():
        out += python.read(files, root=root, ramdisk=rd.name)
    out += npm.read(npm_files, ramdisk=rd.name)
    for m in binaries:
        out += golang.read_binary(m.data, path=m.entry.name, ramdisk=rd.name)
    return out


def inventory(image: LoadedImage) -> list[Package]:
    """Every package of every ramdisk, sorted by ramdisk, ecosystem, name, version, source."""
    out = [p for rd in image.ramdisks for p in ramdisk_packages(rd)]
    return sorted(out, key=lambda p: (p.ramdisk, p.ecosystem, p.name, p.version, p.source))


def owner_index(packages: Iterable[Package], ramdisk: str | None = None) -> dict[str, Package]:
    """Entry name -> the package whose file list names it (of one ramdisk when given).

    dpkg, apk and rpm outrank python, which outranks go; a path claimed by two packages of the
    same rank (a directory such as `usr/bin`) has no single owner and is left out.
    """
    best: dict[str, tuple[int, Package | None]] = {}
    for p in packages:
        if p.files is None or (ramdisk is not None and p.ramdisk != ramdisk):
            continue
        tier = TIER[p.ecosystem]
        for f in p.files:
            cur = best.get(f)
            if cur is None or tier < cur[0]:
                best[f] = (tier, p)
            elif tier == cur[0] and cur[1] is not None and (cur[1].ecosystem, cur[1].name) != (
                    p.ecosystem, p.name):
                best[f] = (tier, None)
    return {f: p for f, (_, p) in best.items() if p is not None}


_SITE = re.compile(r"(?P<site>(?:.*/)?(?:site|dist)-packages/)(?P<top>[^/]+)(?:/.*)?")
_NODE = re.compile(r"(?P<dir>.*node_modules/(?:@[^/]+/)?[^/@.][^/]*)/.+")
_DOC = re.compile(r"(?P<root>(?:.*/)?)usr/share/doc/(?P<pkg>[^/]+)(?:/.*)?")
_DPKG_INFO = re.compile(r"(?P<root>(?:.*/)?)var/lib/dpkg/info/(?P<pkg>[^/:]+)(?::[^/.]+)?\.[^/]+")


def _pyc_source(name: str) -> str | None:
    """`d/__pycache__/m.cpython-311.pyc` and `d/m.pyc` -> `d/m.py`."""
    folder, base = posixpath.split(name)
    if not base.endswith(".pyc"):
        return None
    if posixpath.basename(folder) == "__pycache__":
        return posixpath.join(posixpath.dirname(folder), base.split(".")[0] + ".py")
    return name[:-1]


def _named(packages: Iterable[Package], ecosystems: tuple[str, ...], name: str,
           root: str) -> Package | None:
    for eco in ecosystems:
        for p in packages:
            if p.ecosystem == eco and p.name == name and p.source.startswith(root):
                return p
    return None


def owner_of(name: str, index: Mapping[str, Package],
             packages: Iterable[Package]) -> Package | None:
    """The package owning entry `name`: its file lists first, then path conventions.

    A `.pyc` belongs to its source file's owner; `.../site-packages/<top>/...` to the
    distribution whose RECORD lists that top-level module; `.../node_modules/<pkg>/...` to the
    npm package a lockfile installed there; `usr/share/doc/<pkg>/...` and
    `var/lib/dpkg/info/<pkg>.*` to the dpkg (or rpm) package `<pkg>` under the same root.
    Pass the packages (and the `owner_index`) of the entry's own ramdisk.
    """
    if (p := index.get(name)) is not None:
        return p
    packages = list(packages)
    if (source := _pyc_source(name)) is not None and (p := index.get(source)) is not None:
        return p
    if (m := _SITE.fullmatch(name)) is not None and m["top"] != "__pycache__":
        top = m["site"] + m["top"]
        for p in packages:
            if p.ecosystem == "python" and p.files and any(
                    f == top or f.startswith(top + "/") for f in p.files):
                return p
        for candidate in (top, top + "/__init__.py", top + ".py"):
            if (p := index.get(candidate)) is not None:
                return p
    if (m := _NODE.fullmatch(name)) is not None:
        for p in packages:
            if p.ecosystem == "npm" and p.extra is not None and p.extra.get("path") == m["dir"]:
                return p
    if (m := _DOC.fullmatch(name)) is not None:
        return _named(packages, ("dpkg", "rpm"), m["pkg"], m["root"])
    if (m := _DPKG_INFO.fullmatch(name)) is not None:
        return _named(packages, ("dpkg",), m["pkg"], m["root"])
    return None


def _versions(packages: Iterable[Package]) -> dict[tuple[str, str, str], str]:
    """(ecosystem, name, ramdisk) -> version; several installs of one name (multiarch, a module
    in several Go binaries) give their distinct versions, sorted and comma-separated."""
    seen: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for p in packages:
        seen[p.key].add(p.version)
    return {k: ", ".join(sorted(v)) for k, v in seen.items()}


def package_changes(a: Iterable[Package], b: Iterable[Package]) -> list[PackageChange]:
    """Packages added, removed or at another version from a to b (unchanged ones are not
    listed), sorted by ramdisk, ecosystem and name."""
    va, vb = _versions(a), _versions(b)
    out = []
    for eco, name, rd in va.keys() | vb.keys():
        old, new = va.get((eco, name, rd)), vb.get((eco, name, rd))
        if old != new:
            out.append(PackageChange(eco, name, old, new, rd))
    return sorted(out, key=lambda c: (c.ramdisk, c.ecosystem, c.name))
