"""Why two entries' contents differ: ELF build paths and build-ids, `.pyc` source mtimes, gzip
headers, symlink targets; `content` only for what no rule explains."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import replace

from eifdiff import rules as R
from eifdiff.diff import approws
from eifdiff.diff.rows import Where
from eifdiff.diff.spans import first_difference, last_difference, replace_all
from eifdiff.errors import Anomaly, FormatError
from eifdiff.formats.compression import decompress_to, parse_gzip_header
from eifdiff.formats.cpio import S_IFLNK, S_IFMT
from eifdiff.formats.elf import ElfFacts, ElfSection, ToolchainComment, elf_facts, is_elf
from eifdiff.formats.pyc import HEADER_SIZE as PYC_HEADER
from eifdiff.formats.pyc import parse_pyc_header
from eifdiff.mapped import touched
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
_DIGITS = re.compile(rb"\d+")


def _releases(tools: tuple[ToolchainComment, ...]) -> str:
    """The distinct releases of a role (`Red Hat 7.3.1-13`), in order, joined."""
    return "; ".join(dict.fromkeys(t.release for t in tools))


def _texts(tools: tuple[ToolchainComment, ...]) -> str:
    return "; ".join(dict.fromkeys(t.text for t in tools))


def _at(data: memoryview, sec: ElfSection | None, text: str) -> int | None:
    """File offset of the first NUL-terminated `text` (up to a `; `) inside `sec`."""
    if sec is None or not text:
        return None
    first = text.split("; ")[0].encode()
    hit = bytes(data[sec.offset : sec.offset + sec.size]).find(first + b"\0")
    return None if hit < 0 else sec.offset + hit


class Explainer:
    """Turns one pair of differing entry payloads into rows; collects parse anomalies."""

    def __init__(self) -> None:
        self.anomalies: list[Anomaly] = []

    def explain(
        self, at: Where, mode: int, a: memoryview, b: memoryview, off_a: int, off_b: int
    ) -> Iterator[Divergence]:
        """Rows for one entry (located by `at`) whose payloads `a` and `b` differ; `off_a` and
        `off_b` are where the payloads start, in each side's offset space."""
        if (mode & S_IFMT) == S_IFLNK:
            yield at.row(R.CPIO, R.SYMLINK_TARGET, bytes(a).decode("utf-8", "replace"),
                         bytes(b).decode("utf-8", "replace"), offset_a=off_a, offset_b=off_b,
                         length=len(a))
            return
        if is_elf(a) and is_elf(b):
            yield from self._elf(at, a, b, off_a, off_b)
            return
        if (at.entry or "").endswith(".pyc"):
            rows = list(self._pyc(at, a, b, off_a, off_b))
            if rows:
                yield from rows
                return
        if bytes(a[:2]) == b"\x1f\x8b" and bytes(b[:2]) == b"\x1f\x8b":
            rows = list(self._gzip(at, a, b, off_a, off_b))
            if rows:
                yield from rows
                return
        rows = self._application(at, a, b, off_a, off_b)
        if rows:
            yield from rows
            return
        if bytes(a[: len(AUX_CACHE)]) == AUX_CACHE == bytes(b[: len(AUX_CACHE)]):
            yield self._content(at, R.AUX_CACHE, a, b, off_a, off_b)
            return
        if _only_timestamps_differ(a, b):
            yield self._content(at, R.TEXT_TIMES, a, b, off_a, off_b)
            return
        field = R.LOG if "/var/log/" in f"/{at.entry}" else R.CONTENT
        yield self._content(at, field, a, b, off_a, off_b)

    def _content(self, at: Where, field: str, a: memoryview, b: memoryview, off_a: int,
                 off_b: int) -> Divergence:
        """A row spanning the first to the last differing byte of side a."""
        first = first_difference(a, b)
        start = 0 if first is None else first
        last = last_difference(a, b)[0] if len(a) == len(b) else len(a) - 1
        return at.row(R.CPIO, field, f"{len(a)} bytes", f"{len(b)} bytes",
                      offset_a=off_a + start, offset_b=off_b + start,
                      length=max(last - start + 1, 0))

    def _pyc(self, at: Where, a: memoryview, b: memoryview, off_a: int,
             off_b: int) -> Iterator[Divergence]:
        ha, hb = parse_pyc_header(a), parse_pyc_header(b)
        if ha is not None and hb is not None and a[PYC_HEADER:] != b[PYC_HEADER:]:
            yield from approws.pyc_code_rows(at, a, b, off_a, off_b)  # [] when the code differs
            return
        if ha is None or hb is None:
            return
        if ha.magic != hb.magic or ha.flags != hb.flags:
            yield at.row(R.CPIO, R.PYC_HEADER, f"magic {ha.magic} flags {ha.flags}",
                         f"magic {hb.magic} flags {hb.flags}", offset_a=off_a, offset_b=off_b,
                         length=8)
            return
        if ha.source_mtime != hb.source_mtime:
            yield at.row(R.CPIO, R.PYC_SOURCE_MTIME, ha.source_mtime or 0,
                         hb.source_mtime or 0, offset_a=off_a + 8, offset_b=off_b + 8,
                         length=4)
        if ha.source_size != hb.source_size:
            yield at.row(R.CPIO, R.PYC_SOURCE_SIZE, ha.source_size, hb.source_size,
                         offset_a=off_a + 12, offset_b=off_b + 12, length=4)
        if ha.source_hash != hb.source_hash:
            yield at.row(R.CPIO, R.PYC_SOURCE_HASH, ha.source_hash, hb.source_hash,
                         offset_a=off_a + 8, offset_b=off_b + 8, length=8)

    def _application(self, at: Where, a: memoryview, b: memoryview, off_a: int,
                     off_b: int) -> list[Divergence]:
        """Member rows of nested archives (zip, jar, wheel, tar, tar.gz), lockfile versions,
        build directories recorded in any other file."""
        if approws.is_archive(a) and approws.is_archive(b):
            rows = approws.archive_rows(at, a, b, off_a, off_b, self.anomalies.append)
        else:
            rows = approws.lockfile_rows(at, a, b)
        rows = rows or approws.path_rows(at, a, b, off_a, off_b)
        touched(len(a) + len(b))  # both payloads were read whole
        return rows

    def _gzip(self, at: Where, a: memoryview, b: memoryview, off_a: int,
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
        yield from gzip_header_rows(at, R.CPIO, ga, gb, off_a, off_b)
        if bytes(a[ga.header_size :]) != bytes(b[gb.header_size :]):
            yield at.row(R.CPIO, R.RECOMPRESSED, f"{len(a)} bytes", f"{len(b)} bytes",
                         offset_a=off_a + ga.header_size, offset_b=off_b + gb.header_size)

    def _elf(self, at: Where, a: memoryview, b: memoryview, off_a: int,
             off_b: int) -> Iterator[Divergence]:
        facts = []
        for side, data, off, stream in (("a", a, off_a, at.stream_a), ("b", b, off_b, at.stream_b)):
            try:
                facts.append(elf_facts(data))
            except FormatError as exc:
                self.anomalies.append(Anomaly(at.section, exc.detail, off, stream, at.entry,
                                              at.occurrence, side=side))
        if len(facts) < 2:
            yield self._content(at, R.CONTENT, a, b, off_a, off_b)
            return
        yield from ElfComparison(at, facts[0], facts[1], a, b, off_a, off_b).rows()


def gzip_header_rows(at: Where, layer: str, ga: object, gb: object, off_a: int, off_b: int,
                     part: str | None = None) -> Iterator[Divergence]:
    """Rows for differing gzip header fields (mtime, name, level flag, OS)."""
    from eifdiff.formats.compression import GzipHeader

    assert isinstance(ga, GzipHeader) and isinstance(gb, GzipHeader)
    if ga.mtime != gb.mtime:
        yield at.row(layer, R.GZIP_MTIME, ga.mtime, gb.mtime, part=part,
                     offset_a=off_a + 4, offset_b=off_b + 4, length=4)
    if ga.name != gb.name:
        yield at.row(layer, R.GZIP_NAME, ga.name, gb.name, part=part,
                     offset_a=off_a + (ga.name_offset or 3),
                     offset_b=off_b + (gb.name_offset or 3),
                     length=len(ga.name or "") + (1 if ga.name else 0) or None)
    if ga.xfl != gb.xfl:
        yield at.row(layer, R.GZIP_LEVEL, ga.level_hint, gb.level_hint, part=part,
                     offset_a=off_a + 8, offset_b=off_b + 8, length=1)
    if ga.os != gb.os:
        yield at.row(layer, R.GZIP_OS, ga.os, gb.os, part=part, offset_a=off_a + 9,
                     offset_b=off_b + 9, length=1)
    if ga.comment != gb.comment:
        yield at.row(layer, R.GZIP_COMMENT, ga.comment, gb.comment, part=part,
                     offset_a=off_a, offset_b=off_b)


class ElfComparison:
    """Attribute an ELF pair's differing sections to build paths, the build-id, or content."""

    def __init__(self, at: Where, fa: ElfFacts, fb: ElfFacts,
                 a: memoryview, b: memoryview, off_a: int, off_b: int) -> None:
        self.at, self.fa, self.fb = at, fa, fb
        self.a, self.b, self.off_a, self.off_b = a, b, off_a, off_b
        self.substitutions: list[tuple[bytes, bytes]] = []
        self._app_cache: approws.ElfApplication | None = None

    def _app(self) -> approws.ElfApplication:
        """Build paths across sections and Go build info (read once, when first asked)."""
        if self._app_cache is None:
            self._app_cache = approws.ElfApplication(self.at, self.a, self.b, self.fa,
                                                       self.fb, self.off_a, self.off_b)
        return self._app_cache

    def _row(self, part: str | None, field: str, x: object, y: object,
             oa: int | None = None, ob: int | None = None, length: int | None = None
             ) -> Divergence:
        return self.at.row(R.ELF, field, x, y, part=part,
                           offset_a=None if oa is None else self.off_a + oa,
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
                if x.value and y.value:
                    self.substitutions.append((x.value.encode(), y.value.encode()))
                field = self._app().comp_dir_field
            else:
                explained = self._explained_by_paths(x.value.encode(), y.value.encode())
                field = R.DWARF_PATH if explained else R.DWARF_ATTRIBUTE
            out.append(self._row(key[1], field, x.value, y.value,
                                 self._string_at(fa, self.a, x.section, x.value),
                                 self._string_at(fb, self.b, y.section, y.value),
                                 len(x.value.encode())))
        if len({k[0] for k in da}) != len({k[0] for k in db}):
            out.append(self._row(None, R.DWARF_UNITS, len({k[0] for k in da}),
                                 len({k[0] for k in db})))
        if fa.build_id != fb.build_id:
            na, nb = fa.build_id_note, fb.build_id_note  # only a note owned by GNU
            field = R.BUILD_ID_FROM_PATHS if self._app().build_id_derived else R.BUILD_ID
            out.append(self._row(na.section if na else nb.section if nb else None, field,
                                 fa.build_id, fb.build_id, na.desc_offset if na else None,
                                 nb.desc_offset if nb else None, na.desc_size if na else None))
        out += self._toolchain()
        out += self._modinfo()
        out += self._sections()
        out += self._app().rows()
        if not out:
            first = first_difference(self.a, self.b)
            out.append(self._row(None, R.OUTSIDE_SECTIONS, f"{len(self.a)} bytes",
                                 f"{len(self.b)} bytes", first, first))
        yield from out

    def _toolchain(self) -> Iterator[Divergence]:
        """`.comment` split by role: compiler and linker releases (toolchain), then any other
        string that differs (content)."""
        fa, fb = self.fa, self.fb
        if fa.comment == fb.comment:
            return
        sa, sb = fa.section(".comment"), fb.section(".comment")
        oa, ob = (sa.offset if sa else None), (sb.offset if sb else None)
        found = False
        for field, x, y in ((R.COMPILER, fa.compilers, fb.compilers),
                            (R.LINKER, fa.linkers, fb.linkers)):
            ra, rb = _releases(x), _releases(y)
            if ra != rb:
                found = True
                ta, tb = _texts(x), _texts(y)
                yield self._row(".comment", field, ra, rb, _at(self.a, sa, ta), _at(self.b, sb, tb),
                                len(ta.split("; ")[0].encode()) if ta else None)
        other_a = [t.text for t in fa.toolchain if t.role == "other"]
        other_b = [t.text for t in fb.toolchain if t.role == "other"]
        if other_a != other_b or not found:
            yield self._row(".comment", R.COMMENT, "; ".join(fa.comment), "; ".join(fb.comment),
                            oa, ob, sa.size if sa else None)

    def _modinfo(self) -> Iterator[Divergence]:
        """One row per changed `.modinfo` key; `vermagic` is the kernel the module was built
        for, and with the same `srcversion` the row says so: the same source, rebuilt."""
        ma, mb = self.fa.module, self.fb.module
        if ma is None or mb is None:
            if self.fa.modinfo != self.fb.modinfo:
                sa, sb = self.fa.section(".modinfo"), self.fb.section(".modinfo")
                yield self._row(".modinfo", R.MODINFO, "; ".join(self.fa.modinfo),
                                "; ".join(self.fb.modinfo), sa.offset if sa else None,
                                sb.offset if sb else None, sa.size if sa else None)
            return
        if ma == mb:
            return
        ka, kb = ma.by_key(), mb.by_key()
        sa, sb = self.fa.section(".modinfo"), self.fb.section(".modinfo")
        for key in dict.fromkeys([*ka, *kb]):
            x, y = ka.get(key), kb.get(key)
            if x == y:
                continue
            oa = _at(self.a, sa, f"{key}={x}") if x is not None else None
            ob = _at(self.b, sb, f"{key}={y}") if y is not None else None
            length = len(f"{key}={x}".encode()) if x is not None else None
            if key == "vermagic":
                row = self._row(".modinfo", R.VERMAGIC, x, y, oa, ob, length)
                src = ma.get("srcversion")
                if src is not None and src == mb.get("srcversion"):
                    row = replace(row, hint=(
                        f"Same source (srcversion {src}) rebuilt for another kernel: vermagic "
                        f"{x!r} -> {y!r}. " + row.hint))
                yield row
            elif key == "srcversion":
                yield self._row(".modinfo", R.SRCVERSION, x, y, oa, ob, length)
            else:
                yield self._row(".modinfo", R.MODINFO_KEY, None if x is None else f"{key}={x}",
                                None if y is None else f"{key}={y}", oa, ob, length)

    def _rebuilt_for_another_kernel(self) -> bool:
        ma, mb = self.fa.module, self.fb.module
        return ma is not None and mb is not None and ma.vermagic != mb.vermagic

    def _derived_section(self, name: str, x: bytes, y: bytes) -> tuple[str, object, object] | None:
        """A section whose difference follows from the module being built for another kernel:
        `__versions` (the imported symbols' CRCs) and `.strtab` (renumbered labels)."""
        if not self._rebuilt_for_another_kernel():
            return None
        if name == "__versions":
            va, vb = self.fa.versions, self.fb.versions
            if [v.symbol for v in va] == [v.symbol for v in vb]:
                changed = sum(p.crc != q.crc for p, q in zip(va, vb, strict=True))
                return R.SYMBOL_CRCS, f"{len(va)} symbols", f"{changed} CRCs changed"
        if name == ".strtab" and len(x) == len(y) and _DIGITS.sub(b"0", x) == _DIGITS.sub(b"0", y):
            return R.RENUMBERED, f"{len(x)} bytes", f"{len(y)} bytes"
        return None

    def _sections(self) -> Iterator[Divergence]:
        fa, fb = self.fa, self.fb
        note = fa.build_id_note.section if fa.build_id_note else ".note.gnu.build-id"
        by_a = {s.name: s for s in fa.sections}
        by_b = {s.name: s for s in fb.sections}
        moved = False
        for name in dict.fromkeys([*by_a, *by_b]):
            sa, sb = by_a.get(name), by_b.get(name)
            if sa is None or sb is None:
                yield self._row(name, R.SECTION_ADDED if sa is None else R.SECTION_REMOVED,
                                sa and sa.size, sb and sb.size, sa.offset if sa else None,
                                sb.offset if sb else None)
                continue
            moved = moved or sa.offset != sb.offset
            if sa.sha256 == sb.sha256 or name in (".note.gnu.build-id", note) or \
                    name in STRING_SECTIONS:
                continue
            replaced = self._app().section_rows(name)
            if replaced is not None:
                yield from replaced
                continue
            x = bytes(self.a[sa.offset : sa.offset + sa.size])
            y = bytes(self.b[sb.offset : sb.offset + sb.size])
            derived = self._derived_section(name, x, y)
            if derived is not None:
                yield self._row(name, derived[0], derived[1], derived[2], sa.offset, sb.offset,
                                sa.size)
                continue
            if self._explained_by_paths(x, y) or (
                    self.substitutions and name.startswith(DEBUG_PREFIXES)):
                field = R.SECTION_PATHS
            else:
                field = R.SECTION_BYTES
            yield self._row(name, field, f"{sa.size} bytes", f"{sb.size} bytes", sa.offset,
                            sb.offset, sa.size)
        if moved or fa.section_header_offset != fb.section_header_offset:
            yield self._row(None, R.SECTION_OFFSETS, fa.section_header_offset,
                            fb.section_header_offset)
