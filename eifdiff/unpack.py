"""`eifdiff unpack FILE DIR`: every section as a file and every ramdisk as a tree, for hand
inspection, extracted safely.

Refused and reported, never written: absolute names, names with `..` components, names whose
parent is a symlink extracted earlier (or anything else not a plain directory), device nodes,
FIFOs and sockets. Files are created with O_NOFOLLOW and their modes masked to 0755 / 0644
(no setuid, setgid, sticky or group/other write bits). Nothing is written outside DIR.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from eifdiff.errors import Anomaly, EifdiffError
from eifdiff.formats.cpio import S_IFDIR, S_IFLNK, S_IFMT, S_IFREG
from eifdiff.formats.eif import SectionType
from eifdiff.load import Limits, LoadedImage, Member, load
from eifdiff.mapped import write_view

MODE_MASK = 0o755
_SUFFIX = {
    SectionType.KERNEL: ".bin", SectionType.CMDLINE: ".txt", SectionType.METADATA: ".json",
    SectionType.SIGNATURE: ".cbor", SectionType.RAMDISK: ".img",
}


@dataclass(frozen=True)
class Refusal:
    path: str
    reason: str


@dataclass(frozen=True)
class UnpackResult:
    directory: str
    sections: tuple[str, ...]
    files: int
    directories: int
    symlinks: int
    refused: tuple[Refusal, ...]
    anomalies: tuple[Anomaly, ...] = ()


def _safe_parts(name: str) -> list[str] | str:
    """The path components of an entry name, or the reason it is refused."""
    if name.startswith("/"):
        return "absolute name"
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return "name has a '..' component"
    if not parts:
        return "empty name"
    if any("\0" in p for p in parts):
        return "name has a NUL byte"
    return parts


class _Tree:
    """Extraction into one root that refuses to leave it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = self.dirs = self.links = 0
        self.refused: list[Refusal] = []
        self.hard_links: dict[tuple[int, int, int], Path] = {}
        self.known_dirs: set[str] = set()

    def _parent(self, label: str, parts: list[str]) -> Path | None:
        """The entry's parent folder, created as needed; None (and refused) when a component
        is not a plain directory. Folders created or checked once are remembered (nothing
        here ever replaces a directory), so each entry costs a few system calls, not one per
        component."""
        if len(parts) == 1:
            return self.root
        rel = "/".join(parts[:-1])
        if rel in self.known_dirs:
            return self.root / rel
        cuts = [i for i, ch in enumerate(rel) if ch == "/"]
        start = 0
        for n in range(len(cuts) - 1, -1, -1):  # the deepest folder already known
            if rel[: cuts[n]] in self.known_dirs:
                start = n + 1
                break
        for end in [*cuts[start:], len(rel)]:
            sub = rel[:end]
            cur = self.root / sub
            try:
                st = os.lstat(cur)
            except FileNotFoundError:
                os.mkdir(cur, 0o755)
                self.known_dirs.add(sub)
                continue
            if (st.st_mode & S_IFMT) != S_IFDIR:
                kind = "symlink" if (st.st_mode & S_IFMT) == S_IFLNK else "non-directory"
                part = sub.rsplit("/", 1)[-1]
                self.refused.append(Refusal(label, f"parent {part!r} is a {kind}"))
                return None
            self.known_dirs.add(sub)
        return self.root / rel

    def add(self, label: str, m: Member) -> None:
        try:
            self._add(label, m)
        except OSError as exc:
            self.refused.append(Refusal(label, f"cannot create: {exc.strerror}"))

    def _add(self, label: str, m: Member) -> None:
        e = m.entry
        if e.name.strip("/") in ("", ".") and (e.mode & S_IFMT) == S_IFDIR and \
                not e.name.startswith("/"):
            return  # the archive's root ("." from `find . | cpio`) is the target itself
        parts = _safe_parts(e.name)
        if isinstance(parts, str):
            self.refused.append(Refusal(label, parts))
            return
        kind = e.mode & S_IFMT
        if kind not in (S_IFDIR, S_IFREG, S_IFLNK):
            self.refused.append(Refusal(label, f"{e.kind} not created"))
            return
        parent = self._parent(label, parts)
        if parent is None:
            return
        target = parent / parts[-1]
        if kind == S_IFDIR:
            try:
                os.mkdir(target, 0o755)
                self.dirs += 1
            except FileExistsError:
                if not target.is_dir() or target.is_symlink():
                    self.refused.append(Refusal(label, "a non-directory is already there"))
                    return
            self.known_dirs.add("/".join(parts))
            return
        if os.path.lexists(target):
            if target.is_symlink() or not target.is_file():
                self.refused.append(Refusal(label, "a symlink or directory is already there"))
                return
            os.unlink(target)  # a later entry of the same name replaces a regular file
            self._forget(target)
        if kind == S_IFLNK:
            os.symlink(bytes(m.data).decode("utf-8", "surrogateescape"), target)
            self.links += 1
            return
        key = (e.devmajor, e.devminor, e.ino)
        first = self.hard_links.get(key) if e.nlink > 1 else None
        if first is not None:  # another name of a hard-linked file: link it, as the kernel does
            os.link(first, target, follow_symlinks=False)
            if len(m.data) and not self._write(label, target, m.data, os.O_TRUNC):
                os.unlink(target)  # refused: the tree holds nothing the report does not
                return
            self.files += 1
            return
        if not self._write(label, target, m.data, os.O_CREAT | os.O_EXCL):
            return
        os.chmod(target, e.mode & MODE_MASK)
        if e.nlink > 1:
            self.hard_links[key] = target
        self.files += 1

    def _forget(self, path: Path) -> None:
        """A replaced file no longer stands for its hard-link group: later names of the group
        are created anew, never linked to whatever took its place."""
        for key in [k for k, v in self.hard_links.items() if v == path]:
            del self.hard_links[key]

    def _write(self, label: str, target: Path, data: memoryview, flags: int) -> bool:
        try:
            fd = os.open(target, os.O_WRONLY | os.O_NOFOLLOW | flags, 0o600)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EEXIST):
                self.refused.append(Refusal(label, "refusing to write through a link"))
                return False
            raise
        with os.fdopen(fd, "wb") as f:
            write_view(f, data)
        return True


def unpack_loaded(img: LoadedImage, dest: str | os.PathLike[str]) -> UnpackResult:
    """Write sections and ramdisk trees of a loaded image under `dest` (empty or new)."""
    root = Path(dest)
    try:
        if os.path.islink(root):
            raise EifdiffError(f"{root}: target is a symlink; give a new or empty directory")
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise EifdiffError(f"{root}: target exists and is not an empty directory")
        root.mkdir(parents=True, exist_ok=True)
        (root / "sections").mkdir()
    except OSError as exc:
        raise EifdiffError(f"{root}: cannot create the target directory: "
                           f"{exc.strerror}") from None
    try:
        return _unpack_into(img, root)
    except OSError as exc:
        raise EifdiffError(f"{root}: cannot write: {exc.strerror}") from None


def _unpack_into(img: LoadedImage, root: Path) -> UnpackResult:
    names = []
    for s in img.image.layout.sections:
        fname = f"{s.index}-{s.name.replace('[', '-').replace(']', '')}{_SUFFIX[s.type]}"
        with open(root / "sections" / fname, "wb") as f:
            write_view(f, img.section_data(s))
        names.append(fname)
    tree_files = tree_dirs = tree_links = 0
    refused: list[Refusal] = []
    for r in img.ramdisks:
        base = root / r.name.replace("[", "-").replace("]", "")
        base.mkdir()
        tree = _Tree(base)
        for m in r.members():
            tree.add(f"{r.name}:{m.entry.name}", m)
        tree_files += tree.files
        tree_dirs += tree.dirs
        tree_links += tree.links
        refused += tree.refused
    anomalies = tuple(a for r in img.ramdisks for a in r.anomalies)  # what was not written
    return UnpackResult(str(root), tuple(names), tree_files, tree_dirs, tree_links,
                        tuple(refused), anomalies)


def unpack(path: str | os.PathLike[str], dest: str | os.PathLike[str],
           limits: Limits | None = None) -> UnpackResult:
    with load(path, limits=limits) as img:
        return unpack_loaded(img, dest)
