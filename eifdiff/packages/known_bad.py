"""Package versions that must never ship (`known_bad.json` beside this module, documented there).

A package matches an entry when the ecosystem and name match and its upstream version (the
epoch and the distribution's release suffix removed) is one of the entry's versions.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from eifdiff.packages.model import Package

SCHEMA = "eifdiff-known-bad/1"
_APK_RELEASE = re.compile(r"-r\d+$")


@dataclass(frozen=True)
class Warning:
    """A package in an image at a version listed as known bad."""

    ecosystem: str
    name: str
    version: str
    advisory: str
    message: str
    ramdisk: str

    def to_dict(self) -> dict[str, str]:
        return {"ecosystem": self.ecosystem, "name": self.name, "version": self.version,
                "advisory": self.advisory, "message": self.message, "ramdisk": self.ramdisk}


def upstream_version(version: str, ecosystem: str) -> str:
    """The upstream part of a version: `1:5.6.1-1` -> `5.6.1` (dpkg), `5.6.1-r0` -> `5.6.1`
    (apk), `5.6.0-1.fc40` -> `5.6.0` (rpm), `v1.2.3` -> `1.2.3` (go)."""
    v = version.strip()
    epoch, sep, rest = v.partition(":")
    if sep and epoch.isdigit():
        v = rest
    if ecosystem == "apk":
        v = _APK_RELEASE.sub("", v)
    elif ecosystem in ("dpkg", "rpm") and "-" in v:
        v = v.rsplit("-", 1)[0]
    elif ecosystem == "go":
        v = v.removeprefix("v")
    return v


def _check(doc: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ValueError(f"{where}: not a {SCHEMA} document")
    entries = doc.get("entries")
    keys = ("advisory", "ecosystem", "names", "versions", "message", "source")
    if not isinstance(entries, list) or not all(
            isinstance(e, dict) and all(k in e for k in keys) for e in entries):
        raise ValueError(f"{where}: every entry needs {', '.join(keys)}")
    return entries


@functools.cache
def _bundled() -> tuple[dict[str, Any], ...]:
    raw = resources.files("eifdiff.packages").joinpath("known_bad.json").read_text("utf-8")
    return tuple(_check(json.loads(raw), "known_bad.json"))


def load(path: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The entries of `path`, or of the bundled `known_bad.json` (raises ValueError when the
    file does not follow the schema)."""
    if path is None:
        return list(_bundled())
    with open(path, encoding="utf-8") as f:
        return _check(json.load(f), os.fspath(path))


def warnings(packages: Iterable[Package],
             entries: Sequence[Mapping[str, Any]] | None = None) -> list[Warning]:
    """A Warning for each package at a known-bad version, sorted by ramdisk, ecosystem, name."""
    entries = load() if entries is None else entries
    out = set()
    for p in packages:
        for e in entries:
            if e["ecosystem"] == p.ecosystem and p.name in e["names"] \
                    and upstream_version(p.version, p.ecosystem) in e["versions"]:
                out.add(Warning(p.ecosystem, p.name, p.version, e["advisory"],
                                f"{p.name} {p.version}: {e['message']} ({e['source']})",
                                p.ramdisk))
    return sorted(out, key=lambda w: (w.ramdisk, w.ecosystem, w.name, w.version, w.advisory))
