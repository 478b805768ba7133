"""apk (Alpine): `lib/apk/db/installed`, one block of `X:value` lines a package.

`P:` name, `V:` version, `A:` arch, `o:` origin; `F:` a directory and each `R:` after it a file
in that directory (paths relative to /).
"""

from __future__ import annotations

from collections.abc import Mapping

from eifdiff.packages.model import MAX_DB_SIZE, Buffer, Package, rooted, text

INSTALLED = "lib/apk/db/installed"


def parse_installed(data: Buffer, *, source: str, root: str = "",
                    ramdisk: str = "") -> list[Package]:
    """The packages of an `installed` database, with their directories and files."""
    out: list[Package] = []
    block: dict[str, str] = {}
    files: list[str] = []
    directory = ""

    def flush() -> None:
        if block.get("P") and block.get("V"):
            extra = {"arch": block.get("A"), "origin": block.get("o") or block["P"]}
            out.append(Package("apk", block["P"], block["V"], source, ramdisk, tuple(files),
                               extra))

    for line in text(data).splitlines():
        if not line.strip():
            flush()
            block, files, directory = {}, [], ""
            continue
        key, sep, value = line.partition(":")
        if not sep or len(key) != 1:
            continue
        if key == "F":
            directory = value.strip("/")
            if (p := rooted(root, directory)) is not None:
                files.append(p)
        elif key == "R":
            if (p := rooted(root, f"{directory}/{value}")) is not None:
                files.append(p)
        elif key not in block:
            block[key] = value.strip()
    flush()
    return out


def read(files: Mapping[str, Buffer], *, root: str = "", ramdisk: str = "") -> list[Package]:
    """The packages of one root's apk database (keys relative to the root)."""
    data = files.get(INSTALLED)
    if data is None or len(data) > MAX_DB_SIZE:
        return []
    return parse_installed(data, source=root + INSTALLED, root=root, ramdisk=ramdisk)


def wanted(rel: str) -> bool:
    return rel == INSTALLED
