"""Differences inside a pair of ramdisks: compression, entry order, every CPIO header field,
and each differing payload handed to the content explainer."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence

from eifdiff.diff.content import Explainer, gzip_header_rows
from eifdiff.diff.rows import epoch, row
from eifdiff.diff.spans import equal, first_difference
from eifdiff.errors import Anomaly
from eifdiff.formats.cpio import FIELDS, S_IFMT
from eifdiff.load import Member, Ramdisk
from eifdiff.records import Divergence

_CATEGORY = {
    "uid": "ownership", "gid": "ownership", "mtime": "timestamp", "ino": "inode",
    "nlink": "inode", "devmajor": "inode", "devminor": "inode", "rdevmajor": "inode",
    "rdevminor": "inode",
}
ORDER_EXAMPLES = 5
FAULT_AROUND = 2 * 65536  # what touching one entry of each side may map, whatever its size


def _field_offset(m: Member, name: str) -> int:
    return m.entry.header_offset + 6 + 8 * FIELDS.index(name)


def moved_entries(order_a: Sequence[str], order_b: Sequence[str]) -> list[str]:
    """Names (common to both) outside a longest run kept in the same relative order: the
    fewest entries whose moving explains the new order. O(n log n)."""
    pos_b = {n: i for i, n in enumerate(order_b)}
    seq = [(pos_b[n], n) for n in order_a if n in pos_b]
    tails: list[int] = []
    tail_idx: list[int] = []
    prev = [-1] * len(seq)
    for i, (p, _) in enumerate(seq):
        k = bisect_left(tails, p)
        if k == len(tails):
            tails.append(p)
            tail_idx.append(i)
        else:
            tails[k] = p
            tail_idx[k] = i
        prev[i] = tail_idx[k - 1] if k else -1
    keep = set()
    i = tail_idx[-1] if tail_idx else -1
    while i >= 0:
        keep.add(i)
        i = prev[i]
    return [n for i, (_, n) in enumerate(seq) if i not in keep]


def _keyed(members: Iterator[Member]) -> dict[tuple[str, int], Member]:
    out: dict[tuple[str, int], Member] = {}
    seen: dict[str, int] = {}
    for m in members:
        k = seen.get(m.entry.name, 0)
        seen[m.entry.name] = k + 1
        out[(m.entry.name, k)] = m
    return out


def _label(name: str, k: int) -> str:
    return name if k == 0 else f"{name}#{k}"


def _describe(m: Member) -> str:
    e = m.entry
    return f"{e.kind}, {e.filesize} bytes, mode {e.mode & 0o7777:04o}"


def diff_ramdisks(
    ra: Ramdisk, rb: Ramdisk, pcrs: tuple[str, ...], read: Callable[[int], None] = lambda n: None,
) -> tuple[list[Divergence], list[Anomaly]]:
    """All rows for one pair of ramdisks, and the anomalies met while explaining content.

    `read(n)` is told how many payload bytes each comparison read (for memory bounds)."""
    rows: list[Divergence] = []
    explainer = Explainer(pcrs, read)
    name = ra.name
    rows += _compression_rows(ra, rb, pcrs, read)
    streams_equal = len(ra.pieces) == len(rb.pieces) and all(
        equal(pa.view, pb.view, read) for pa, pb in zip(ra.pieces, rb.pieces, strict=True))
    if streams_equal:
        return rows + _leftover_rows(ra, rb, pcrs, rows), []
    ka, kb = _keyed(ra.members()), _keyed(rb.members())
    order_a = [_label(*k) for k in ka]
    order_b = [_label(*k) for k in kb]
    moved = moved_entries(order_a, order_b)
    if moved:
        first = next(m for k, m in ka.items() if _label(*k) == moved[0])
        first_b = kb[next(k for k in kb if _label(*k) == moved[0])]
        rows.append(row(
            name, "cpio-entry", "order",
            f"{len(moved)} of {len(ka)} entries in another order, e.g. "
            + ", ".join(moved[:ORDER_EXAMPLES]),
            "order of b: " + ", ".join(order_b[:ORDER_EXAMPLES]) + (
                ", ..." if len(order_b) > ORDER_EXAMPLES else ""),
            "ordering", pcrs, offset_a=first.entry.header_offset,
            offset_b=first_b.entry.header_offset,
        ))
    for key in [k for k in ka if k not in kb]:
        m = ka[key]
        rows.append(row(f"{name}:{_label(*key)}", "cpio-entry", "entry", _describe(m), None,
                        "removed", pcrs, offset_a=m.entry.header_offset,
                        length=m.entry.end_offset - m.entry.header_offset))
    for key in [k for k in kb if k not in ka]:
        m = kb[key]
        rows.append(row(f"{name}:{_label(*key)}", "cpio-entry", "entry", None, _describe(m),
                        "added", pcrs, offset_b=m.entry.header_offset))
    link_rows, relinked = _hard_link_rows(name, ka, kb, pcrs, read)
    rows += link_rows
    for key, ma in ka.items():
        mb = kb.get(key)
        if mb is None:
            continue
        read(FAULT_AROUND)  # the headers' pages, mapped a few pages at a time
        same_data = key in relinked or equal(ma.data, mb.data, read)
        if same_data and ma.header == mb.header:
            continue
        rows += _entry_rows(f"{name}:{_label(*key)}", ma, mb, pcrs, explainer, same_data)
        if key in relinked and ma.entry.filesize != mb.entry.filesize:
            rows.append(row(f"{name}:{_label(*key)}", "cpio-entry", "filesize",
                            ma.entry.filesize, mb.entry.filesize, "derived", pcrs,
                            offset_a=_field_offset(ma, "filesize"),
                            offset_b=_field_offset(mb, "filesize"), length=8))
    rows += _leftover_rows(ra, rb, pcrs, rows)
    return rows, explainer.anomalies


Key = tuple[str, int]


def _link_groups(keyed: dict[Key, Member]) -> dict[Key, tuple[Key, ...]]:
    """Each hard-linked entry's group (entries sharing device and inode numbers, nlink > 1)."""
    groups: dict[tuple[int, int, int], list[Key]] = {}
    for key, m in keyed.items():
        e = m.entry
        if e.nlink > 1 and e.kind != "dir":
            groups.setdefault((e.devmajor, e.devminor, e.ino), []).append(key)
    return {k: tuple(g) for g in groups.values() if len(g) > 1 for k in g}


def _hard_link_rows(name: str, ka: dict[Key, Member], kb: dict[Key, Member],
                    pcrs: tuple[str, ...], read: Callable[[int], None]
                    ) -> tuple[list[Divergence], set[Key]]:
    """A hard-link group whose payload sits on another of its names (newc writers store it on
    the last link they write, so it moves with the archive order) is one `ordering` row, not a
    content difference on each name. Returns the rows and the entries they explain."""
    ga, gb = _link_groups(ka), _link_groups(kb)
    rows: list[Divergence] = []
    explained: set[Key] = set()
    for key, group in ga.items():
        if key in explained or set(gb.get(key, ())) != set(group):
            continue
        carrier_a = [k for k in group if ka[k].entry.filesize]
        carrier_b = [k for k in group if kb[k].entry.filesize]
        if len(carrier_a) != 1 or len(carrier_b) != 1 or carrier_a == carrier_b:
            continue
        ma, mb = ka[carrier_a[0]], kb[carrier_b[0]]
        if not equal(ma.data, mb.data, read):
            continue
        explained.update(group)
        rows.append(row(f"{name}:{_label(*group[0])}", "cpio-entry", "hard-link data",
                        f"payload on {_label(*carrier_a[0])}",
                        f"payload on {_label(*carrier_b[0])}", "ordering", pcrs,
                        offset_a=ma.entry.data_offset, offset_b=mb.entry.data_offset,
                        length=ma.entry.filesize))
    return rows, explained


def _entry_rows(path: str, ma: Member, mb: Member, pcrs: tuple[str, ...],
                explainer: Explainer, same_data: bool) -> list[Divergence]:
    ea, eb = ma.entry, mb.entry
    out: list[Divergence] = []
    if ea.magic != eb.magic:
        out.append(row(path, "cpio-entry", "magic", ea.magic, eb.magic, "compression", pcrs,
                       offset_a=ea.header_offset, offset_b=eb.header_offset, length=6))
    if (ea.mode & S_IFMT) != (eb.mode & S_IFMT):
        out.append(row(path, "cpio-entry", "type", ea.kind, eb.kind, "content", pcrs,
                       offset_a=_field_offset(ma, "mode"), offset_b=_field_offset(mb, "mode"),
                       length=8))
    elif ea.mode != eb.mode:
        out.append(row(path, "cpio-entry", "mode", f"{ea.mode & 0o7777:04o}",
                       f"{eb.mode & 0o7777:04o}", "permissions", pcrs,
                       offset_a=_field_offset(ma, "mode"), offset_b=_field_offset(mb, "mode"),
                       length=8))
    for field, category in _CATEGORY.items():
        x, y = getattr(ea, field), getattr(eb, field)
        if x != y:
            shown = (epoch(x), epoch(y)) if field == "mtime" else (x, y)
            out.append(row(path, "cpio-entry", field, *shown, category, pcrs,
                           offset_a=_field_offset(ma, field), offset_b=_field_offset(mb, field),
                           length=8))
    da, db = ma.data, mb.data
    if not same_data:
        out += explainer.explain(path, ea.mode, da, db, ea.data_offset, eb.data_offset)
        if ea.filesize != eb.filesize:
            out.append(row(path, "cpio-entry", "filesize", ea.filesize, eb.filesize, "derived",
                           pcrs, offset_a=_field_offset(ma, "filesize"),
                           offset_b=_field_offset(mb, "filesize"), length=8))
        if ea.check != eb.check:
            out.append(row(path, "cpio-entry", "check", ea.check, eb.check, "derived", pcrs,
                           offset_a=_field_offset(ma, "check"),
                           offset_b=_field_offset(mb, "check"), length=8))
    return out


def _compression_rows(ra: Ramdisk, rb: Ramdisk, pcrs: tuple[str, ...],
                      read: Callable[[int], None]) -> list[Divergence]:
    out: list[Divergence] = []
    if ra.compressions != rb.compressions:
        out.append(row(ra.name, "compression", "format", "+".join(ra.compressions),
                       "+".join(rb.compressions), "compression", pcrs,
                       offset_a=ra.section.data_offset, offset_b=rb.section.data_offset))
        return out
    for pa, pb in zip(ra.pieces, rb.pieces, strict=True):
        if pa.compression is None:
            continue
        path = f"{ra.name}~{pa.compression}" if len(ra.pieces) == 1 else \
            f"{ra.name}~{pa.compression}[{pa.index}]"
        header_rows = []
        if pa.gzip is not None and pb.gzip is not None:
            header_rows = list(gzip_header_rows(path, "compression", pa.gzip, pb.gzip, pcrs,
                                                pa.offset, pb.offset))
            out += header_rows
        if equal(pa.view, pb.view, read):
            # same content: whatever else differs in the compressed bytes is the compressor's
            skip = pa.gzip.header_size if pa.gzip else 0
            skip_b = pb.gzip.header_size if pb.gzip else 0
            if not header_rows or ra.body(pa, skip) != rb.body(pb, skip_b):
                out.append(row(path, "compression", "compressed bytes", f"{pa.size} bytes",
                               f"{pb.size} bytes", "compression", pcrs,
                               offset_a=pa.offset + skip, offset_b=pb.offset + skip_b))
        else:
            out.append(row(path, "compression", "compressed bytes", f"{pa.size} bytes",
                           f"{pb.size} bytes", "derived", pcrs, offset_a=pa.offset,
                           offset_b=pb.offset))
    return out


def _leftover_rows(ra: Ramdisk, rb: Ramdisk, pcrs: tuple[str, ...],
                   rows: list[Divergence]) -> list[Divergence]:
    """A catch-all: bytes of the archives differ but no rule produced a cause row."""
    if any(r.is_cause for r in rows):
        return []
    va, vb = ra.raw, rb.raw
    first = first_difference(va, vb)
    if first is None:
        return []
    return [row(ra.name, "section", "bytes", f"{len(va)} bytes", f"{len(vb)} bytes", "content",
                pcrs, offset_a=ra.section.data_offset + first,
                offset_b=rb.section.data_offset + first)]
