"""The differ: a pure function from two loaded images to flat `Divergence` rows.

Sections are paired by type and ordinal (`kernel`, `ramdisk[1]`), entries by name. Each rule
names a cause; `derived` rows record what only follows from another difference, and a
`content` row is added only where no rule explains the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from eifdiff import rules as R
from eifdiff.diff.container import diff_container
from eifdiff.diff.ramdisk import RamdiskFacts, diff_ramdisks
from eifdiff.diff.rows import Where, pcr_map
from eifdiff.diff.sections import diff_cmdline, diff_kernel, diff_metadata, diff_signature
from eifdiff.diff.spans import equal
from eifdiff.diff.vmlinux import open_kernel
from eifdiff.errors import Anomaly
from eifdiff.formats.bzimage import KernelImage
from eifdiff.formats.eif import Section, SectionType
from eifdiff.load import LoadedImage
from eifdiff.measure import sections_feeding
from eifdiff.records import Divergence


@dataclass(frozen=True)
class DiffResult:
    divergences: tuple[Divergence, ...]
    anomalies: tuple[Anomaly, ...]
    ramdisks: tuple[RamdiskFacts, ...] = ()


def _bytes(img: LoadedImage, s: Section | None) -> bytes:
    return bytes(img.section_data(s)) if s is not None else b""


def diff_ramdisk_pairs(a: LoadedImage, b: LoadedImage) -> DiffResult:
    """The divergences inside the ramdisks, paired by ordinal. Needs only the layouts and the
    entries, so it runs while the measurements finish in the background."""
    pcrs = pcr_map(sections_feeding(a.layout), sections_feeding(b.layout))
    rows: list[Divergence] = []
    anomalies: list[Anomaly] = []
    facts: list[RamdiskFacts] = []
    for ra, rb in zip(a.ramdisks, b.ramdisks, strict=False):
        if equal(ra.raw, rb.raw):
            continue
        found, problems, known = diff_ramdisks(ra, rb, pcrs.get(ra.name, ()))
        rows += found
        anomalies += problems
        if known is not None:
            facts.append(known)
    return DiffResult(tuple(rows), tuple(anomalies), tuple(facts))


def diff_images(a: LoadedImage, b: LoadedImage,
                ramdisks: DiffResult | None = None) -> DiffResult:
    """Every divergence between two loaded images, causes before derived rows (`ramdisks`:
    the result of `diff_ramdisk_pairs`, when already computed)."""
    la, lb = a.image.layout, b.image.layout
    pcrs = pcr_map(sections_feeding(la), sections_feeding(lb))
    rows: list[Divergence] = list(diff_container(la, lb, pcrs))
    anomalies: list[Anomaly] = []

    ka, kb = la.one(SectionType.KERNEL), lb.one(SectionType.KERNEL)
    assert ka is not None and kb is not None
    kernels: tuple[KernelImage | None, KernelImage | None] = (None, None)
    if not equal(a.section_data(ka), b.section_data(kb)):
        (kia, xa) = open_kernel(ka, a.section_data(ka))
        (kib, xb) = open_kernel(kb, b.section_data(kb))
        kernels = (kia, kib)
        anomalies += [replace(x, side=side) for side, x in (("a", xa), ("b", xb)) if x]
    rows += diff_kernel(ka, a.section_data(ka), a.image.kernel_version,
                        kb, b.section_data(kb), b.image.kernel_version, pcrs.get("kernel", ()),
                        *kernels)
    ca, cb = la.one(SectionType.CMDLINE), lb.one(SectionType.CMDLINE)
    assert ca is not None and cb is not None
    rows += diff_cmdline(ca, _bytes(a, ca).decode("utf-8", "replace"),
                         cb, _bytes(b, cb).decode("utf-8", "replace"), pcrs.get("cmdline", ()))
    ma, mb = la.one(SectionType.METADATA), lb.one(SectionType.METADATA)
    if ma is not None and mb is not None:
        rows += diff_metadata(ma, _bytes(a, ma), a.image.metadata,
                              mb, _bytes(b, mb), b.image.metadata)
    sa, sb = la.one(SectionType.SIGNATURE), lb.one(SectionType.SIGNATURE)
    rows += diff_signature(sa, _bytes(a, sa), a.image.signature,
                           sb, _bytes(b, sb), b.image.signature)
    if (sa is None) != (sb is None):
        present = (a if sa is not None else b).image.signature
        if present is not None:
            rows.append(Where("signature", ("PCR8",)).row(
                R.SIG, R.CERTIFICATE, present.pcr8 if sa is not None else None,
                present.pcr8 if sb is not None else None))
    inner = ramdisks if ramdisks is not None else diff_ramdisk_pairs(a, b)
    rows += inner.divergences
    anomalies += inner.anomalies
    rows.sort(key=lambda r: not r.is_cause)
    return DiffResult(tuple(rows), tuple(anomalies), inner.ramdisks)
