"""Member-level differences between two versions of a nested archive (zip, jar, wheel, tar,
tar.gz, gzip): what a rebuild changed in each member's header as well as in its content."""

from __future__ import annotations

from dataclasses import dataclass

from eifdiff.formats.archive import EXTENDED_TIMESTAMP, Archive, Member

ORDER_SHOWN = 5  # member names shown on each side of an order row


@dataclass(frozen=True, slots=True)
class MemberChange:
    """One differing fact about a member (`member` is '' for the archive itself): `field`,
    both values, the category of its cause, and the offsets in each archive of the member's
    header (or of the archive's start)."""

    member: str
    field: str
    a: str | int | None
    b: str | int | None
    category: str
    offset_a: int | None = None
    offset_b: int | None = None


def _wrapper(a: Archive, b: Archive) -> list[MemberChange]:
    ga, gb = a.wrapper, b.wrapper
    if ga is None or gb is None:
        return []
    out = []
    for field, x, y, category in (
            ("gzip mtime", ga.mtime, gb.mtime, "timestamp"),
            ("gzip name", ga.name, gb.name, "build-path"),
            ("gzip level", ga.xfl, gb.xfl, "compression"),
            ("gzip os", ga.os, gb.os, "compression")):
        if x != y:
            out.append(MemberChange("", field, x, y, category, 0, 0))
    return out


def _order(a: Archive, b: Archive, common: set[str]) -> list[MemberChange]:
    xs = [m.name for m in a.members if m.name in common]
    ys = [m.name for m in b.members if m.name in common]
    if xs == ys:
        return []
    first = next((i for i, (x, y) in enumerate(zip(xs, ys, strict=False)) if x != y),
                 min(len(xs), len(ys)) - 1)  # duplicate names make the lists differ in length
    name = xs[first]
    return [MemberChange(name, "member order", ", ".join(xs[first : first + ORDER_SHOWN]),
                         ", ".join(ys[first : first + ORDER_SHOWN]), "ordering",
                         a.member(name).offset,  # type: ignore[union-attr]
                         b.member(name).offset)]  # type: ignore[union-attr]


def _ids(fields: tuple[tuple[int | str, bytes], ...]) -> str:
    return " ".join(f"0x{k:04x}" if isinstance(k, int) else k for k, _ in fields) or "none"


def _without_times(fields: tuple[tuple[int | str, bytes], ...]) -> tuple[object, ...]:
    """Extra fields with timestamps set aside (the UT field's presence is kept)."""
    return tuple((k, b"" if k in (EXTENDED_TIMESTAMP, "mtime", "atime", "ctime") else v)
                 for k, v in fields)


def _member(x: Member, y: Member) -> list[MemberChange]:
    out: list[MemberChange] = []

    def add(field: str, p: str | int | None, q: str | int | None, category: str) -> None:
        out.append(MemberChange(x.name, field, p, q, category, x.offset, y.offset))

    if x.kind != y.kind:
        add("type", x.kind, y.kind, "content")
    if x.mtime != y.mtime:
        add("mtime", x.mtime, y.mtime, "timestamp")
    elif x.dos_time != y.dos_time:
        add("DOS time", str(x.dos_time), str(y.dos_time), "timestamp")
    if x.mode != y.mode:
        add("mode", None if x.mode is None else oct(x.mode),
            None if y.mode is None else oct(y.mode), "permissions")
    elif x.external_attr != y.external_attr:
        add("external attributes", x.external_attr, y.external_attr, "permissions")
    for field, p, q in (("uid", x.uid, y.uid), ("gid", x.gid, y.gid),
                        ("owner", x.owner, y.owner), ("group", x.group, y.group)):
        if p != q:
            add(field, p, q, "ownership")
    if x.creator != y.creator:
        add("made by", x.creator, y.creator, "metadata")
    for field, ex, ey in (("extra fields", x.extra, y.extra),
                          ("local extra fields", x.local_extra, y.local_extra)):
        if ex != ey and _without_times(ex) != _without_times(ey):
            add(field, _ids(ex), _ids(ey), "metadata")
    if x.flags != y.flags:
        add("flags", x.flags, y.flags, "metadata")
    if x.linkname != y.linkname:
        add("link target", x.linkname, y.linkname, "content")
    if x.digest is not None and y.digest is not None:
        if x.digest != y.digest:
            add("content", f"{x.size} bytes", f"{y.size} bytes", "content")
        elif x.method != y.method:
            add("method", x.method, y.method, "compression")
        elif x.compressed_digest != y.compressed_digest:
            add("compressed bytes", f"{x.compressed_size} bytes", f"{y.compressed_size} bytes",
                "compression")
    elif x.compressed_digest != y.compressed_digest or x.digest != y.digest:
        add("content", f"{x.size} bytes", f"{y.size} bytes", "content")
    return out


def compare_archives(a: Archive, b: Archive) -> tuple[MemberChange, ...]:
    """Every member-level difference between two versions of an archive: the gzip wrapper,
    the comment, added and removed members, their order, then each common member's header
    fields and content (in a's order)."""
    out = _wrapper(a, b)
    if a.comment != b.comment:
        out.append(MemberChange("", "comment", a.comment.decode("utf-8", "replace"),
                                b.comment.decode("utf-8", "replace"), "metadata"))
    names_a = {m.name: m for m in a.members}
    names_b = {m.name: m for m in b.members}
    for m in a.members:
        if m.name not in names_b:
            out.append(MemberChange(m.name, "member", f"{m.size} bytes", None, "removed",
                                    m.offset, None))
    for m in b.members:
        if m.name not in names_a:
            out.append(MemberChange(m.name, "member", None, f"{m.size} bytes", "added",
                                    None, m.offset))
    common = set(names_a) & set(names_b)
    out += _order(a, b, common)
    for m in a.members:
        if m.name in common:
            out += _member(m, names_b[m.name])
    return tuple(out)
