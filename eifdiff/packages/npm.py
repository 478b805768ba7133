"""Node packages: `package-lock.json` (lockfile versions 1 to 3) and the hidden lockfile npm
keeps in `node_modules/.package-lock.json`.

Versions 2 and 3 list `packages` by install location (`node_modules/a/node_modules/b`);
version 1 nests `dependencies` by name, walked here with a depth bound. A package's name is the
`name` field when present (an alias installs `npm:real@1.0` under another folder), else the
last folder of its location. Links (workspaces) and the root project itself are not packages.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator, Mapping

from eifdiff.packages.model import MAX_DB_SIZE, Buffer, Package, text

LOCK = "package-lock.json"
HIDDEN = "node_modules/.package-lock.json"
MAX_DEPTH = 64  # nested `dependencies` of a version-1 lockfile
MAX_PACKAGES = 200_000


def _name(location: str, entry: Mapping[str, object]) -> str:
    name = entry.get("name")
    if isinstance(name, str) and name:
        return name
    _, _, tail = location.rpartition("node_modules/")
    return tail


def _v3(packages: Mapping[str, object]) -> Iterator[tuple[str, str, Mapping[str, object]]]:
    for location, entry in packages.items():
        if not location or not isinstance(entry, dict) or entry.get("link"):
            continue
        version = entry.get("version")
        if "node_modules/" in f"/{location}" and isinstance(version, str) and version:
            yield location, version, entry


def _v1(deps: Mapping[str, object]) -> Iterator[tuple[str, str, Mapping[str, object]]]:
    stack: list[tuple[str, Mapping[str, object], int]] = [("", deps, 0)]
    while stack:
        prefix, level, depth = stack.pop()
        for name, entry in level.items():
            if not isinstance(entry, dict):
                continue
            location = f"{prefix}node_modules/{name}"
            version = entry.get("version")
            if isinstance(version, str) and version and not version.startswith("file:"):
                yield location, version, {k: v for k, v in entry.items() if k != "name"}
            nested = entry.get("dependencies")
            if isinstance(nested, dict) and depth + 1 < MAX_DEPTH:
                stack.append((location + "/", nested, depth + 1))


def parse_lock(data: Buffer) -> list[tuple[str, str, str, bool]]:
    """(location, name, version, dev) of every installed package a lockfile records."""
    if len(data) > MAX_DB_SIZE:
        return []
    try:
        doc = json.loads(text(data))
    except (ValueError, RecursionError):
        return []
    if not isinstance(doc, dict):
        return []
    packages, deps = doc.get("packages"), doc.get("dependencies")
    if isinstance(packages, dict):
        found = _v3(packages)
    elif isinstance(deps, dict):
        found = _v1(deps)
    else:
        return []
    out = []
    for location, version, entry in found:
        out.append((location, _name(location, entry), version, bool(entry.get("dev"))))
        if len(out) >= MAX_PACKAGES:
            break
    return out


def is_lock(name: str) -> bool:
    """A project's lockfile (not one shipped inside an installed package) or a hidden one."""
    if name == HIDDEN or name.endswith("/" + HIDDEN):
        return True
    if name != LOCK and not name.endswith("/" + LOCK):
        return False
    return "node_modules/" not in name


def read(files: Mapping[str, Buffer], *, root: str = "", ramdisk: str = "") -> list[Package]:
    """Every package recorded by the lockfiles among `files` (keys: entry names under
    `root`); `extra` holds the install location (an entry name) and whether it is dev-only."""
    out = []
    for rel in sorted(files):
        if not is_lock(rel):
            continue
        project = posixpath.dirname(rel)
        if rel.endswith(HIDDEN):
            project = posixpath.dirname(project)
        for location, name, version, dev in parse_lock(files[rel]):
            where = root + posixpath.join(project, location)
            out.append(Package("npm", name, version, root + rel, ramdisk, None,
                               {"path": where, "dev": dev,
                                "lockfile": "hidden" if rel.endswith(HIDDEN) else "project"}))
    return out


def wanted(rel: str) -> bool:
    return is_lock(rel)
