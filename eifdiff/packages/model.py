"""What a root filesystem says about its packages: `Package`, and `PackageChange` between two."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ECOSYSTEMS = ("dpkg", "apk", "rpm", "python", "go", "npm")


@dataclass(frozen=True)
class Package:
    """One installed package as a database in the image records it.

    `source` is the path (CPIO entry name) of the record it was read from, `ramdisk` the ramdisk
    holding it (`ramdisk[i]`), `files` the entry names it installed (None when unknown) and
    `extra` reader-specific facts (architecture, source package, Go binary, ...).
    """

    ecosystem: str
    name: str
    version: str
    source: str
    ramdisk: str = ""
    files: tuple[str, ...] | None = field(default=None, repr=False)
    extra: Mapping[str, Any] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if self.ecosystem not in ECOSYSTEMS:
            raise ValueError(f"unknown ecosystem {self.ecosystem!r}")

    @property
    def key(self) -> tuple[str, str, str]:
        """What `package_changes` matches on: (ecosystem, name, ramdisk)."""
        return (self.ecosystem, self.name, self.ramdisk)

    def to_dict(self, *, files: bool = False) -> dict[str, Any]:
        """A JSON-ready dict (the file list only when asked: it can be long)."""
        d: dict[str, Any] = {
            "ecosystem": self.ecosystem, "name": self.name, "version": self.version,
            "source": self.source, "ramdisk": self.ramdisk,
            "extra": dict(self.extra) if self.extra is not None else None,
        }
        if files:
            d["files"] = list(self.files) if self.files is not None else None
        return d


@dataclass(frozen=True, order=True)
class PackageChange:
    """A package whose version differs between images a and b (None: absent on that side)."""

    ecosystem: str
    name: str
    a: str | None
    b: str | None
    ramdisk: str

    @property
    def kind(self) -> str:
        """`added`, `removed` or `changed`."""
        if self.a is None:
            return "added"
        if self.b is None:
            return "removed"
        return "changed"

    def to_dict(self) -> dict[str, Any]:
        return {"ecosystem": self.ecosystem, "name": self.name, "a": self.a, "b": self.b,
                "ramdisk": self.ramdisk, "kind": self.kind}


Buffer = bytes | bytearray | memoryview
MAX_DB_SIZE = 256 << 20  # a package database larger than this is not read


def text(data: Buffer) -> str:
    """Bytes as text (UTF-8, bad bytes replaced: a damaged record still parses)."""
    return bytes(data).decode("utf-8", "replace")


def rooted(root: str, path: str) -> str | None:
    """An absolute (or root-relative) path in the image as an entry name under `root`.

    `..` cannot climb above the root (as in a chroot); the root itself gives None.
    """
    if path[:1] == "/" and "/." not in path and "//" not in path and path[-1:] != "/":
        return root + path[1:]  # the common case, already normal
    p = posixpath.normpath("/" + path).lstrip("/")
    if p in ("", "."):
        return None
    return root + p
