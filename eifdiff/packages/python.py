"""Python distributions: `*.dist-info/METADATA` + `RECORD`, and `*.egg-info` (a `PKG-INFO` in a
directory, with `installed-files.txt`, or a single file holding the PKG-INFO text).

RECORD paths are relative to the directory holding the dist-info (site-packages); `..` paths
(scripts in `bin/`) are resolved and dropped if they would leave the root.
"""

from __future__ import annotations

import csv
import email.parser
import email.policy
import json
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from eifdiff.packages.model import MAX_DB_SIZE, Buffer, Package, rooted, text

DIST_INFO = ".dist-info/"
EGG_INFO = ".egg-info"
MAX_METADATA = 16 << 20


def parse_metadata(data: Buffer) -> tuple[str, str] | None:
    """(Name, Version) from METADATA or PKG-INFO headers (None when either is missing)."""
    if len(data) > MAX_METADATA:
        return None
    head = text(data).split("\n\n", 1)[0]
    msg = email.parser.HeaderParser(policy=email.policy.compat32).parsestr(head)
    name, version = msg.get("Name"), msg.get("Version")
    if not isinstance(name, str) or not isinstance(version, str):
        return None
    name, version = name.strip(), version.strip()
    return (name, version) if name and version else None


def _resolve(base: str, path: str, root: str) -> str | None:
    """`path` (relative to `base`, a root-relative directory, or absolute) as an entry name."""
    if path.startswith("/"):
        return rooted(root, path)
    p = posixpath.normpath(posixpath.join(base, path))
    if p == ".." or p.startswith("../") or p == ".":
        return None
    return root + p


def _resolve_all(base: str, paths: Iterable[str], root: str) -> tuple[str, ...]:
    return tuple(p for p in (_resolve(base, x, root) for x in paths if x) if p is not None)


def parse_record(data: Buffer, site: str, root: str = "") -> tuple[str, ...]:
    """RECORD (CSV: path, hash, size) as entry names; `site` is the root-relative directory
    holding the dist-info."""
    try:
        rows = [r[0] for r in csv.reader(text(data).splitlines()) if r]
    except csv.Error:
        return ()
    return _resolve_all(site, rows, root)


@dataclass(frozen=True, slots=True)
class RecordEntry:
    """One RECORD row: the path as written, its hash (`sha256=...`, '' when none) and size."""

    path: str
    hash: str
    size: int | None


def record_entries(data: Buffer) -> tuple[RecordEntry, ...]:
    """RECORD rows as written (paths relative to site-packages); bad rows are skipped."""
    if len(data) > MAX_METADATA:
        return ()
    try:
        rows = list(csv.reader(text(data).splitlines()))
    except csv.Error:
        return ()
    out = []
    for r in rows:
        if not r or not r[0]:
            continue
        size = r[2].strip() if len(r) > 2 else ""
        out.append(RecordEntry(r[0], r[1] if len(r) > 1 else "",
                               int(size) if size.isdigit() else None))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class DirectUrl:
    """PEP 610 `direct_url.json`: where pip installed a distribution from. `kind` is `vcs`,
    `archive` or `dir`; `detail` the VCS commit, the archive hash, or `editable`."""

    url: str
    kind: str
    detail: str


def parse_direct_url(data: Buffer) -> DirectUrl | None:
    """The `direct_url.json` of a distribution, None when unreadable."""
    if len(data) > MAX_METADATA:
        return None
    try:
        doc = json.loads(text(data))
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("url"), str):
        return None
    for kind, key in (("vcs", "commit_id"), ("archive", "hash"), ("dir", "editable")):
        info = doc.get(f"{kind}_info")
        if isinstance(info, dict):
            detail = info.get(key, "")
            return DirectUrl(doc["url"], kind, "editable" if detail is True else str(detail or ""))
    return DirectUrl(doc["url"], "", "")


def parse_installed_files(data: Buffer, egg_dir: str, root: str = "") -> tuple[str, ...]:
    """`installed-files.txt` (one path a line, relative to the egg-info directory)."""
    return _resolve_all(egg_dir, (x.strip() for x in text(data).splitlines()), root)


def read(files: Mapping[str, Buffer], *, root: str = "", ramdisk: str = "") -> list[Package]:
    """Every distribution among `files` (keys relative to the root)."""
    out = []
    for rel in sorted(files):
        data = files[rel]
        if len(data) > MAX_DB_SIZE:
            continue
        if rel.endswith(DIST_INFO + "METADATA"):
            info, fmt = posixpath.dirname(rel), "dist-info"
            listing = files.get(info + "/RECORD")
            site = posixpath.dirname(info)
            owned = parse_record(listing, site, root) if listing is not None else None
        elif rel.endswith(EGG_INFO + "/PKG-INFO"):
            info, fmt = posixpath.dirname(rel), "egg-info"
            listing = files.get(info + "/installed-files.txt")
            owned = parse_installed_files(listing, info, root) if listing is not None else None
        elif rel.endswith(EGG_INFO):
            info, fmt, owned = rel, "egg-info", None
        else:
            continue
        meta = parse_metadata(data)
        if meta is None:
            continue
        extra: dict[str, object] = {"site": root + posixpath.dirname(info), "format": fmt}
        if (installer := files.get(info + "/INSTALLER")) is not None and \
                len(installer) <= MAX_METADATA:
            extra["installer"] = text(installer).strip()
        if (direct := files.get(info + "/direct_url.json")) is not None and \
                (url := parse_direct_url(direct)) is not None:
            extra["direct_url"] = url.url
            if url.detail:
                extra[f"{url.kind or 'direct'}"] = url.detail
        out.append(Package("python", meta[0], meta[1], root + rel, ramdisk, owned, extra))
    return out


def wanted(rel: str) -> bool:
    return rel.endswith((DIST_INFO + "METADATA", DIST_INFO + "RECORD", DIST_INFO + "INSTALLER",
                         DIST_INFO + "direct_url.json", EGG_INFO + "/PKG-INFO",
                         EGG_INFO + "/installed-files.txt", EGG_INFO))
