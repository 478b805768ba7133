"""Differences inside a pair of ramdisks: compression, entry order, every CPIO header field,
and each differing payload handed to the content explainer."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from eifdiff import rules as R
from eifdiff.diff.content import Explainer, gzip_header_rows
from eifdiff.diff.rows import Where
from eifdiff.diff.spans import equal, first_difference
from eifdiff.errors import Anomaly
from eifdiff.formats.cpio import FIELDS, S_IFMT
from eifdiff.load import Member, Ramdisk
from eifdiff.mapped import FAULT_AROUND, touched
from eifdiff.records import Divergence

_FIELDS = (R.UID, R.GID, R.MTIME, R.INO, R.NLINK, R.DEVMAJOR, R.DEVMINOR, R.RDEVMAJOR,
           R.RDEVMINOR)  # named as the CpioEntry attributes
ORDER_EXAMPLES = 5


def _field_offset(m: Member, name: str) -> int:
    return m.entry.header_offset + 6 + 8 * FIELDS.index(name)


def moved_entries(order_a: Sequence[Key], order_b: Sequence[Key]) -> list[Key]:
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


Key = tuple[str, int]  # an entry's name and its occurrence among entries of that name


def _keyed(members: Iterator[Member]) -> dict[Key, Member]:
    out: dict[Key, Member] = {}
    seen: dict[str, int] = {}
    for m in members:
        k = seen.get(m.entry.name, 0)
        seen[m.entry.name] = k + 1
        out[(m.entry.name, k)] = m
    return out


def _describe(m: Member) -> str:
    e = m.entry
    return f"{e.kind}, {e.filesize} bytes, mode {e.mode & 0o7777:04o}"


@dataclass(frozen=True)
class RamdiskFacts:
    """What a later stage needs to tell causes from consequences in one pair of ramdisks.

    `dense`: both archives number inodes densely in archive order (as GNU cpio `--reproducible`
    does), so their inode numbers move only when entries are added, removed or moved.
    `nlink_follows`: directories whose link count changed exactly as much as their number of
    subdirectories did."""

    section: str
    dense: bool
    nlink_follows: frozenset[Key]


def _dense(keyed: dict[Key, Member]) -> bool:
    """Whether the distinct inode numbers, in archive order, count up one by one."""
    order = list(dict.fromkeys(m.entry.ino for m in keyed.values()))
    return len(order) > 1 and order == list(range(order[0], order[0] + len(order)))


def _subdirs(keyed: dict[Key, Member]) -> dict[str, int]:
    """Number of direct subdirectories of every directory (by name)."""
    out: dict[str, int] = {}
    for (name, _), m in keyed.items():
        if m.entry.kind == "dir":
            parent = name.rsplit("/", 1)[0] if "/" in name else "."
            out[parent] = out.get(parent, 0) + 1
    return out


def _nlink_follows(ka: dict[Key, Member], kb: dict[Key, Member]) -> frozenset[Key]:
    sa, sb = _subdirs(ka), _subdirs(kb)
    out = set()
    for key, ma in ka.items():
        mb = kb.get(key)
        if mb is None or ma.entry.kind != "dir" or ma.entry.nlink == mb.entry.nlink:
            continue
        if mb.entry.nlink - ma.entry.nlink == sb.get(key[0], 0) - sa.get(key[0], 0):
            out.add(key)
    return frozenset(out)


def diff_ramdisks(
    ra: Ramdisk, rb: Ramdisk, pcrs: tuple[str, ...],
) -> tuple[list[Divergence], list[Anomaly], RamdiskFacts | None]:
    """All rows for one pair of ramdisks, the anomalies met while explaining content, and the
    facts about both archives that tell derived rows from causes."""
    rows: list[Divergence] = []
    explainer = Explainer()
    here = Where(ra.name, pcrs)
    rows += _compression_rows(ra, rb, here)
    streams_equal = len(ra.pieces) == len(rb.pieces) and all(
        equal(pa.view, pb.view) for pa, pb in zip(ra.pieces, rb.pieces, strict=True))
    if streams_equal:
        return rows + _leftover_rows(ra, rb, here, rows), [], None
    ka, kb = _keyed(ra.members()), _keyed(rb.members())
    facts = RamdiskFacts(ra.name, _dense(ka) and _dense(kb), _nlink_follows(ka, kb))
    moved = moved_entries(list(ka), list(kb))
    if moved:
        rows.append(_order_row(here, moved, ka, kb))
    for key in [k for k in ka if k not in kb]:
        m = ka[key]
        rows.append(_at(here, key, m, None).row(
            R.CPIO, R.REMOVED, _describe(m), None, offset_a=m.entry.header_offset,
            length=m.entry.end_offset - m.entry.header_offset))
    for key in [k for k in kb if k not in ka]:
        m = kb[key]
        rows.append(_at(here, key, None, m).row(R.CPIO, R.ADDED, None, _describe(m),
                                                offset_b=m.entry.header_offset))
    link_rows, relinked = _hard_link_rows(here, ka, kb)
    rows += link_rows
    for key, ma in ka.items():
        mb = kb.get(key)
        if mb is None:
            continue
        touched(FAULT_AROUND)  # the headers' pages, mapped a few pages at a time
        same_data = key in relinked or equal(ma.data, mb.data)
        if same_data and ma.header == mb.header:
            continue
        at = _at(here, key, ma, mb)
        rows += _entry_rows(at, ma, mb, explainer, same_data)
        if key in relinked and ma.entry.filesize != mb.entry.filesize:
            rows.append(at.row(R.CPIO, R.FILESIZE, ma.entry.filesize, mb.entry.filesize,
                               offset_a=_field_offset(ma, "filesize"),
                               offset_b=_field_offset(mb, "filesize"), length=8))
    rows += _leftover_rows(ra, rb, here, rows)
    return rows, explainer.anomalies, facts


def _at(here: Where, key: Key, ma: Member | None, mb: Member | None) -> Where:
    """The location of one entry, with each side's offset space."""
    return here.inside(key[0], key[1], ma.piece.stream if ma else None,
                       mb.piece.stream if mb else None)


def _order_row(here: Where, moved: list[Key], ka: dict[Key, Member],
               kb: dict[Key, Member]) -> Divergence:
    """One row for the whole ramdisk: how many entries moved, with examples."""
    first, first_b = ka[moved[0]], kb[moved[0]]
    at = replace(here, stream_a=first.piece.stream, stream_b=first_b.piece.stream)
    return at.row(
        R.CPIO, R.ORDER,
        f"{len(moved)} of {len(ka)} entries in another order, e.g. "
        + ", ".join(n for n, _ in moved[:ORDER_EXAMPLES]),
        "order of b: " + ", ".join(n for n, _ in list(kb)[:ORDER_EXAMPLES])
        + (", ..." if len(kb) > ORDER_EXAMPLES else ""),
        offset_a=first.entry.header_offset, offset_b=first_b.entry.header_offset)


def _link_groups(keyed: dict[Key, Member]) -> dict[Key, tuple[Key, ...]]:
    """Each hard-linked entry's group (entries sharing device and inode numbers, nlink > 1)."""
    groups: dict[tuple[int, int, int], list[Key]] = {}
    for key, m in keyed.items():
        e = m.entry
        if e.nlink > 1 and e.kind != "dir":
            groups.setdefault((e.devmajor, e.devminor, e.ino), []).append(key)
    return {k: tuple(g) for g in groups.values() if len(g) > 1 for k in g}


def _hard_link_rows(here: Where, ka: dict[Key, Member], kb: dict[Key, Member],
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
        if not equal(ma.data, mb.data):
            continue
        explained.update(group)
        rows.append(_at(here, group[0], ma, mb).row(
            R.CPIO, R.HARD_LINK_DATA, f"payload on {carrier_a[0][0]}",
            f"payload on {carrier_b[0][0]}", offset_a=ma.entry.data_offset,
            offset_b=mb.entry.data_offset, length=ma.entry.filesize))
    return rows, explained


def _entry_rows(at: Where, ma: Member, mb: Member, explainer: Explainer,
                same_data: bool) -> list[Divergence]:
    ea, eb = ma.entry, mb.entry
    out: list[Divergence] = []

    def header(field: str, x: object, y: object, attr: str | None = None) -> Divergence:
        attr = attr or field
        return at.row(R.CPIO, field, x, y, offset_a=_field_offset(ma, attr),
                      offset_b=_field_offset(mb, attr), length=8)

    if ea.magic != eb.magic:
        out.append(at.row(R.CPIO, R.MAGIC, ea.magic, eb.magic, offset_a=ea.header_offset,
                          offset_b=eb.header_offset, length=6))
    if (ea.mode & S_IFMT) != (eb.mode & S_IFMT):
        out.append(header(R.TYPE, ea.kind, eb.kind, "mode"))
    elif ea.mode != eb.mode:
        out.append(header(R.MODE, f"{ea.mode & 0o7777:04o}", f"{eb.mode & 0o7777:04o}"))
    for field in _FIELDS:
        x, y = getattr(ea, field), getattr(eb, field)
        if x != y:
            out.append(header(field, x, y))
    if not same_data:
        out += explainer.explain(at, ea.mode, ma.data, mb.data, ea.data_offset, eb.data_offset)
        if ea.filesize != eb.filesize:
            out.append(header(R.FILESIZE, ea.filesize, eb.filesize))
        if ea.check != eb.check:
            out.append(header(R.CHECK, ea.check, eb.check))
    return out


def _compression_rows(ra: Ramdisk, rb: Ramdisk, here: Where,
                      ) -> list[Divergence]:
    out: list[Divergence] = []
    if ra.compressions != rb.compressions:
        out.append(here.row(R.COMPRESSION, R.FORMAT, "+".join(ra.compressions),
                            "+".join(rb.compressions), offset_a=ra.section.data_offset,
                            offset_b=rb.section.data_offset))
        return out
    for pa, pb in zip(ra.pieces, rb.pieces, strict=True):
        if pa.compression is None:
            continue
        part = pa.stream
        header_rows = []
        if pa.gzip is not None and pb.gzip is not None:
            header_rows = list(gzip_header_rows(here, R.COMPRESSION, pa.gzip, pb.gzip,
                                                pa.offset, pb.offset, part))
            out += header_rows
        if equal(pa.view, pb.view):
            # same content: whatever else differs in the compressed bytes is the compressor's
            skip = pa.gzip.header_size if pa.gzip else 0
            skip_b = pb.gzip.header_size if pb.gzip else 0
            if not header_rows or ra.body(pa, skip) != rb.body(pb, skip_b):
                out.append(here.row(R.COMPRESSION, R.RECOMPRESSED, f"{pa.size} bytes",
                                    f"{pb.size} bytes", part=part, offset_a=pa.offset + skip,
                                    offset_b=pb.offset + skip_b))
        else:
            out.append(here.row(R.COMPRESSION, R.COMPRESSED_BYTES, f"{pa.size} bytes",
                                f"{pb.size} bytes", part=part, offset_a=pa.offset,
                                offset_b=pb.offset))
    return out


def _leftover_rows(ra: Ramdisk, rb: Ramdisk, here: Where,
                   rows: list[Divergence]) -> list[Divergence]:
    """A catch-all: bytes of the archives differ but no rule produced a cause row."""
    if any(r.is_cause for r in rows):
        return []
    va, vb = ra.raw, rb.raw
    first = first_difference(va, vb)
    if first is None:
        return []
    return [here.row(R.SECTION, R.BYTES, f"{len(va)} bytes", f"{len(vb)} bytes",
                     offset_a=ra.section.data_offset + first,
                     offset_b=rb.section.data_offset + first)]
