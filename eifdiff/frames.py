"""pandas views of a comparison: one DataFrame per question a notebook asks.

Pure conversions from records the engine already made; nothing here parses bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from eifdiff.diff.ramdisk import moved_entries
from eifdiff.formats.elf import ElfFacts
from eifdiff.load import LoadedImage
from eifdiff.mapped import sha256_of
from eifdiff.records import CATEGORIES, Divergence
from eifdiff.report.model import Report, sections_of
from eifdiff.rules import rule

ENTRY_FIELDS = ("kind", "filesize", "mode", "uid", "gid", "mtime", "ino", "nlink", "devmajor",
                "devminor", "header_offset")


DIVERGENCE_COLUMNS = ("path", "section", "entry", "occurrence", "part", "layer", "field", "a",
                      "b", "stream_a", "offset_a", "stream_b", "offset_b", "length", "category",
                      "pcrs", "hint", "package", "root_cause", "because")
NO_ROOT_CAUSE = "(none)"


def divergences(rows: Iterable[Divergence]) -> pd.DataFrame:
    """One row per divergence, columns as in the JSON report; `pcrs` joined with commas; `a`
    and `b` as people read them (epochs with their UTC date); `group` is the root cause the row
    belongs to (its own, or the one a derived row follows from)."""
    records = [(d.path, d.section, d.entry, d.occurrence, d.part, d.layer, d.field, d.shown_a,
                d.shown_b, d.stream_a, d.offset_a, d.stream_b, d.offset_b, d.length, d.category,
                ",".join(d.pcrs), d.hint, d.package, d.root_cause, d.because) for d in rows]
    df = pd.DataFrame.from_records(records, columns=list(DIVERGENCE_COLUMNS))
    for column in ("offset_a", "offset_b", "length"):
        df[column] = df[column].astype("Int64")
    df["category"] = pd.Categorical(df["category"], categories=CATEGORIES)
    df["cause"] = df["category"] != "derived"
    df["group"] = df["root_cause"].fillna(df["because"]).fillna(NO_ROOT_CAUSE)
    return df


def changed_files(rows: Iterable[Divergence]) -> pd.DataFrame:
    """Per entry whose content differs (a row that is not about a header field, an addition,
    a removal or the order): ramdisk, entry, occurrence, root cause, fields, categories, PCRs."""
    found: dict[tuple[str, str, int], list[Divergence]] = {}
    for d in rows:
        r = rule(d.layer, d.field)
        if d.entry is not None and (r.deep or d.category == "content" or (
                not r.header and d.category not in ("added", "removed", "derived", "ordering"))):
            found.setdefault((d.section, d.entry, d.occurrence), []).append(d)
    out = [(s, e, o, next((d.root_cause or d.because for d in ds if d.root_cause or d.because),
                          None),
            ", ".join(dict.fromkeys(d.field for d in ds)),
            ", ".join(dict.fromkeys(d.category for d in ds)),
            ",".join(sorted({p for d in ds for p in d.pcrs}))) for (s, e, o), ds in found.items()]
    return pd.DataFrame.from_records(out, columns=["ramdisk", "entry", "occurrence", "root_cause",
                                                   "fields", "categories", "pcrs"])


ROOT_CAUSE_COLUMNS = ("id", "pcrs", "title", "rows", "derived", "entries", "evidence", "fix",
                      "build fix", "category", "kind")


def root_causes(report: Report) -> pd.DataFrame:
    """One row per root cause, in the report's order (PCR-moving first, then rarest): what
    happened, how many rows it explains (`rows` cause rows, `derived` rows that follow from
    it), the evidence, and the fix (the normalization that shows it, and the build change)."""
    rows = [(r.id, ",".join(r.pcrs) or "–", r.title, r.count, r.derived, r.entries, r.evidence,
             r.fix or "–", r.build_fix, r.category, r.kind) for r in report.root_causes]
    return pd.DataFrame.from_records(rows, columns=list(ROOT_CAUSE_COLUMNS)).set_index("id")


def by_root_cause(df: pd.DataFrame, report: Report) -> pd.DataFrame:
    """Counts of a divergence table per root cause (`group`), in the report's root-cause order:
    id, title, rows, cause rows, derived rows."""
    titles = {r.id: r.title for r in report.root_causes}
    order = {r.id: i for i, r in enumerate(report.root_causes)}
    if df.empty:
        return pd.DataFrame(columns=["title", "rows", "cause rows", "derived rows"])
    g = df.groupby("group", sort=False).agg(rows=("path", "size"), causes=("cause", "sum"))
    g = g.rename(columns={"causes": "cause rows"})
    g["derived rows"] = g["rows"] - g["cause rows"]
    g.insert(0, "title", [titles.get(i, "rows no root cause explains") for i in g.index])
    g = g.loc[sorted(g.index, key=lambda i: order.get(i, len(order)))]
    g.index.name = "root cause"
    return g


def pcr_table(report: Report) -> pd.DataFrame:
    """Per PCR: equal or not, both values, the sections it measures, and the causes moving it."""
    rows = []
    for name, eq in report.pcr_equal.items():
        causes = [d for d in report.causes if name in d.pcrs]
        by_cat = pd.Series([d.category for d in causes]).value_counts().to_dict()
        rows.append({
            "PCR": name, "equal": eq, "a": report.a.pcrs.get(name), "b": report.b.pcrs.get(name),
            "measures": ", ".join(report.a.pcr_inputs.get(name, ())),
            "causes": len(causes),
            "by category": ", ".join(f"{k} {v}" for k, v in by_cat.items()),
        })
    return pd.DataFrame(rows).set_index("PCR")


def sections(report: Report) -> pd.DataFrame:
    """The section maps of both files side by side."""
    a = pd.DataFrame(sections_of(report.a.sections)).add_suffix("_a").rename(
        columns={"name_a": "section"})
    b = pd.DataFrame(sections_of(report.b.sections)).add_suffix("_b").rename(
        columns={"name_b": "section"})
    df = a.merge(b, on="section", how="outer")
    feeds = {s: ",".join(p for p, names in report.a.pcr_inputs.items() if s in names)
             for s in df["section"]}
    df["feeds"] = df["section"].map(feeds)
    return df


def _entries(img: LoadedImage) -> pd.DataFrame:
    rows = []
    for r in img.ramdisks:
        seen: dict[str, int] = {}
        for i, m in enumerate(r.members()):
            e = m.entry
            occurrence = seen[e.name] = seen.get(e.name, -1) + 1
            digest = sha256_of(m.data)[:24]  # windowed: a large entry stays unmapped
            rows.append((r.name, e.name, occurrence, i, digest,
                         *(getattr(e, f) for f in ENTRY_FIELDS)))
    return pd.DataFrame.from_records(
        rows, columns=["ramdisk", "name", "occurrence", "index", "content", *ENTRY_FIELDS])


INT_FIELDS = ("filesize", "uid", "gid", "mtime", "ino", "nlink", "devmajor", "devminor",
              "header_offset", "index")
COMPARED = ("kind", "content", "filesize", "mode", "uid", "gid", "mtime", "nlink", "devmajor",
            "devminor", "ino")


def moved_mask(index_a: Sequence[int], index_b: Sequence[int]) -> list[bool]:
    """Which entries present on both sides *moved*, given each one's position in a and in b:
    the diff engine's definition (`eifdiff.diff.ramdisk.moved_entries`, the count its ordering
    row reports), the fewest entries whose removal leaves the rest in the same relative order.
    Additions and removals move nothing; one entry taken from the front to the end is one move,
    not a shift of every other entry."""
    items = list(range(len(index_a)))
    order_a = sorted(items, key=lambda i: index_a[i])
    order_b = sorted(items, key=lambda i: index_b[i])
    moved = set(moved_entries(order_a, order_b))  # type: ignore[arg-type]
    return [i in moved for i in items]


def entries(a: LoadedImage, b: LoadedImage) -> pd.DataFrame:
    """Every CPIO entry of both images side by side (`_a`/`_b` columns, integers as integers),
    with `differs` (the fields that differ, `content` when the data bytes do), `moved` (see
    `moved_mask`) and a `status`: same, changed (a field or the content differs), moved (only
    its place, and the inode number that followed it, differ), added, removed."""
    ea, eb = _entries(a), _entries(b)
    df = ea.merge(eb, on=["ramdisk", "name", "occurrence"], how="outer", suffixes=("_a", "_b"),
                  indicator=True)
    for f in INT_FIELDS:
        for side in ("_a", "_b"):
            df[f + side] = df[f + side].astype("Int64")
    both = df["_merge"] == "both"
    differs = pd.Series("", index=df.index, dtype=object)
    for f in COMPARED:
        ne = both & (df[f"{f}_a"].astype(object) != df[f"{f}_b"].astype(object))
        differs[ne] = differs[ne] + ("," + f)
    df["differs"] = differs.str.lstrip(",")
    df["moved"] = False
    for _, g in df[both].groupby("ramdisk"):
        mask = moved_mask(g["index_a"].tolist(), g["index_b"].tolist())
        df.loc[g.index, "moved"] = mask
    df["status"] = df["_merge"].map({"both": "same", "left_only": "removed",
                                     "right_only": "added"}).astype(str)
    header_only = df["differs"].map(lambda d: set(d.split(",")) <= {"", "ino"})
    df.loc[both & df["moved"] & header_only, "status"] = "moved"
    df.loc[both & (df["status"] == "same") & (df["differs"] != ""), "status"] = "changed"
    for f in ("mode_a", "mode_b"):
        df[f] = df[f].map(lambda m: f"{int(m):06o}" if pd.notna(m) else None)
    return df.drop(columns="_merge")


def elf_sections(fa: ElfFacts, fb: ElfFacts) -> pd.DataFrame:
    """The section tables of two ELF files side by side, with `equal` per section."""
    def table(f: ElfFacts) -> pd.DataFrame:
        return pd.DataFrame([{"section": s.name, "type": s.type, "offset": s.offset,
                              "size": s.size, "sha256": s.sha256} for s in f.sections])

    a, b = table(fa), table(fb)
    df = a.merge(b, on=["section", "type"], how="outer", suffixes=("_a", "_b"))
    df["equal"] = df["sha256_a"] == df["sha256_b"]
    return df


ELF_SUMMARY = ("entry", "build_id_a", "build_id_b", "comp_dir_a", "comp_dir_b", "producer_a",
               "producer_b", "sections_differing")


def elf_summary(pairs: Sequence[tuple[str, ElfFacts, ElfFacts]]) -> pd.DataFrame:
    """Per ELF entry: build-ids, DWARF build directories and producers on both sides."""
    rows = []
    for path, fa, fb in pairs:
        def first(f: ElfFacts, attr: str) -> str | None:
            return next((d.value for d in f.dwarf if d.attribute == attr), None)

        rows.append({
            "entry": path, "build_id_a": fa.build_id, "build_id_b": fb.build_id,
            "comp_dir_a": first(fa, "DW_AT_comp_dir"), "comp_dir_b": first(fb, "DW_AT_comp_dir"),
            "producer_a": first(fa, "DW_AT_producer"), "producer_b": first(fb, "DW_AT_producer"),
            "sections_differing": sum(1 for s in elf_sections(fa, fb)["equal"] if not s),
        })
    return pd.DataFrame(rows, columns=list(ELF_SUMMARY))


REMEDY_COLUMNS = ("normalization", "kind", "fixes", "identical files")


def remedies(report: Report) -> pd.DataFrame:
    """The counterfactual PCRs: one row per normalization (or combination) tried; the columns
    are there even when no normalization applies."""
    rows = []
    for r in report.remedies:
        row = {"normalization": r.name or "(none applies)", "kind": r.kind, "fixes": r.fixes,
               "identical files": r.identical_after}
        for k, eq in r.pcr_equal_after.items():
            row[f"{k} equal"] = eq
            row[f"{k} a"] = r.pcrs_after["a"].get(k)
            row[f"{k} b"] = r.pcrs_after["b"].get(k)
        row["remaining"] = "; ".join(f"{x.category} ({x.count})" for x in r.remaining)
        row["note"] = r.note
        rows.append(row)
    pcr_columns = [f"{k} {x}" for k in report.pcr_equal for x in ("equal", "a", "b")]
    return pd.DataFrame(rows, columns=[*REMEDY_COLUMNS, *pcr_columns, "remaining", "note"])


def remaining(report: Report) -> pd.DataFrame:
    """What no normalization removes (from the remedies), or, when none was tried, every cause
    that moves a PCR: category, rows, an example, and the usual fix."""
    items = [{"category": x.category, "count": x.count, "example": x.example, "field": x.field,
              "hint": x.hint} for r in report.remedies for x in r.remaining]
    if not items and not report.remedies:
        df = divergences(report.causes)
        df = df[df["pcrs"] != ""]
        items = [{"category": str(cat), "count": len(g), "example": g["path"].iloc[0],
                  "field": g["field"].iloc[0], "hint": g["hint"].iloc[0]}
                 for cat, g in df.groupby("category", observed=True)]
    return pd.DataFrame(items, columns=["category", "count", "example", "field", "hint"])


def remedy_grid(report: Report) -> pd.DataFrame:
    """Which PCRs are equal as built and after each normalization tried (rows), per PCR."""
    rows = {"as built": dict(report.pcr_equal)}
    for r in report.remedies:
        label = "(none applies)" if r.kind == "none" else f"{r.name} ({r.kind})"
        rows[label] = dict(r.pcr_equal_after)
    return pd.DataFrame.from_dict(rows, orient="index").astype(bool)


def packages(pa: Iterable[object], pb: Iterable[object]) -> pd.DataFrame:
    """The packages of both images side by side, with a status (same, changed, added,
    removed)."""
    def table(pkgs: Iterable[object]) -> pd.DataFrame:
        rows = [{"ramdisk": p.ramdisk, "ecosystem": p.ecosystem, "name": p.name,  # type: ignore
                 "version": p.version} for p in pkgs]  # type: ignore[attr-defined]
        df = pd.DataFrame(rows, columns=["ramdisk", "ecosystem", "name", "version"])
        return df.groupby(["ramdisk", "ecosystem", "name"], as_index=False)["version"].agg(
            lambda v: ", ".join(sorted(set(v))))

    df = table(pa).merge(table(pb), on=["ramdisk", "ecosystem", "name"], how="outer",
                         suffixes=("_a", "_b"))
    df["status"] = "same"
    df.loc[df["version_a"].isna(), "status"] = "added"
    df.loc[df["version_b"].isna(), "status"] = "removed"
    df.loc[df["version_a"].notna() & df["version_b"].notna()
           & (df["version_a"] != df["version_b"]), "status"] = "changed"
    return df.sort_values(["ramdisk", "ecosystem", "name"]).reset_index(drop=True)
