"""Compare two EIFs: load both, diff them, and give the verdict and summary every report shows.

Verdicts: `identical` (same bytes), `pcr-equivalent` (bytes differ, every PCR equal, PCR8
included), `different`. Exit codes: 0 identical (or PCR-equivalent with `--fail-on pcr`), 1
otherwise; trouble is exit 2, raised as `EifdiffError` before a report exists.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from eifdiff.errors import Anomaly
from eifdiff.load import Limits, LoadedImage, abandon, begin, finish
from eifdiff.measure import sections_feeding
from eifdiff.progress import Progress
from eifdiff.records import Divergence
from eifdiff.report.model import (
    PCR_NAMES,
    FileSummary,
    Remaining,
    Report,
    ReportWarning,
    SectionSummary,
)

if TYPE_CHECKING:  # the stages are imported when first used, while the files hash
    from eifdiff.deep import DeepOptions
    from eifdiff.packages.model import Package, PackageChange

AUTO_REMEDIES = 1 << 30  # bytes of ramdisk, both images together: remedies on by default


def _summary(img: LoadedImage) -> FileSummary:
    lay = img.image.layout
    assert img.image.digests.sha256 is not None
    return FileSummary(
        path=img.path, size=lay.file_size, sha256=img.image.digests.sha256,
        pcrs=img.image.pcrs, arch=lay.header.arch,
        sections=tuple(SectionSummary(s.name, s.offset, s.size) for s in lay.sections),
        pcr_inputs=sections_feeding(lay),
    )


def pcr_equal(a: Mapping[str, str], b: Mapping[str, str]) -> dict[str, bool]:
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
    images' ramdisks together are at most `AUTO_REMEDIES` bytes (1 GiB): each normalization
    tried re-hashes both images (both at once, in worker processes), which costs about one more
    comparison per normalization tried."""
    from eifdiff.causes import find_root_causes
    from eifdiff.deep import deep_diffs
    from eifdiff.diff import diff_images, diff_ramdisk_pairs
    from eifdiff.enclave import pcr1_findings
    from eifdiff.packages.inventory import inventory
    from eifdiff.remedies import find_remedies

    # the entry-level work first: it needs no measurement, so it overlaps the hashing threads
    inner = diff_ramdisk_pairs(a, b)
    pa, pb = inventory(a), inventory(b)
    fa, fb = _summary(a), _summary(b)
    equal = pcr_equal(fa.pcrs, fb.pcrs)
    verdict = verdict_of(fa, fb, equal)
    result = diff_images(a, b, inner) if verdict != "identical" else None
    anomalies: list[Anomaly] = []
    for side, img in (("a", a), ("b", b)):
        found = [*img.image.anomalies, *(x for r in img.ramdisks for x in r.anomalies)]
        anomalies += [replace(x, side=side) for x in found]
    if result is not None:
        anomalies += list(result.anomalies)
    divergences = result.divergences if result else ()
    changes, warned, divergences = _packages(pa, pb, divergences)
    inconsistent, divergences = pcr1_findings(a, b, divergences)
    warned += tuple(ReportWarning(w.kind, side, str(w)) for side, w in inconsistent)
    divergences, roots = find_root_causes(divergences, result.ramdisks if result else (), changes)
    deep_text = deep_diffs(a, b, divergences, deep) if deep is not None and divergences else {}
    note = ""
    if remedies is None:
        size = sum(r.section.size for img in (a, b) for r in img.ramdisks)
        remedies = size <= AUTO_REMEDIES
        if not remedies and divergences:
            note = (f"not computed: the ramdisks hold {size / (1 << 20):.0f} MiB, over the "
                    f"{AUTO_REMEDIES >> 20} MiB automatic limit; pass --remedies to compute them")
    fixes = find_remedies(a, b, divergences,
                          lambda names: _remaining_after(a, b, divergences, names)) \
        if remedies and divergences else ()
    return Report(fa, fb, verdict, equal, divergences, tuple(anomalies), deep_text, fixes, note,
                  changes, warned, roots)


# Normalizations that set one header field to the same value on both sides and change nothing
# else in an uncompressed archive: their rows, and only theirs, go away.
FIELD_SETTERS = frozenset({"mtime", "owner", "build-time"})


def _remaining_after(a: LoadedImage, b: LoadedImage, rows: Sequence[Divergence],
                     names: str) -> tuple[Remaining, ...]:
    """What still moves a PCR once both images are normalized with `names`, as `eifdiff
    normalize` on both files and then `eifdiff` would find. Normalizations that only set a
    header field of uncompressed archives remove exactly that field's rows; any other set is
    applied for real: the normalized images are written to a private temporary folder and
    compared."""
    from eifdiff.build import write_sections
    from eifdiff.causes import find_root_causes
    from eifdiff.diff import diff_images
    from eifdiff.normalize import normalized_sections, parse_fixes
    from eifdiff.remedies import remaining_rows
    from eifdiff.rules import rule

    fixes = parse_fixes(names)
    kinds = {f.name for f in fixes}
    raw = all(p.compression is None for img in (a, b) for r in img.ramdisks for p in r.pieces)
    if kinds <= FIELD_SETTERS and raw:
        return remaining_rows([d for d in rows if rule(d.layer, d.field).normalization
                               not in kinds])
    with tempfile.TemporaryDirectory(prefix="eifdiff-remedy-") as tmp:
        paths = []
        for side, img in (("a", a), ("b", b)):
            path = Path(tmp) / f"{side}.eif"
            write_sections(path, normalized_sections(img, fixes), img.image.layout.header.arch)
            paths.append(path)
        with open_pair(*paths, measure=False) as (na, nb):  # its PCRs are known: only rows
            found = diff_images(na, nb)
            rows, _ = find_root_causes(found.divergences, found.ramdisks)
    return remaining_rows(rows)


def _entry_key(d: Divergence) -> tuple[str, str] | None:
    """(ramdisk, entry name) of a row about a CPIO entry or an ELF inside one."""
    return (d.section, d.entry) if d.entry is not None else None


def _packages(pa: list[Package], pb: list[Package], divergences: tuple[Divergence, ...]
              ) -> tuple[tuple[PackageChange, ...], tuple[ReportWarning, ...],
                         tuple[Divergence, ...]]:
    """Package changes, known-bad warnings (each side), and the rows with their owners."""
    from eifdiff.packages.inventory import owner_index, owner_of, package_changes
    from eifdiff.packages.known_bad import warnings as known_bad

    changes = tuple(package_changes(pa, pb))
    warned = tuple(ReportWarning("known-bad", side, w.message, w.ecosystem, w.name, w.version,
                                 w.advisory, w.ramdisk)
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
        key = _entry_key(d)
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


@contextlib.contextmanager
def open_pair(path_a: str | os.PathLike[str], path_b: str | os.PathLike[str], *,
              limits: Limits | None = None, measure: bool = True
              ) -> Iterator[tuple[LoadedImage, LoadedImage]]:
    """Open both files and keep them open for the `with` block; a damaged container raises
    `EifdiffError` and leaves nothing open. Both measurements start (their workers fork) before
    any thread does; then both files' ramdisks are read at once, on both cores."""
    limits = limits or Limits()  # one decompression budget for the pair
    pa = begin(path_a, measure=measure)
    try:
        pb = begin(path_b, measure=measure)
    except BaseException:
        abandon(pa)
        raise
    with ThreadPoolExecutor(max_workers=1) as pool:
        later = pool.submit(finish, pb, limits=limits)
        try:
            a = finish(pa, limits=limits)
        except BaseException:
            with contextlib.suppress(Exception):
                later.result().close()
            raise
        try:
            b = later.result()
        except BaseException:
            a.close()
            raise
    with a, b:
        yield a, b


def compare_files(path_a: str | os.PathLike[str], path_b: str | os.PathLike[str], *,
                  deep: DeepOptions | None = None, limits: Limits | None = None,
                  progress: Progress | None = None, remedies: bool | None = None) -> Report:
    """Load both files (a damaged container raises `EifdiffError`) and compare them: the one
    way in, for the CLI and the notebooks alike."""
    progress = progress or Progress()
    progress.stage(f"reading {os.fspath(path_a)} and {os.fspath(path_b)}", steps=2)
    with open_pair(path_a, path_b, limits=limits) as (a, b):
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
