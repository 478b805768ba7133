"""Why two entries' contents differ: ELF build paths and build-ids, `.pyc` source mtimes, gzip
headers, symlink targets; `content` only for what no rule explains."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator

from eifdiff.diff.rows import epoch, row
from eifdiff.diff.spans import first_difference, last_difference, replace_all
from eifdiff.errors import Anomaly, FormatError
from eifdiff.formats.compression import decompress_to, parse_gzip_header
from eifdiff.formats.cpio import S_IFLNK, S_IFMT
from eifdiff.formats.elf import ElfFacts, elf_facts, is_elf
from eifdiff.formats.pyc import HEADER_SIZE as PYC_HEADER
from eifdiff.formats.pyc import parse_pyc_header
from eifdiff.records import Divergence

GZIP_ENTRY_LIMIT = 64 << 20  # decompress gzip entries up to this size to compare their content
TEXT_LIMIT = 16 << 20  # look for timestamps in text entries up to this size
AUX_CACHE = b"glibc-ld.so.auxcache-"
_STAMP = re.compile(
    rb"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
    rb"|(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),? +)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    rb" +\d{1,2},? +\d{2}:\d{2}:\d{2}(?: +[A-Z]{2,5})?(?: +\d{4})?"
)


def _only_timestamps_differ(a: memoryview, b: memoryview) -> bool:
    """Whether two text files are equal once every date and time in them is masked."""
    if max(len(a), len(b)) > TEXT_LIMIT:
        return False
    x, y = bytes(a), bytes(b)
    if b"\0" in x[:8192] or b"\0" in y[:8192]:
        return False
    return _STAMP.sub(b"<time>", x) == _STAMP.sub(b"<time>", y)
DEBUG_PREFIXES = (".debug_", ".zdebug_")
STRING_SECTIONS = (".comment", ".modinfo")


class Explainer:
    """Turns one pair of differing entry payloads into rows; collects parse anomalies."""

    def __init__(self, pcrs: tuple[str, ...],
                 read: Callable[[int], None] = lambda n: None) -> None:
        self.pcrs = pcrs
        self.read = read  # told of bytes read, so the caller can drop resident pages
        self.anomalies: list[Anomaly] = []

    def explain(
        self, path: str, mode: int, a: memoryview, b: memoryview, off_a: int, off_b: int
    ) -> Iterator[Divergence]:
        if (mode & S_IFMT) == S_IFLNK:
            yield row(path, "cpio-entry", "symlink target", bytes(a).decode("utf-8", "replace"),
                      bytes(b).decode("utf-8", "replace"), "content", self.pcrs,
                      offset_a=off_a, offset_b=off_b, length=len(a))
            return
        if is_elf(a) and is_elf(b):
            yield from self._elf(path, a, b, off_a, off_b)
            return
        if path.endswith(".pyc"):
            rows = list(self._pyc(path, a, b, off_a, off_b))
            if rows:
                yield from rows
                return
        if bytes(a[:2]) == b"\x1f\x8b" and bytes(b[:2]) == b"\x1f\x8b":
            rows = list(self._gzip(path, a, b, off_a, off_b))
            if rows:
                yield from rows
                return
        if bytes(a[: len(AUX_CACHE)]) == AUX_CACHE == bytes(b[: len(AUX_CACHE)]):
            yield self._content(path, "ldconfig aux-cache", a, b, off_a, off_b, "inode")
            return
        if _only_timestamps_differ(a, b):
            yield self._content(path, "timestamps in text", a, b, off_a, off_b, "timestamp")
            return
        field = "log" if "/var/log/" in f"/{path.partition(':')[2]}" else "content"
        yield self._content(path, field, a, b, off_a, off_b)

    def _content(self, path: str, field: str, a: memoryview, b: memoryview, off_a: int,
                 off_b: int, category: str = "content") -> Divergence:
        """A row spanning the first to the last differing byte of side a."""
        first = first_difference(a, b, self.read)
        at = 0 if first is None else first
        last = last_difference(a, b, self.read)[0] if len(a) == len(b) else len(a) - 1
        return row(path, "cpio-entry", field, f"{len(a)} bytes", f"{len(b)} bytes", category,
                   self.pcrs, offset_a=off_a + at, offset_b=off_b + at,
                   length=max(last - at + 1, 0))

    def _pyc(self, path: str, a: memoryview, b: memoryview, off_a: int,
             off_b: int) -> Iterator[Divergence]:
        ha, hb = parse_pyc_header(a), parse_pyc_header(b)
        if ha is None or hb is None or a[PYC_HEADER:] != b[PYC_HEADER:]:
            return  # the code itself differs: content
        if ha.magic != hb.magic or ha.flags != hb.flags:
            yield row(path, "cpio-entry", "pyc header", f"magic {ha.magic} flags {ha.flags}",
                      f"magic {hb.magic} flags {hb.flags}", "content", self.pcrs,
                      offset_a=off_a, offset_b=off_b, length=8)
            return
        if ha.source_mtime != hb.source_mtime:
            yield row(path, "cpio-entry", "pyc source mtime", epoch(ha.source_mtime or 0),
                      epoch(hb.source_mtime or 0), "timestamp", self.pcrs,
                      offset_a=off_a + 8, offset_b=off_b + 8, length=4)
        if ha.source_size != hb.source_size:
            yield row(path, "cpio-entry", "pyc source size", ha.source_size, hb.source_size,
                      "content", self.pcrs, offset_a=off_a + 12, offset_b=off_b + 12, length=4)
        if ha.source_hash != hb.source_hash:
            yield row(path, "cpio-entry", "pyc source hash", ha.source_hash, hb.source_hash,
                      "content", self.pcrs, offset_a=off_a + 8, offset_b=off_b + 8, length=8)

    def _gzip(self, path: str, a: memoryview, b: memoryview, off_a: int,
              off_b: int) -> Iterator[Divergence]:
        try:
            ga, gb = parse_gzip_header(a), parse_gzip_header(b)
            outs = []
            for view in (a, b):
                buf = io.BytesIO()
                decompress_to(view, "gzip", buf, max_size=GZIP_ENTRY_LIMIT)
                outs.append(buf.getvalue())
        except FormatError:
            return
        if outs[0] != outs[1]:
            return  # decompressed content differs: content
        yield from gzip_header_rows(path, "cpio-entry", ga, gb, self.pcrs, off_a, off_b)
        if bytes(a[ga.header_size :]) != bytes(b[gb.header_size :]):
            yield row(path, "cpio-entry", "compressed bytes", f"{len(a)} bytes",
                      f"{len(b)} bytes", "compression", self.pcrs, offset_a=off_a + ga.header_size,
                      offset_b=off_b + gb.header_size)

    def _elf(self, path: str, a: memoryview, b: memoryview, off_a: int,
             off_b: int) -> Iterator[Divergence]:
        facts = []
        for side, data, off in (("a", a, off_a), ("b", b, off_b)):
            try:
                facts.append(elf_facts(data))
            except FormatError as exc:
                self.anomalies.append(Anomaly(f"{side}:{path}", exc.detail, off))
        if len(facts) < 2:
            yield self._content(path, "content", a, b, off_a, off_b)
            return
        yield from ElfComparison(path, self.pcrs, facts[0], facts[1], a, b, off_a, off_b).rows()


def gzip_header_rows(path: str, layer: str, ga: object, gb: object, pcrs: tuple[str, ...],
                     off_a: int, off_b: int) -> Iterator[Divergence]:
    """Rows for differing gzip header fields (mtime, name, level flag, OS)."""
    from eifdiff.formats.compression import GzipHeader

    assert isinstance(ga, GzipHeader) and isinstance(gb, GzipHeader)
    if ga.mtime != gb.mtime:
        yield row(path, layer, "gzip mtime", epoch(ga.mtime), epoch(gb.mtime), "timestamp", pcrs,
                  offset_a=off_a + 4, offset_b=off_b + 4, length=4)
    if ga.name != gb.name:
        yield row(path, layer, "gzip name", ga.name, gb.name, "build-path", pcrs,
                  offset_a=off_a + (ga.name_offset or 3), offset_b=off_b + (gb.name_offset or 3),
                  length=len(ga.name or "") + (1 if ga.name else 0) or None)
    if ga.xfl != gb.xfl:
        yield row(path, layer, "gzip level", ga.level_hint, gb.level_hint, "compression", pcrs,
                  offset_a=off_a + 8, offset_b=off_b + 8, length=1)
    if ga.os != gb.os:
        yield row(path, layer, "gzip os", ga.os, gb.os, "compression", pcrs,
                  offset_a=off_a + 9, offset_b=off_b + 9, length=1)
    if ga.comment != gb.comment:
        yield row(path, layer, "gzip comment", ga.comment, gb.comment, "compression", pcrs,
                  offset_a=off_a, offset_b=off_b)


class ElfComparison:
    """Attribute an ELF pair's differing sections to build paths, the build-id, or content."""

    def __init__(self, path: str, pcrs: tuple[str, ...], fa: ElfFacts, fb: ElfFacts,
                 a: memoryview, b: memoryview, off_a: int, off_b: int) -> None:
        self.path, self.pcrs, self.fa, self.fb = path, pcrs, fa, fb
        self.a, self.b, self.off_a, self.off_b = a, b, off_a, off_b
        self.substitutions: list[tuple[bytes, bytes]] = []

    def _row(self, sub: str, field: str, x: object, y: object, category: str,
             oa: int | None = None, ob: int | None = None, length: int | None = None
             ) -> Divergence:
        return row(f"{self.path}:{sub}" if sub else self.path, "elf", field, x, y, category,
                   self.pcrs, offset_a=None if oa is None else self.off_a + oa,
                   offset_b=None if ob is None else self.off_b + ob, length=length)

    @staticmethod
    def _string_at(facts: ElfFacts, data: memoryview, section: str, value: str) -> int | None:
        """Offset in the ELF file of a NUL-terminated string inside the named section."""
        sec = facts.section(section)
        if sec is None:
            return None
        at = bytes(data[sec.offset : sec.offset + sec.size]).find(value.encode() + b"\0")
        return None if at < 0 else sec.offset + at

    def _explained_by_paths(self, x: bytes, y: bytes) -> bool:
        return bool(self.substitutions) and replace_all(x, self.substitutions, len(y)) == y

    def rows(self) -> Iterator[Divergence]:
        fa, fb = self.fa, self.fb
        out: list[Divergence] = []
        # DWARF compile-unit strings: the build directory first, then names and producers
        da = {(d.unit, d.attribute): d for d in fa.dwarf}
        db = {(d.unit, d.attribute): d for d in fb.dwarf}
        for key in sorted(set(da) & set(db), key=lambda k: (k[1] != "DW_AT_comp_dir", k)):
            x, y = da[key], db[key]
            if x.value == y.value:
                continue
            if key[1] == "DW_AT_comp_dir":
                self.substitutions.append((x.value.encode(), y.value.encode()))
                category = "build-path"
            else:
                explained = self._explained_by_paths(x.value.encode(), y.value.encode())
                category = "build-path" if explained else "content"
            out.append(self._row(x.section, key[1], x.value, y.value, category,
                                 self._string_at(fa, self.a, x.section, x.value),
                                 self._string_at(fb, self.b, y.section, y.value),
                                 len(x.value.encode())))
        if len({k[0] for k in da}) != len({k[0] for k in db}):
            out.append(self._row("", "DWARF units", len({k[0] for k in da}),
                                 len({k[0] for k in db}), "content"))
        if fa.build_id != fb.build_id:
            sa, sb = fa.section(".note.gnu.build-id"), fb.section(".note.gnu.build-id")
            # the note: 12-byte header, "GNU\0", then the id itself
            out.append(self._row(".note.gnu.build-id", "build-id", fa.build_id, fb.build_id,
                                 "build-id", sa.offset + 16 if sa else None,
                                 sb.offset + 16 if sb else None,
                                 sa.size - 16 if sa else None))
        for name in STRING_SECTIONS:
            x = fa.comment if name == ".comment" else fa.modinfo
            y = fb.comment if name == ".comment" else fb.modinfo
            if x != y:
                sa, sb = fa.section(name), fb.section(name)
                out.append(self._row(name, name, "; ".join(x), "; ".join(y), "content",
                                     sa.offset if sa else None, sb.offset if sb else None,
                                     sa.size if sa else None))
        out += self._sections()
        if not out:
            first = first_difference(self.a, self.b)
            out.append(self._row("", "bytes outside sections", f"{len(self.a)} bytes",
                                 f"{len(self.b)} bytes", "content", first, first))
        yield from out

    def _sections(self) -> Iterator[Divergence]:
        fa, fb = self.fa, self.fb
        by_a = {s.name: s for s in fa.sections}
        by_b = {s.name: s for s in fb.sections}
        moved = False
        for name in dict.fromkeys([*by_a, *by_b]):
            sa, sb = by_a.get(name), by_b.get(name)
            if sa is None or sb is None:
                yield self._row(name, "section", sa and sa.size, sb and sb.size,
                                "added" if sa is None else "removed",
                                sa.offset if sa else None, sb.offset if sb else None)
                continue
            moved = moved or sa.offset != sb.offset
            if sa.sha256 == sb.sha256 or name == ".note.gnu.build-id" or \
                    name in STRING_SECTIONS:
                continue
            x = bytes(self.a[sa.offset : sa.offset + sa.size])
            y = bytes(self.b[sb.offset : sb.offset + sb.size])
            if self._explained_by_paths(x, y) or (
                    self.substitutions and name.startswith(DEBUG_PREFIXES)):
                category = "build-path"
            else:
                category = "content"
            yield self._row(name, "section bytes", f"{sa.size} bytes", f"{sb.size} bytes",
                            category, sa.offset, sb.offset, sa.size)
        if moved or fa.section_header_offset != fb.section_header_offset:
            yield self._row("", "section offsets", fa.section_header_offset,
                            fb.section_header_offset, "derived")
