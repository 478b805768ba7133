"""Differences in the EIF container: header fields, the section table, sections on one side."""

from __future__ import annotations

from collections.abc import Iterator

from eifdiff import rules as R
from eifdiff.diff.rows import Where
from eifdiff.formats.eif import EifLayout
from eifdiff.records import Divergence

_HEADER_FIELDS = (
    (R.VERSION, "version", 4), (R.FLAGS, "flags", 6), (R.DEFAULT_MEM, "default_mem", 8),
    (R.DEFAULT_CPUS, "default_cpus", 16), (R.RESERVED, "reserved", 24),
    (R.UNUSED, "unused", 540),
)


def diff_container(
    a: EifLayout, b: EifLayout, pcrs: dict[str, tuple[str, ...]]
) -> Iterator[Divergence]:
    """Header fields, section-table entries, sections present on one side, size changes."""
    ha, hb = a.header, b.header
    header = Where("eif-header")
    for field, attr, off in _HEADER_FIELDS:
        va, vb = getattr(ha, attr), getattr(hb, attr)
        if va != vb:
            shown = (ha.arch, hb.arch) if attr == "flags" else (va, vb)
            yield header.row(R.EIF, field, *shown, offset_a=off, offset_b=off)
    if ha.num_sections != hb.num_sections:
        yield header.row(R.EIF, R.NUM_SECTIONS, ha.num_sections, hb.num_sections,
                         offset_a=26, offset_b=26, length=2)
    for i in range(max(ha.num_sections, hb.num_sections)):
        for field, table, base in ((R.SECTION_OFFSET, "section_offsets", 28),
                                   (R.SECTION_SIZE, "section_sizes", 284)):
            va, vb = getattr(ha, table)[i], getattr(hb, table)[i]
            if va != vb:
                yield header.row(R.EIF, field, va, vb, part=str(i), offset_a=base + 8 * i,
                                 offset_b=base + 8 * i, length=8)
    if ha.crc32 != hb.crc32:
        yield header.row(R.EIF, R.CRC32, f"0x{ha.crc32:08x}", f"0x{hb.crc32:08x}",
                         offset_a=544, offset_b=544, length=4)
    by_a = {s.name: s for s in a.sections}
    by_b = {s.name: s for s in b.sections}
    for name in dict.fromkeys([*by_a, *by_b]):
        sa, sb = by_a.get(name), by_b.get(name)
        here = Where(name, pcrs.get(name, ()))
        if sa is None:
            assert sb is not None
            yield here.row(R.SECTION, R.SECTION_ADDED, None, f"{sb.size} bytes",
                           offset_b=sb.offset)
        elif sb is None:
            yield here.row(R.SECTION, R.SECTION_REMOVED, f"{sa.size} bytes", None,
                           offset_a=sa.offset, length=sa.size)
        elif sa.size != sb.size:
            yield here.row(R.SECTION, R.SIZE, sa.size, sb.size, offset_a=sa.offset + 4,
                           offset_b=sb.offset + 4, length=8)
    if a.trailing != b.trailing:
        yield Where("eif").row(R.EIF, R.TRAILING, a.trailing, b.trailing, offset_a=a.end,
                               offset_b=b.end)
