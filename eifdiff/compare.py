"""Compare two EIFs at the container level: verdict, PCR table, which sections differ.

The divergence engine refines this down to CPIO entries and ELF sections; this module owns the
verdict and exit-code rules, which stay the same.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

from eifdiff.errors import Anomaly
from eifdiff.image import EifImage, read_image
from eifdiff.mapped import MappedFile

PCR_NAMES = ("PCR0", "PCR1", "PCR2", "PCR8")


@dataclass(frozen=True)
class FileSummary:
    path: str
    size: int
    sha256: str
    pcrs: dict[str, str]


@dataclass(frozen=True)
class SectionDelta:
    """A section present on either side whose bytes differ (or that exists on one side only)."""

    name: str
    size_a: int | None
    size_b: int | None
    first_difference: int | None


@dataclass(frozen=True)
class Report:
    a: FileSummary
    b: FileSummary
    verdict: str
    pcr_equal: dict[str, bool]
    sections: tuple[SectionDelta, ...]
    anomalies: tuple[Anomaly, ...]


def _sha256(mapped: MappedFile) -> str:
    h = hashlib.sha256()
    for chunk in mapped.windows(0, mapped.size):
        h.update(chunk)
    return h.hexdigest()


def first_difference(x: memoryview, y: memoryview) -> int | None:
    """Offset of the first differing byte of two views (None when equal)."""
    n = min(len(x), len(y))
    step = 1 << 20
    for pos in range(0, n, step):
        a, b = x[pos : pos + step], y[pos : pos + step]
        if a != b:
            lo, hi = 0, len(a)
            while hi - lo > 64:
                mid = (lo + hi) // 2
                if a[lo:mid] != b[lo:mid]:
                    hi = mid
                else:
                    lo = mid
            return pos + next(i for i in range(lo, hi) if a[i] != b[i])
    return None if len(x) == len(y) else n


def _section_deltas(ma: MappedFile, ia: EifImage, mb: MappedFile, ib: EifImage):
    by_a = {s.name: s for s in ia.layout.sections}
    by_b = {s.name: s for s in ib.layout.sections}
    for name in dict.fromkeys([*by_a, *by_b]):
        sa, sb = by_a.get(name), by_b.get(name)
        if sa is None or sb is None:
            yield SectionDelta(name, sa and sa.size, sb and sb.size, 0)
            continue
        diff = first_difference(ma.view[sa.data_offset : sa.end], mb.view[sb.data_offset : sb.end])
        if diff is not None:
            yield SectionDelta(name, sa.size, sb.size, diff)


def _pcr_equal(a: dict[str, str], b: dict[str, str]) -> dict[str, bool]:
    return {k: a.get(k) == b.get(k) for k in PCR_NAMES if k in a or k in b}


def compare_files(path_a: str | os.PathLike[str], path_b: str | os.PathLike[str]) -> Report:
    """Open both files (a damaged container raises) and compare them."""
    with MappedFile.open(path_a) as ma, MappedFile.open(path_b) as mb:
        ia, ib = read_image(ma), read_image(mb)
        fa = FileSummary(ma.path, ma.size, _sha256(ma), ia.pcrs)
        fb = FileSummary(mb.path, mb.size, _sha256(mb), ib.pcrs)
        sections = tuple(_section_deltas(ma, ia, mb, ib))
    pcr_equal = _pcr_equal(fa.pcrs, fb.pcrs)
    if fa.size == fb.size and fa.sha256 == fb.sha256:
        verdict = "identical"
    elif all(pcr_equal.values()):
        verdict = "pcr-equivalent"
    else:
        verdict = "different"
    anomalies = tuple(Anomaly(f"a:{x.path}", x.message, x.offset) for x in ia.anomalies) + tuple(
        Anomaly(f"b:{x.path}", x.message, x.offset) for x in ib.anomalies)
    return Report(fa, fb, verdict, pcr_equal, sections, anomalies)


def exit_code(report: Report, *, fail_on: str = "bytes") -> int:
    """0 when identical (or PCR-equivalent with fail_on='pcr'), else 1."""
    if report.verdict == "identical":
        return 0
    if report.verdict == "pcr-equivalent" and fail_on == "pcr":
        return 0
    return 1


def report_json(report: Report) -> dict[str, Any]:
    def side(f: FileSummary) -> dict[str, Any]:
        return {"path": f.path, "size": f.size, "sha256": f.sha256, "pcrs": f.pcrs}

    return {
        "schema": "eifdiff/0",
        "a": side(report.a), "b": side(report.b),
        "verdict": report.verdict, "pcr_equal": report.pcr_equal,
        "sections": [
            {"name": s.name, "size_a": s.size_a, "size_b": s.size_b,
             "first_difference": s.first_difference}
            for s in report.sections
        ],
        "anomalies": [{"path": x.path, "offset": x.offset, "message": x.message}
                      for x in report.anomalies],
    }


def report_text(report: Report) -> str:
    lines = [f"verdict: {report.verdict}", "",
             f"{'':6}{'equal':7}a: {report.a.path}", f"{'':13}b: {report.b.path}"]
    for name, eq in report.pcr_equal.items():
        lines.append(f"{name:6}{'yes' if eq else 'NO':7}a: {report.a.pcrs.get(name, '-')}")
        lines.append(f"{'':13}b: {report.b.pcrs.get(name, '-')}")
    if report.sections:
        lines.append("")
        lines.append("sections whose bytes differ:")
        for s in report.sections:
            lines.append(f"  {s.name:<12} size {s.size_a} vs {s.size_b}, first difference at "
                         f"section offset {s.first_difference}")
    for x in report.anomalies:
        lines.append(f"anomaly: {x}")
    return "\n".join(lines)
