"""Differences in the EIF container: header fields, the section table, sections on one side."""

from __future__ import annotations

from collections.abc import Iterator

from eifdiff.diff.rows import row
from eifdiff.formats.eif import EifLayout
from eifdiff.records import Divergence

_HEADER_FIELDS = (
    ("version", 4), ("flags", 6), ("default_mem", 8), ("default_cpus", 16), ("reserved", 24),
    ("unused", 540),
)


def diff_container(
    a: EifLayout, b: EifLayout, pcrs: dict[str, tuple[str, ...]]
) -> Iterator[Divergence]:
    """Header fields, section-table entries, sections present on one side, size changes."""
    ha, hb = a.header, b.header
    for name, off in _HEADER_FIELDS:
        va, vb = getattr(ha, name), getattr(hb, name)
        if va != vb:
            shown = (ha.arch, hb.arch) if name == "flags" else (va, vb)
            yield row("eif-header", "eif-header", name, *shown, "header",
                      offset_a=off, offset_b=off)
    if ha.num_sections != hb.num_sections:
        yield row("eif-header", "eif-header", "num_sections", ha.num_sections, hb.num_sections,
                  "derived", offset_a=26, offset_b=26, length=2)
    for i in range(max(ha.num_sections, hb.num_sections)):
        for table, base in (("section_offsets", 28), ("section_sizes", 284)):
            va, vb = getattr(ha, table)[i], getattr(hb, table)[i]
            if va != vb:
                yield row("eif-header", "eif-header", f"{table}[{i}]", va, vb, "derived",
                          offset_a=base + 8 * i, offset_b=base + 8 * i, length=8)
    if ha.crc32 != hb.crc32:
        yield row("eif-header", "eif-header", "crc32", f"0x{ha.crc32:08x}", f"0x{hb.crc32:08x}",
                  "derived", offset_a=544, offset_b=544, length=4)
    by_a = {s.name: s for s in a.sections}
    by_b = {s.name: s for s in b.sections}
    for name in dict.fromkeys([*by_a, *by_b]):
        sa, sb = by_a.get(name), by_b.get(name)
        if sa is None:
            assert sb is not None
            yield row(name, "section", "section", None, f"{sb.size} bytes", "added",
                      pcrs.get(name, ()), offset_b=sb.offset)
        elif sb is None:
            yield row(name, "section", "section", f"{sa.size} bytes", None, "removed",
                      pcrs.get(name, ()), offset_a=sa.offset, length=sa.size)
        elif sa.size != sb.size:
            yield row(name, "section", "size", sa.size, sb.size, "derived",
                      offset_a=sa.offset + 4, offset_b=sb.offset + 4, length=8)
    if a.trailing != b.trailing:
        yield row("eif", "eif-header", "trailing bytes", a.trailing, b.trailing, "content",
                  offset_a=a.end, offset_b=b.end)
