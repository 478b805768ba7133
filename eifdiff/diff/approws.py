"""Rows for application builds: build paths in ELF files (worded for the toolchain that made
them) with the hashes and offsets that follow from them, Go build info, `.pyc` code compiled in
another folder, the members of nested archives (zip, jar, wheel, tar, tar.gz) and lockfile
versions. The content explainer calls these before it falls back to a `content` row."""

from __future__ import annotations

import json
from collections.abc import Callable

from eifdiff import rules as R
from eifdiff.diff.archives import MemberChange, compare_archives
from eifdiff.diff.buildpaths import find_build_paths
from eifdiff.diff.elfpaths import BUILD_PATH, CONTENT, DERIVED, ElfPaths, elf_build_paths
from eifdiff.diff.pycode import FILENAMES, compare_pyc
from eifdiff.diff.rows import Where
from eifdiff.diff.spans import first_difference
from eifdiff.errors import Anomaly, FormatError
from eifdiff.formats.archive import Archive, detect, read_archive
from eifdiff.formats.elf import ElfFacts
from eifdiff.formats.toolchain import detect_toolchain
from eifdiff.packages import golang, npm
from eifdiff.records import Divergence

MAX_ELF = 256 << 20  # ELF files larger than this are not walked for build paths
MAX_ARCHIVE = 256 << 20
MAX_FILE = 64 << 20  # other files larger than this are not walked for build paths
ELSEWHERE = (".note.gnu.build-id", ".comment", ".modinfo")  # sections other rows explain
JAVA_SUFFIXES = (".jar", ".war", ".ear")
PATH_FIELDS = {"go": R.GO_BUILD_PATH, "rust": R.RUST_BUILD_PATH}  # else SECTION_PATHS (C, C++)


def _comp_dirs(fa: ElfFacts, fb: ElfFacts) -> tuple[tuple[str, str], ...]:
    """The (a, b) pairs of DWARF `DW_AT_comp_dir` values that differ, unit by unit."""
    da = {d.unit: d.value for d in fa.dwarf if d.attribute == "DW_AT_comp_dir"}
    db = {d.unit: d.value for d in fb.dwarf if d.attribute == "DW_AT_comp_dir"}
    pairs = {(da[u], db[u]) for u in da.keys() & db.keys()
             if da[u] != db[u] and da[u].startswith("/") and db[u].startswith("/")}
    return tuple(sorted(pairs))


class ElfApplication:
    """What build paths and Go build info explain in one ELF pair. `section_rows(name)` are
    the rows that replace the default one for a differing section (None: keep the default);
    `rows()` are the build-info and Go build ID rows; `build_id_derived` says whether the GNU
    build-id only follows from the paths."""

    def __init__(self, at: Where, a: memoryview, b: memoryview, fa: ElfFacts, fb: ElfFacts,
                 off_a: int, off_b: int) -> None:
        self.at, self.off_a, self.off_b = at, off_a, off_b
        self.paths: ElfPaths | None = None
        self.info_rows: list[Divergence] = []
        stamps: list[tuple[bytes, bytes]] = []  # build-info values Go also copies elsewhere
        ia, ib = golang.buildinfo(a), golang.buildinfo(b)
        if ia is not None and ib is not None:
            self.info_rows = self._build_info(ia, ib, fa, fb)
            sa, sb = dict(ia.settings), dict(ib.settings)
            stamps = [(sa[k].encode(), sb[k].encode()) for k in sa.keys() & sb.keys()
                      if sa[k] != sb[k] and len(sa[k]) >= 8 and len(sb[k]) >= 8]
            # a module at another version is named `path@version` in file names and symbols,
            # and its line of the module info (also kept in .rodata) has another checksum
            ma = {m.path: m for m in ia.deps}
            mb = {m.path: m for m in ib.deps}
            for p in ma.keys() & mb.keys():
                x, y = ma[p], mb[p]
                if (x.version, x.sum) != (y.version, y.sum):
                    stamps.append((f"{p}\t{x.version}\t{x.sum}".encode(),
                                   f"{p}\t{y.version}\t{y.sum}".encode()))
                    stamps.append((f"{p}@{x.version}".encode(), f"{p}@{y.version}".encode()))
        dirs = _comp_dirs(fa, fb)
        if max(len(a), len(b)) <= MAX_ELF:
            try:
                self.paths = elf_build_paths(a, b, dirs, tuple(stamps))
            except FormatError:
                self.paths = None
        tool = detect_toolchain(a, facts=fa)
        self.field = PATH_FIELDS.get(tool.name if tool else "", R.SECTION_PATHS)
        self.comp_dir_field = R.RUST_COMP_DIR if tool and tool.name == "rust" else R.COMP_DIR

    def _build_info(self, ia: golang.BuildInfo, ib: golang.BuildInfo, fa: ElfFacts,
                    fb: ElfFacts) -> list[Divergence]:
        sa, sb = fa.section(".go.buildinfo"), fb.section(".go.buildinfo")
        oa = self.off_a + sa.offset if sa else None
        ob = self.off_b + sb.offset if sb else None
        out = []
        for c in golang.compare_buildinfo(ia, ib):
            if c.field == "go version":
                field, x, y = R.GO_VERSION, c.a, c.b
            elif c.field == "module":
                field = R.GO_MODULE
                x = None if c.a is None else f"{c.name} {c.a}"
                y = None if c.b is None else f"{c.name} {c.b}"
            elif c.field == "vcs.time":
                field, x, y = R.GO_VCS_TIME, c.a, c.b
            elif c.field.startswith("vcs"):
                field, x, y = R.GO_VCS, c.a, c.b
            else:
                field, x, y = R.GO_SETTING, c.a, c.b
            out.append(self.at.row(R.ELF, field, x, y, part=c.name, offset_a=oa, offset_b=ob))
        return out

    @property
    def explained(self) -> bool:
        """Whether the paths (and the build-info rows) explain every differing section that
        other rows do not cover; Go's build ID note then only follows from them."""
        p = self.paths
        if p is None or not (p.pairs or self.info_rows):
            return False
        return all(s.category != CONTENT or s.name in ELSEWHERE or s.name == ".note.go.buildid"
                   or (s.name == ".go.buildinfo" and self.info_rows) for s in p.sections)

    @property
    def build_id_derived(self) -> bool:
        """Whether the GNU build-id differs only because of what the paths explain."""
        p = self.paths
        return p is not None and self.explained and any(
            k == "GNU build-id" for k, _, _ in p.build_ids)

    def rows(self) -> list[Divergence]:
        out = list(self.info_rows)
        p = self.paths
        if p is not None and self.explained:
            for kind, x, y in p.build_ids:
                s = p.section(".note.go.buildid")
                if kind == "go build ID" and s is not None:
                    out.append(self.at.row(R.ELF, R.GO_BUILD_ID, x, y, part=s.name,
                                           offset_a=self.off_a + s.offset_a,
                                           offset_b=self.off_b + s.offset_b, length=s.size_a))
        return out

    def section_rows(self, name: str) -> list[Divergence] | None:
        """The rows that replace the default row of differing section `name`: [] when
        `rows()` covers it (Go's build ID note), None to keep the default."""
        if name == ".go.buildinfo" and self.info_rows:
            return [self._section(name, R.GO_BUILD_INFO)]
        p = self.paths
        s = p.section(name) if p is not None else None
        if s is None:
            return None
        if name == ".note.go.buildid" and self.explained and any(
                k == "go build ID" for k, _, _ in p.build_ids):  # type: ignore[union-attr]
            return []
        if s.category == BUILD_PATH:
            used = [q for q in s.result.pairs if q.count]
            return [self.at.row(R.ELF, self.field, "; ".join(q.a for q in used),
                                "; ".join(q.b for q in used), part=name,
                                offset_a=self.off_a + s.offset_a,
                                offset_b=self.off_b + s.offset_b, length=s.size_a)]
        if s.category == DERIVED and self.explained:
            return [self._section(name, R.PATH_DERIVED if p.pairs else R.GO_BUILD_INFO)]  # type: ignore[union-attr]
        return None

    def _section(self, name: str, field: str) -> Divergence:
        s = self.paths.section(name) if self.paths is not None else None
        if s is None:
            return self.at.row(R.ELF, field, None, None, part=name)
        return self.at.row(R.ELF, field, f"{s.size_a} bytes", f"{s.size_b} bytes", part=name,
                           offset_a=self.off_a + s.offset_a, offset_b=self.off_b + s.offset_b,
                           length=s.size_a)


def pyc_code_rows(at: Where, a: memoryview, b: memoryview, off_a: int, off_b: int
                  ) -> list[Divergence]:
    """Rows for two `.pyc` whose code objects differ only in the folder they were compiled in
    (and whose headers may differ); [] when the code itself differs."""
    got = compare_pyc(a, b, at.entry or "")
    if got.code != FILENAMES:
        return []
    out = []
    for c in got.changes:
        if c.field == "pyc source mtime":
            out.append(at.row(R.CPIO, R.PYC_SOURCE_MTIME, c.a, c.b, offset_a=off_a + 8,
                              offset_b=off_b + 8, length=4))
        elif c.field == "pyc source size":
            out.append(at.row(R.CPIO, R.PYC_SOURCE_SIZE, c.a, c.b, offset_a=off_a + 12,
                              offset_b=off_b + 12, length=4))
        elif c.field == "pyc source hash":
            out.append(at.row(R.CPIO, R.PYC_SOURCE_HASH, c.a, c.b, offset_a=off_a + 8,
                              offset_b=off_b + 8, length=8))
        elif c.field in ("pyc magic", "pyc flags"):
            out.append(at.row(R.CPIO, R.PYC_HEADER, f"{c.field} {c.a}", f"{c.field} {c.b}",
                              offset_a=off_a, offset_b=off_b, length=8))
        elif c.field == "compiled in":
            out.append(at.row(R.CPIO, R.PYC_COMPILED_IN, c.a, c.b, part="co_filename",
                              offset_a=off_a + 16, offset_b=off_b + 16, length=len(a) - 16))
    return out


_MEMBER_FIELDS = {
    "mtime": R.MEMBER_MTIME, "DOS time": R.MEMBER_MTIME, "member order": R.MEMBER_ORDER,
    "mode": R.MEMBER_MODE, "external attributes": R.MEMBER_MODE, "uid": R.MEMBER_OWNER,
    "gid": R.MEMBER_OWNER, "owner": R.MEMBER_OWNER, "group": R.MEMBER_OWNER,
    "made by": R.MEMBER_EXTRA, "extra fields": R.MEMBER_EXTRA,
    "local extra fields": R.MEMBER_EXTRA, "flags": R.MEMBER_EXTRA,
    "method": R.MEMBER_COMPRESSION, "compressed bytes": R.MEMBER_COMPRESSION,
    "content": R.MEMBER_CONTENT, "type": R.MEMBER_CONTENT, "link target": R.MEMBER_CONTENT,
    "comment": R.ARCHIVE_COMMENT, "gzip mtime": R.GZIP_MTIME, "gzip name": R.GZIP_NAME,
    "gzip level": R.GZIP_LEVEL, "gzip os": R.GZIP_OS,
}


def _is_jar(at: Where, arc: Archive) -> bool:
    return (at.entry or "").endswith(JAVA_SUFFIXES) or arc.member("META-INF/MANIFEST.MF") \
        is not None


def _member_row(at: Where, c: MemberChange, java: bool, plain: bool, off_a: int,
                off_b: int) -> Divergence:
    if c.field == "member":
        field = R.MEMBER_ADDED if c.category == "added" else R.MEMBER_REMOVED
    else:
        field = _MEMBER_FIELDS[c.field]
        if field == R.MEMBER_MTIME and java:
            field = R.JAR_MEMBER_MTIME
    x, y = c.a, c.b
    # member offsets are file offsets inside a zip or a plain tar, not inside a tar.gz
    oa = off_a + c.offset_a if plain and c.offset_a is not None else None
    ob = off_b + c.offset_b if plain and c.offset_b is not None else None
    return at.row(R.CPIO, field, x, y, part=c.member or None, offset_a=oa, offset_b=ob)


def is_archive(data: memoryview) -> bool:
    """Whether an entry starts like a zip, gzip or tar archive."""
    return detect(data) is not None


def archive_rows(at: Where, a: memoryview, b: memoryview, off_a: int, off_b: int,
                 anomalies: Callable[[Anomaly], None]) -> list[Divergence]:
    """Member-level rows for two versions of a zip, jar, wheel, tar or tar.gz entry; [] when
    the entry is not such an archive on both sides (or nothing member-level differs)."""
    if max(len(a), len(b)) > MAX_ARCHIVE:
        return []
    arcs: list[Archive] = []
    for side, data in (("a", a), ("b", b)):
        try:
            arc = read_archive(data, at.entry or "")
        except FormatError:
            return []
        if arc is None or arc.kind == "gzip":
            return []
        for an in arc.anomalies:
            anomalies(Anomaly(at.section, an.message, None, None, at.entry, at.occurrence,
                              an.part, side))
        arcs.append(arc)
    changes = compare_archives(arcs[0], arcs[1])
    plain = arcs[0].wrapper is None and arcs[1].wrapper is None
    java = _is_jar(at, arcs[0])
    return [_member_row(at, c, java, plain, off_a, off_b) for c in changes]


def lockfile_rows(at: Where, a: memoryview, b: memoryview) -> list[Divergence]:
    """`locked version` rows for an npm lockfile whose packages moved to other versions;
    [] when not a lockfile or no version differs."""
    if not npm.is_lock(at.entry or ""):
        return []
    try:
        la, lb = npm.parse_lock(bytes(a)), npm.parse_lock(bytes(b))
    except (ValueError, json.JSONDecodeError):
        return []
    va = {loc: (name, version) for loc, name, version, _ in la}
    vb = {loc: (name, version) for loc, name, version, _ in lb}
    out = []
    for loc in sorted(va.keys() | vb.keys()):
        x, y = va.get(loc), vb.get(loc)
        if x != y:
            out.append(at.row(R.CPIO, R.LOCKED_VERSION, None if x is None else " ".join(x),
                              None if y is None else " ".join(y), part=loc))
    return out


def path_rows(at: Where, a: memoryview, b: memoryview, off_a: int, off_b: int
              ) -> list[Divergence]:
    """A `build path` row for any other file (text or binary) whose differing bytes are all
    explained by directory pairs found in them; [] otherwise."""
    if max(len(a), len(b)) > MAX_FILE:
        return []
    got = find_build_paths(a, b)
    if not got.explained or not got.pairs:
        return []
    dirs = got.directories
    first = first_difference(a, b) or 0
    return [at.row(R.CPIO, R.FILE_BUILD_PATH, "; ".join(d[0] for d in dirs),
                   "; ".join(d[1] for d in dirs), offset_a=off_a + first,
                   offset_b=off_b + first, length=len(a) - first)]
