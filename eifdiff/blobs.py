"""The blobs nitro-cli ships (kernel, its config, cmdline, `init`, `nsm.ko`), identified by digest.

`eifdiff/data/aws_blobs.json` lists every version of them in aws-nitro-enclaves-cli's public git
history (regenerate with `scripts/make_blob_catalog.py`): the commit that added it, its date and
the releases that shipped it. A file is matched by SHA-256, or by its git blob id when the
catalog's source lacked the object (the large kernel images).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class KnownBlob:
    """One version of one nitro-cli blob, with its provenance."""

    kind: str
    arch: str
    path: str
    git_blob: str
    sha256: str | None
    size: int | None
    commit: str
    date: str
    releases: tuple[str, ...]
    vermagic: str | None = None
    build_id: str | None = None
    kernel_release: str | None = None
    text: str | None = None

    @property
    def month(self) -> str:
        return self.date[:7]

    @property
    def release_span(self) -> str:
        """`v1.2.0`, `v1.2.0 to v1.3.0`, or `unreleased`."""
        if not self.releases:
            return "unreleased"
        if len(self.releases) == 1:
            return self.releases[0]
        return f"{self.releases[0]} to {self.releases[-1]}"

    @property
    def label(self) -> str:
        """`init: nitro-cli blob of 2022-02 (v1.2.0 to v1.3.0)`."""
        return f"{self.kind}: nitro-cli {self.arch} blob of {self.month} ({self.release_span})"


@dataclass(frozen=True)
class Catalog:
    repository: str
    head: str
    blobs: tuple[KnownBlob, ...]

    def by_sha256(self, digest: str) -> KnownBlob | None:
        """The earliest catalog entry with this SHA-256 (a blob moved between paths keeps it)."""
        return next((b for b in self.blobs if b.sha256 == digest), None)

    def by_git_blob(self, oid: str) -> KnownBlob | None:
        return next((b for b in self.blobs if b.git_blob == oid), None)


@cache
def catalog() -> Catalog:
    """The packaged catalog, read once."""
    raw = json.loads(resources.files("eifdiff").joinpath("data", "aws_blobs.json").read_text())
    blobs = []
    for e in raw["blobs"]:
        blobs.append(KnownBlob(
            kind=e["kind"], arch=e["arch"], path=e["path"], git_blob=e["git_blob"],
            sha256=e["sha256"], size=e["size"], commit=e["commit"], date=e["date"],
            releases=tuple(e["releases"]), vermagic=e.get("vermagic"),
            build_id=e.get("build_id"), kernel_release=e.get("kernel_release"),
            text=e.get("text")))
    blobs.sort(key=lambda b: b.date)
    return Catalog(raw["repository"], raw["head"], _merged(blobs))


def _version(tag: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in tag.lstrip("v").split("."))


def _merged(blobs: list[KnownBlob]) -> tuple[KnownBlob, ...]:
    """One entry per content: the first path and commit that held it, every release since
    (the same file moved, e.g. from `blobs/cmdline` to `blobs/x86_64/cmdline`)."""
    first: dict[str, KnownBlob] = {}
    releases: dict[str, set[str]] = {}
    for b in blobs:
        first.setdefault(b.git_blob, b)
        releases.setdefault(b.git_blob, set()).update(b.releases)
    return tuple(replace(b, releases=tuple(sorted(releases[k], key=_version)))
                 for k, b in first.items())


def git_blob_id(data: bytes | memoryview) -> str:
    """The id git gives this content: SHA-1 of `blob <size>\\0` and the bytes."""
    h = hashlib.sha1(b"blob %d\0" % len(data), usedforsecurity=False)
    h.update(data)
    return h.hexdigest()


def identify(data: bytes | memoryview, *, sha256: str | None = None) -> KnownBlob | None:
    """The nitro-cli blob these bytes are, or None; pass `sha256` when already computed."""
    cat = catalog()
    found = cat.by_sha256(sha256 or hashlib.sha256(data).hexdigest())
    return found if found is not None else cat.by_git_blob(git_blob_id(data))


def identify_cmdline(text: str) -> KnownBlob | None:
    """The nitro-cli cmdline file whose text (trailing whitespace aside) is `text`."""
    want = text.strip()
    return next((b for b in catalog().blobs if b.kind == "cmdline" and b.text is not None
                 and b.text.strip() == want), None)


@dataclass(frozen=True, slots=True)
class BlobSetChange:
    """Both sides' PCR1 inputs are nitro-cli blobs and at least one differs: which, from what."""

    changed: tuple[tuple[str, KnownBlob, KnownBlob], ...]

    @property
    def summary(self) -> str:
        parts = [f"{role}: {a.month} ({a.release_span}) vs {b.month} ({b.release_span})"
                 for role, a, b in self.changed]
        return "different nitro-cli blob sets: " + "; ".join(parts)


def blob_set_change(a: Iterable[tuple[str, str, KnownBlob | None]],
                    b: Iterable[tuple[str, str, KnownBlob | None]]) -> BlobSetChange | None:
    """Given (role, sha256, match) for each side's parts (`kernel`, `init`, `nsm.ko`, ...):
    the differing parts, when every one of them is a known nitro-cli blob on both sides; None
    when nothing differs or some differing part is not a known blob."""
    da = {role: (digest, blob) for role, digest, blob in a}
    db = {role: (digest, blob) for role, digest, blob in b}
    changed = []
    for role in dict.fromkeys([*da, *db]):
        (xa, ba), (xb, bb) = da.get(role, ("", None)), db.get(role, ("", None))
        if xa == xb:
            continue
        if ba is None or bb is None:
            return None
        changed.append((role, ba, bb))
    return BlobSetChange(tuple(changed)) if changed else None
