"""pandas views of a comparison: one DataFrame per question a notebook asks.

Pure conversions from records the engine already made; nothing here parses bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from eifdiff.compare import Report
from eifdiff.formats.elf import ElfFacts
from eifdiff.load import LoadedImage
from eifdiff.records import CATEGORIES, Divergence

ENTRY_FIELDS = ("kind", "filesize", "mode", "uid", "gid", "mtime", "ino", "nlink", "devmajor",
                "devminor", "header_offset")


def divergences(rows: Iterable[Divergence]) -> pd.DataFrame:
    """One row per divergence, columns as in the JSON report; `pcrs` joined with commas."""
    records = [d.to_dict() for d in rows]
    df = pd.DataFrame.from_records(records, columns=[
        "path", "layer", "field", "a", "b", "offset_a", "offset_b", "length", "category", "pcrs",
        "hint", "package"])
    df["pcrs"] = df["pcrs"].map(lambda p: ",".join(p) if isinstance(p, list) else p)
    df["category"] = pd.Categorical(df["category"], categories=CATEGORIES)
    df["cause"] = df["category"] != "derived"
    return df


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
    a = pd.DataFrame(report.a.sections).add_suffix("_a").rename(columns={"name_a": "section"})
    b = pd.DataFrame(report.b.sections).add_suffix("_b").rename(columns={"name_b": "section"})
    df = a.merge(b, on="section", how="outer")
    feeds = {s: ",".join(p for p, names in report.a.pcr_inputs.items() if s in names)
             for s in df["section"]}
    df["feeds"] = df["section"].map(feeds)
    return df


def _entries(img: LoadedImage) -> pd.DataFrame:
    rows = []
    for r in img.ramdisks:
        for i, m in enumerate(r.members()):
            e = m.entry
            rows.append({"ramdisk": r.name, "name": e.name, "index": i,
                         **{f: getattr(e, f) for f in ENTRY_FIELDS}})
    return pd.DataFrame(rows, columns=["ramdisk", "name", "index", *ENTRY_FIELDS])


def entries(a: LoadedImage, b: LoadedImage) -> pd.DataFrame:
    """Every CPIO entry of both images side by side (`_a`/`_b` columns), with a `status`
    (same, changed, added, removed) and the list of fields that differ."""
    ea, eb = _entries(a), _entries(b)
    df = ea.merge(eb, on=["ramdisk", "name"], how="outer", suffixes=("_a", "_b"),
                  indicator=True)
    compared = ("kind", "filesize", "mode", "uid", "gid", "mtime", "ino", "nlink", "devmajor",
                "devminor", "index")

    def changed(row: pd.Series) -> str:
        return ",".join(f for f in compared if row[f"{f}_a"] != row[f"{f}_b"])

    df["differs"] = df.apply(changed, axis=1) if len(df) else pd.Series(dtype=str)
    df["status"] = df["_merge"].map({"both": "same", "left_only": "removed",
                                     "right_only": "added"}).astype(str)
    df.loc[(df["status"] == "same") & (df["differs"].str.replace("index", "") != ""),
           "status"] = "changed"
    df.loc[(df["status"] == "same") & (df["differs"] == "index"), "status"] = "moved"
    for f in ("mode_a", "mode_b"):
        df[f] = df[f].map(lambda m: f"{int(m):06o}" if pd.notna(m) else m)
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
    return pd.DataFrame(rows)


def remedies(report: Report) -> pd.DataFrame:
    """The counterfactual PCRs: one row per normalization (or combination) tried."""
    rows = []
    for r in report.remedies:
        row = {"normalization": r.name or "(none applies)", "kind": r.kind, "fixes": r.fixes,
               "identical files": r.identical_after}
        for k, eq in r.pcr_equal_after.items():
            row[f"{k} equal"] = eq
            row[f"{k} a"] = r.pcrs_after["a"].get(k)
            row[f"{k} b"] = r.pcrs_after["b"].get(k)
        row["remaining"] = "; ".join(f"{x['category']} ({x['count']})" for x in r.remaining)
        row["note"] = r.note
        rows.append(row)
    return pd.DataFrame(rows)
