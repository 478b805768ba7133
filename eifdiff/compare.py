"""Compare two EIFs: load both, diff them, and give the verdict and summary every report shows.

Verdicts: `identical` (same bytes), `pcr-equivalent` (bytes differ, every PCR equal, PCR8
included), `different`. Exit codes: 0 identical (or PCR-equivalent with `--fail-on pcr`), 1
otherwise; trouble is exit 2, raised as `EifdiffError` before a report exists.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from eifdiff.errors import Anomaly
from eifdiff.load import Limits, LoadedImage, load
from eifdiff.measure import sections_feeding
from eifdiff.progress import Progress
from eifdiff.records import CATEGORIES, LAYERS, Divergence

if TYPE_CHECKING:  # the stages are imported when first used, while the files hash
    from eifdiff.deep import DeepOptions
    from eifdiff.packages.model import Package, PackageChange
    from eifdiff.remedies import Remedy

SCHEMA = "eifdiff/1"
AUTO_REMEDIES = 64 << 20
PCR_NAMES = ("PCR0", "PCR1", "PCR2", "PCR8")


@dataclass(frozen=True)
class FileSummary:
    path: str
    size: int
    sha256: str
    pcrs: dict[str, str]
    arch: str
    sections: tuple[dict[str, Any], ...]
    pcr_inputs: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Report:
    """Everything a report shows; all report formats and notebook views read only this."""

    a: FileSummary
    b: FileSummary
    verdict: str
    pcr_equal: dict[str, bool]
    divergences: tuple[Divergence, ...]
    anomalies: tuple[Anomaly, ...]
    deep: dict[str, str] = field(default_factory=dict)
    remedies: tuple[Remedy, ...] = ()
    remedies_note: str = ""
    package_changes: tuple[PackageChange, ...] = ()
    warnings: tuple[dict[str, str], ...] = ()

    @property
    def causes(self) -> tuple[Divergence, ...]:
        return tuple(d for d in self.divergences if d.is_cause)

    def summary(self) -> dict[str, Any]:
        by_cat = Counter(d.category for d in self.divergences)
        by_layer = Counter(d.layer for d in self.divergences)
        by_pcr = Counter(p for d in self.causes for p in d.pcrs)
        return {
            "divergences": len(self.divergences),
            "causes": len(self.causes),
            "by_category": {c: by_cat[c] for c in CATEGORIES if by_cat[c]},
            "by_layer": {x: by_layer[x] for x in LAYERS if by_layer[x]},
            "causes_by_pcr": {p: by_pcr[p] for p in PCR_NAMES if by_pcr[p]},
            "anomalies": len(self.anomalies),
            "package_changes": len(self.package_changes),
            "warnings": len(self.warnings),
        }


def _summary(img: LoadedImage) -> FileSummary:
    lay = img.image.layout
    assert img.image.digests.sha256 is not None
    return FileSummary(
        path=img.path, size=lay.file_size, sha256=img.image.digests.sha256,
        pcrs=img.image.pcrs, arch=lay.header.arch,
        sections=tuple({"name": s.name, "offset": s.offset, "size": s.size}
                       for s in lay.sections),
        pcr_inputs=sections_feeding(lay),
    )


def pcr_equal(a: dict[str, str], b: dict[str, str]) -> dict[str, bool]:
    return {k: a.get(k) == b.get(k) for k in PCR_NAMES if k in a or k in b}


def verdict_of(fa: FileSummary, fb: FileSummary, equal: dict[str, bool]) -> str:
    if fa.size == fb.size and fa.sha256 == fb.sha256:
        return "identical"
    return "pcr-equivalent" if all(equal.values()) else "different"


def compare_loaded(a: LoadedImage, b: LoadedImage, *, deep: DeepOptions | None = None,
                   remedies: bool | None = None) -> Report:
    """The report for two loaded images: divergences, the counterfactual PCRs of each applicable
    normalization, and diffoscope's view if `deep`.

    `remedies`: True computes them, False skips them, None (auto) computes them when the two
    images' ramdisks together are at most `AUTO_REMEDIES` bytes: each normalization tried
    re-hashes both images, which on large images costs more than the rest of the comparison."""
    from eifdiff.deep import deep_diffs
    from eifdiff.diff import diff_images, diff_ramdisk_pairs
    from eifdiff.packages.inventory import inventory
    from eifdiff.remedies import find_remedies

    # the entry-level work first: it needs no measurement, so it overlaps the hashing threads
    inner = diff_ramdisk_pairs(a, b)
    pa, pb = inventory(a), inventory(b)
    fa, fb = _summary(a), _summary(b)
    equal = pcr_equal(fa.pcrs, fb.pcrs)
    verdict = verdict_of(fa, fb, equal)
    result = diff_images(a, b, inner) if verdict != "identical" else None
    anomalies = [Anomaly(f"a:{x.path}", x.message, x.offset) for x in a.image.anomalies]
    anomalies += [Anomaly(f"b:{x.path}", x.message, x.offset) for x in b.image.anomalies]
    for side, img in (("a", a), ("b", b)):
        for r in img.ramdisks:
            anomalies += [Anomaly(f"{side}:{x.path}", x.message, x.offset) for x in r.anomalies]
    if result is not None:
        anomalies += list(result.anomalies)
    divergences = result.divergences if result else ()
    changes, warned, divergences = _packages(pa, pb, divergences)
    deep_text = deep_diffs(a, b, divergences, deep) if deep is not None and divergences else {}
    note = ""
    if remedies is None:
        size = sum(r.section.size for img in (a, b) for r in img.ramdisks)
        remedies = size <= AUTO_REMEDIES
        if not remedies and divergences:
            note = (f"not computed: the ramdisks hold {size / (1 << 20):.0f} MiB, over the "
                    f"{AUTO_REMEDIES >> 20} MiB automatic limit; pass --remedies to compute them")
    fixes = find_remedies(a, b, divergences) if remedies and divergences else ()
    return Report(fa, fb, verdict, equal, divergences, tuple(anomalies), deep_text, fixes, note,
                  changes, warned)


def _entry_name(d: Divergence) -> tuple[str, str] | None:
    """(ramdisk, entry name) of a row about a CPIO entry or an ELF inside one."""
    if d.layer not in ("cpio-entry", "elf") or ":" not in d.path:
        return None
    ramdisk, _, rest = d.path.partition(":")
    return ramdisk, rest.split(":", 1)[0] if d.layer == "elf" else rest


def _packages(pa: list[Package], pb: list[Package], divergences: tuple[Divergence, ...]
              ) -> tuple[tuple[PackageChange, ...], tuple[dict[str, str], ...],
                         tuple[Divergence, ...]]:
    """Package changes, known-bad warnings (each side), and the rows with their owners."""
    from eifdiff.packages.inventory import owner_index, owner_of, package_changes
    from eifdiff.packages.known_bad import warnings as known_bad

    changes = tuple(package_changes(pa, pb))
    warned = tuple({"side": side, **w.to_dict()}
                   for side, pkgs in (("a", pa), ("b", pb)) for w in known_bad(pkgs))
    if not pa and not pb:
        return changes, warned, divergences
    owners: dict[tuple[str, str], str | None] = {}
    indexes: dict[tuple[str, str], tuple[dict, list]] = {}

    def owner(ramdisk: str, name: str) -> str | None:
        if (ramdisk, name) not in owners:
            found = None
            for side, pkgs in (("b", pb), ("a", pa)):
                if (side, ramdisk) not in indexes:
                    mine = [p for p in pkgs if p.ramdisk == ramdisk]
                    indexes[(side, ramdisk)] = (owner_index(mine), mine)
                index, mine = indexes[(side, ramdisk)]
                if (p := owner_of(name, index, mine)) is not None:
                    found = p.name
                    break
            owners[(ramdisk, name)] = found
        return owners[(ramdisk, name)]

    moved = {(c.ramdisk, c.name): c for c in changes}
    out = []
    for d in divergences:
        key = _entry_name(d)
        pkg = owner(*key) if key else None
        if pkg is None:
            out.append(d)
            continue
        change = moved.get((key[0], pkg)) if key else None
        if change is not None and d.category in ("content", "added", "removed"):
            hint = (f"Package {pkg} ({change.ecosystem}) went from {change.a or '(absent)'} to "
                    f"{change.b or '(absent)'}: an unpinned package index or base image; pin "
                    f"the version (or the image digest) to build the same bytes.")
            out.append(replace(d, package=pkg, hint=hint))
        else:
            out.append(replace(d, package=pkg))
    return changes, warned, tuple(out)


def compare_files(path_a: str | os.PathLike[str], path_b: str | os.PathLike[str], *,
                  deep: DeepOptions | None = None, limits: Limits | None = None,
                  progress: Progress | None = None, remedies: bool | None = None) -> Report:
    """Load both files (a damaged container raises `EifdiffError`) and compare them."""
    progress = progress or Progress()
    limits = limits or Limits()  # one decompression budget for the pair
    progress.stage(f"reading {os.fspath(path_a)} and {os.fspath(path_b)}", steps=2)
    with ThreadPoolExecutor(max_workers=1) as pool:  # both files load at once, on both cores
        later = pool.submit(load, path_b, limits=limits)
        try:
            a = load(path_a, limits=limits)
        except BaseException:
            with contextlib.suppress(Exception):
                later.result().close()
            raise
        with a:
            b = later.result()
            with b:
                progress.stage("comparing" + (", normalizing" if remedies is not False else "")
                               + (", running diffoscope" if deep else ""))
                return compare_loaded(a, b, deep=deep, remedies=remedies)


def exit_code(report: Report, *, fail_on: str = "bytes") -> int:
    """0 when identical (or PCR-equivalent with fail_on='pcr'), else 1."""
    if report.verdict == "identical":
        return 0
    if report.verdict == "pcr-equivalent" and fail_on == "pcr":
        return 0
    return 1
