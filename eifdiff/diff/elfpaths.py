"""Build paths across all sections of an ELF pair: which differing sections the directory
pairs explain (Go's `.gopclntab`, DWARF, string tables), which only follow from them (offsets,
sizes, symbol values moved by a longer path; build IDs hashed over them), and which differ for
other reasons.

Two passes: the first learns the directory pairs and the shifts they cause, section by section
in file order; the second looks again, with every pair and shift known, at the sections the
first could not explain (a section holding only offsets into another one). String tables are
compared as sets of strings first, since a linker may merge and reorder them."""

from __future__ import annotations

from dataclasses import dataclass

from eifdiff.diff.buildpaths import BuildPaths, find_build_paths, find_build_paths_in_strings
from eifdiff.diff.spans import equal
from eifdiff.formats.elfdata import ElfData, SectionData, elf_data
from eifdiff.mapped import touched

BUILD_PATH = "build-path"
DERIVED = "derived"
CONTENT = "content"


@dataclass(frozen=True, slots=True)
class SectionPaths:
    """One differing section: where it lies on both sides, whether its bytes were inflated
    (SHF_COMPRESSED), what the walk found, and the resulting category: `build-path` (the pairs
    were substituted in it and explain it), `derived` (explained without a path of its own:
    moved offsets, build IDs), `content`."""

    name: str
    offset_a: int
    offset_b: int
    size_a: int
    size_b: int
    inflated: bool
    result: BuildPaths

    @property
    def category(self) -> str:
        if not self.result.explained:
            return CONTENT
        return BUILD_PATH if any(p.count for p in self.result.pairs) else DERIVED


@dataclass(frozen=True)
class ElfPaths:
    """`sections` are the sections present on both sides whose bytes differ; `pairs` the
    directory pairs (most substituted first); `build_ids` the differing build IDs as (kind, a,
    b) with kind `go build ID` or `GNU build-id`; `explained` whether every differing section
    is explained (build-path or derived) and at least one pair or given hash was used."""

    sections: tuple[SectionPaths, ...]
    pairs: tuple[tuple[str, str], ...]
    build_ids: tuple[tuple[str, str, str], ...]
    explained: bool

    def section(self, name: str) -> SectionPaths | None:
        return next((s for s in self.sections if s.name == name), None)


def _hashes(da: ElfData, db: ElfData) -> tuple[list[tuple[bytes, bytes]],
                                               list[tuple[str, str, str]]]:
    hashes, ids = [], []
    if da.go_build_id and db.go_build_id and da.go_build_id != db.go_build_id:
        hashes.append((da.go_build_id, db.go_build_id))
        ids.append(("go build ID", da.go_build_id.decode("utf-8", "replace"),
                    db.go_build_id.decode("utf-8", "replace")))
    if da.gnu_build_id and db.gnu_build_id and da.gnu_build_id != db.gnu_build_id:
        hashes.append((da.gnu_build_id, db.gnu_build_id))
        ids.append(("GNU build-id", da.gnu_build_id.hex(), db.gnu_build_id.hex()))
    return hashes, ids


def explain_sections(da: ElfData, db: ElfData, pairs: tuple[tuple[str, str], ...] = (),
                     hashes: tuple[tuple[bytes, bytes], ...] = ()) -> ElfPaths:
    """The build-path explanation of two parsed ELF files; `pairs` are directory pairs known
    from elsewhere (DWARF `DW_AT_comp_dir`), `hashes` other strings known to differ as a
    consequence of another row (a Go VCS stamp)."""
    found, ids = _hashes(da, db)
    hashes = (*found, *hashes)
    by_b = {s.name: s for s in db.sections}
    differing: list[tuple[SectionData, SectionData]] = [  # views of mapped files: in windows
        (sa, by_b[sa.name]) for sa in da.sections
        if sa.name in by_b and not equal(memoryview(sa.data), memoryview(by_b[sa.name].data))]
    moves = {sb.address - sa.address for sa, sb in differing} | {
        sb.offset - sa.offset for sa, sb in differing}
    known = list(dict.fromkeys(pairs))
    counts: dict[tuple[str, str], int] = {}
    results: dict[str, BuildPaths] = {}
    for final in (False, True):
        for sa, sb in differing:
            if final and results[sa.name].explained:
                continue
            r = None
            if sa.strings and sb.strings:
                r = find_build_paths_in_strings(sa.data, sb.data, pairs=tuple(known))
            if r is None or not r.explained:
                r = find_build_paths(sa.data, sb.data, pairs=tuple(known),
                                     hashes=tuple(hashes), moves=tuple(sorted(moves - {0})),
                                     discover=not final, strict=sa.code or sb.code)
            results[sa.name] = r
            touched(len(sa.data) + len(sb.data))
            for p in r.pairs:
                if (p.a, p.b) not in known:
                    known.append((p.a, p.b))
                if not final:
                    counts[(p.a, p.b)] = counts.get((p.a, p.b), 0) + p.count
            moves |= set(r.shifts)
    sections = tuple(SectionPaths(sa.name, sa.offset, sb.offset, sa.size, sb.size,
                                  sa.inflated or sb.inflated, results[sa.name])
                     for sa, sb in differing)
    used = sorted((k for k, n in counts.items() if n), key=lambda k: -counts[k])
    explained = bool(used or any(s.result.derived for s in sections)) and all(
        s.category != CONTENT for s in sections)
    return ElfPaths(sections, tuple(used), tuple(ids), explained)


def elf_build_paths(a: bytes | memoryview, b: bytes | memoryview,
                    pairs: tuple[tuple[str, str], ...] = (),
                    hashes: tuple[tuple[bytes, bytes], ...] = ()) -> ElfPaths:
    """Read both ELF files and explain their differing sections; FormatError when either
    cannot be read."""
    return explain_sections(elf_data(a), elf_data(b), pairs, hashes)
