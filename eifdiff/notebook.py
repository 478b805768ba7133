"""The notebook API: `eifdiff.compare_eifs(a, b)` (or `eifdiff.open_report("r.json")` for a
saved report) returns a `Comparison` with tables and figures.

A comparison made from the files keeps both images open (for entry and ELF drill-down) until
`close()` or the end of a `with`; one opened from a saved report has only the rows, and the views
that read bytes say so.
"""

from __future__ import annotations

import contextlib
import os
from functools import cached_property

import pandas as pd
from matplotlib.figure import Figure

from eifdiff import display, frames, plots
from eifdiff.compare import compare_loaded, open_pair
from eifdiff.deep import DeepOptions, EntryKey, diffoscope_pair, find_member
from eifdiff.errors import EifdiffError
from eifdiff.formats.elf import ElfFacts, elf_facts, is_elf
from eifdiff.load import Limits, LoadedImage, Member
from eifdiff.report.model import Report, load_report

NEEDS_FILES = ("this view reads the EIF files, and this comparison was opened from a saved "
               "report: open the files with eifdiff.compare_eifs(a, b)")


class Comparison:
    """A report with pandas views and matplotlib figures, and, when opened from the files, the
    two images for drill-down."""

    def __init__(self, report: Report, images: tuple[LoadedImage, LoadedImage] | None = None,
                 closer: contextlib.ExitStack | None = None) -> None:
        self.report = report
        self._images = images
        self._closer = closer

    @classmethod
    def open(cls, path_a: str | os.PathLike[str], path_b: str | os.PathLike[str], *,
             deep: bool = False, remedies: bool | None = None,
             limits: Limits | None = None) -> Comparison:
        """Compare two files as the CLI does (same loading, limits and remedy defaults)."""
        stack = contextlib.ExitStack()
        try:
            a, b = stack.enter_context(open_pair(path_a, path_b, limits=limits))
            report = compare_loaded(a, b, deep=DeepOptions() if deep else None,
                                    remedies=remedies)
        except BaseException:
            stack.close()
            raise
        return cls(report, (a, b), stack)

    def _side(self, side: str) -> LoadedImage:
        if self._images is None:
            raise EifdiffError(NEEDS_FILES)
        return self._images[0] if side == "a" else self._images[1]

    @property
    def a(self) -> LoadedImage:
        return self._side("a")

    @property
    def b(self) -> LoadedImage:
        return self._side("b")

    # --- summary -------------------------------------------------------------------------
    @property
    def verdict(self) -> str:
        return self.report.verdict

    def summary(self) -> pd.DataFrame:
        """Both files: path, size, sha256, architecture, and the verdict."""
        rows = [{"side": s, "path": f.path, "size": f.size, "sha256": f.sha256, "arch": f.arch}
                for s, f in (("a", self.report.a), ("b", self.report.b))]
        df = pd.DataFrame(rows).set_index("side")
        df.attrs["verdict"] = self.verdict
        return df

    def pcrs(self) -> pd.DataFrame:
        """PCR table: equal, both values, the sections each measures, the causes moving it."""
        return frames.pcr_table(self.report)

    def sections(self) -> pd.DataFrame:
        return frames.sections(self.report)

    # --- divergences -----------------------------------------------------------------------
    def answer(self) -> display.Html:
        """The first answer: verdict, the PCRs that differ, the root causes and their fixes."""
        return display.verdict_html(self.report)

    def root_causes(self) -> pd.DataFrame:
        """One row per root cause (PCR-moving first, then rarest): title, rows, evidence, fix."""
        return frames.root_causes(self.report)

    @cached_property
    def _divergences(self) -> pd.DataFrame:
        return frames.divergences(self.report.divergences)

    def divergences(self, category: str | None = None, *, causes_only: bool = False,
                    root_cause: str | None = None) -> pd.DataFrame:
        """Every row; `category`, `causes_only` (no derived rows) and `root_cause` (an id such
        as `rc1`: its cause rows and the rows derived from it) filter."""
        df = self._divergences
        if category is not None:
            df = df[df["category"] == category]
        if causes_only:
            df = df[df["cause"]]
        if root_cause is not None:
            df = df[df["group"] == root_cause]
        return df

    def grouped(self, df: pd.DataFrame | None = None, rows: int = display.ROWS
                ) -> display.Grouped:
        """A divergence table (default: every row) grouped by root cause with counts, the first
        `rows` rows of each and "and N more like these"."""
        return display.Grouped(self.divergences() if df is None else df, self.report, rows)

    def by_root_cause(self, df: pd.DataFrame | None = None) -> pd.DataFrame:
        """Counts of a divergence table (default: every row) per root cause."""
        return frames.by_root_cause(self.divergences() if df is None else df, self.report)

    def table(self, df: pd.DataFrame, *, shade: str | None = None, when: object = False,
              colour: str = display.RED, limit: int = 200, caption: str = "",
              index: bool = False) -> display.Table:
        """Any DataFrame as a readable table: at most `limit` rows, integers as integers,
        `_a`/`_b` pairs shaded where they differ, rows shaded where `shade` equals `when`
        (`index=True` shows the index as columns)."""
        return display.Table(df, display.shade_where(shade, colour, when) if shade else None,
                             limit=limit, caption=caption, index=index)

    def categories(self) -> pd.DataFrame:
        """Counts by category and layer (causes and derived)."""
        df = frames.divergences(self.report.divergences)
        return df.groupby(["category", "layer"], observed=True).size().rename("rows").reset_index()

    # --- entries (read from the files) ---------------------------------------------------------
    @cached_property
    def _entries(self) -> pd.DataFrame:
        return frames.entries(self.a, self.b)

    def entries(self, status: str | None = None) -> pd.DataFrame:
        """Every CPIO entry side by side; `status` filters: same, changed, moved, added,
        removed (`differs` names the fields that differ, `content` when the bytes do; `moved`
        is `frames.moved_mask`'s one definition)."""
        df = self._entries
        return df[df["status"] == status] if status else df

    def entry_counts(self) -> pd.DataFrame:
        """Entries per ramdisk and status, and how many moved (one definition of moved)."""
        df = self._entries
        counts = df.groupby(["ramdisk", "status"]).size().unstack(fill_value=0)
        counts = counts.reindex(columns=["same", "changed", "moved", "added", "removed"],
                                fill_value=0)
        counts["moved (any status)"] = df.groupby("ramdisk")["moved"].sum().astype(int)
        counts["content differs"] = df.groupby("ramdisk")["differs"].agg(
            lambda s: int(s.str.contains("content").sum()))
        return counts

    def changed_files(self) -> pd.DataFrame:
        """The entries whose content (not just a header field) differs, from the report's rows:
        ramdisk, entry, occurrence, root cause, the fields and categories of their rows."""
        return frames.changed_files(self.report.divergences)

    def file(self, entry: str, section: str | None = None, occurrence: int = 0, *,
             deep: bool = False, timeout: float = 60.0) -> object:
        """The drill-down of one entry (either side may lack it): header fields side by side,
        then the ELF section table, a text diff, or the differing byte ranges as a hexdump;
        `deep=True` adds diffoscope's view. `section` defaults to the ramdisk holding it."""
        from eifdiff.drill import file_view

        sections = [section] if section else self.ramdisks()[::-1]
        for s in sections:
            ma = find_member(self._side("a"), (s, entry, occurrence))
            mb = find_member(self._side("b"), (s, entry, occurrence))
            if ma is not None or mb is not None:
                text = ""
                if deep and ma is not None and mb is not None:
                    text = diffoscope_pair(entry, ma.data, mb.data, timeout)
                return file_view(f"{s}:{entry}", ma, mb, text)
        raise EifdiffError(f"no entry {entry!r} in {section or 'any ramdisk'} of either side")

    def ramdisks(self) -> list[str]:
        """Names of the ramdisks (`ramdisk[0]`, ...), from the report's section map."""
        return [s.name for s in self.report.a.sections if s.name.startswith("ramdisk")]

    def order(self, ramdisk: str | None = None) -> pd.DataFrame:
        """Archive positions of the common entries of one ramdisk (default: the last one, the
        application's) on both sides."""
        ramdisk = ramdisk or (self.ramdisks() or ["ramdisk[0]"])[-1]
        df = self._entries
        df = df[(df["ramdisk"] == ramdisk) & df["index_a"].notna() & df["index_b"].notna()]
        out = df[["name", "index_a", "index_b", "moved"]].astype({"index_a": int,
                                                                 "index_b": int})
        return out.sort_values("index_a")

    # --- binaries ----------------------------------------------------------------------------
    def member(self, section: str, entry: str, occurrence: int = 0, side: str = "a") -> Member:
        """The entry named `entry` (its `occurrence`-th, for duplicate names) in the ramdisk
        `section` of side a or b."""
        found = find_member(self._side(side), (section, entry, occurrence))
        if found is None:
            raise EifdiffError(f"{side}: no entry {entry!r} in {section}")
        return found

    def elf_entries(self) -> list[EntryKey]:
        """(ramdisk, entry, occurrence) of the entries with ELF-level rows that are ELF files
        on both sides."""
        self._side("a")  # reads the files
        keys = dict.fromkeys((d.section, d.entry, d.occurrence) for d in self.report.divergences
                             if d.layer == "elf" and d.entry is not None)
        return [k for k in keys if is_elf(self.member(*k).data)]

    def elf_facts(self, section: str, entry: str, occurrence: int = 0
                  ) -> tuple[ElfFacts, ElfFacts]:
        return (elf_facts(self.member(section, entry, occurrence, "a").data),
                elf_facts(self.member(section, entry, occurrence, "b").data))

    def elf_sections(self, section: str, entry: str, occurrence: int = 0) -> pd.DataFrame:
        return frames.elf_sections(*self.elf_facts(section, entry, occurrence))

    def binaries(self) -> pd.DataFrame:
        """Per divergent ELF entry: build-ids, build directories, compilers, sections differing."""
        return frames.elf_summary([(k[1], *self.elf_facts(*k)) for k in self.elf_entries()])

    def deep(self, section: str, entry: str, occurrence: int = 0, timeout: float = 60.0) -> str:
        """diffoscope's text for one entry (written to a private temporary folder)."""
        ma = self.member(section, entry, occurrence, "a")
        mb = self.member(section, entry, occurrence, "b")
        return diffoscope_pair(ma.entry.name, ma.data, mb.data, timeout)

    # --- remedies ----------------------------------------------------------------------------
    def remedies(self) -> pd.DataFrame:
        """One row per normalization tried: PCRs after, whether it fixes the pair."""
        return frames.remedies(self.report)

    def remedies_note(self) -> str:
        """Why no remedies were computed (large images), or empty."""
        return self.report.remedies_note

    def remaining(self) -> pd.DataFrame:
        """What no normalization removes, with an example and the usual fix."""
        return frames.remaining(self.report)

    def remedy_grid(self) -> pd.DataFrame:
        """PCR equality as built and after each normalization."""
        return frames.remedy_grid(self.report)

    # --- packages ----------------------------------------------------------------------------
    @cached_property
    def _packages(self) -> tuple[list, list]:
        from eifdiff.packages.inventory import inventory

        return inventory(self.a), inventory(self.b)

    def packages(self, status: str | None = None) -> pd.DataFrame:
        """Every package of both images side by side; `status`: same, changed, added,
        removed (reads the files)."""
        df = frames.packages(*self._packages)
        return df[df["status"] == status] if status else df

    def package_changes(self) -> pd.DataFrame:
        """The packages whose version differs (from the report)."""
        return pd.DataFrame([c.to_dict() for c in self.report.package_changes],
                            columns=["ecosystem", "name", "a", "b", "ramdisk", "kind"])

    def warnings(self) -> pd.DataFrame:
        """Known-bad package versions and inconsistencies found on either side."""
        return pd.DataFrame([{"kind": w.kind, "side": w.side, "message": w.message,
                              "ecosystem": w.ecosystem, "name": w.name, "version": w.version,
                              "advisory": w.advisory, "ramdisk": w.ramdisk}
                             for w in self.report.warnings],
                            columns=["kind", "side", "message", "ecosystem", "name", "version",
                                     "advisory", "ramdisk"])

    def divergences_by_package(self) -> pd.DataFrame:
        """Cause rows about files, counted per owning package and category."""
        df = self.divergences(causes_only=True)
        df = df[df["entry"].notna()]
        df = df.assign(package=df["package"].fillna("(no package)"))
        return (df.groupby(["package", "category"], observed=True).size().rename("rows")
                .reset_index().sort_values("rows", ascending=False))

    # --- figures -----------------------------------------------------------------------------
    def plot_categories(self) -> Figure:
        return plots.category_counts(self.report)

    def plot_map(self) -> Figure:
        return plots.divergence_map(self.report)

    def plot_clock(self) -> Figure:
        """Per entry, b's mtime minus a's, and both builds' windows on a UTC axis (from the
        report's rows: works on a saved report too)."""
        return plots.build_clock(self.report)

    def plot_mtimes(self) -> Figure:
        return plots.mtime_distribution(self._entries)

    def plot_size_deltas(self, top: int = 30) -> Figure:
        return plots.size_deltas(self._entries, top)

    def plot_remedies(self) -> Figure:
        return plots.remedy_grid(self.remedy_grid())

    def plot_packages(self) -> Figure:
        return plots.package_changes(self.packages())

    # --- lifetime ----------------------------------------------------------------------------
    def close(self) -> None:
        if self._closer is not None:
            self._closer.close()
            self._closer = None

    def __enter__(self) -> Comparison:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Comparison({self.report.a.path!r}, {self.report.b.path!r}): {self.verdict}, "
                f"{len(self.report.root_causes)} root causes, {len(self.report.divergences)} rows")


def compare_eifs(path_a: str | os.PathLike[str], path_b: str | os.PathLike[str], *,
                 deep: bool = False, remedies: bool | None = None,
                 limits: Limits | None = None) -> Comparison:
    """Open both EIFs, compare them as the CLI does, and return the notebook view."""
    return Comparison.open(path_a, path_b, deep=deep, remedies=remedies, limits=limits)


def open_report(path: str | os.PathLike[str]) -> Comparison:
    """The notebook view of a JSON report saved by `eifdiff A B --json` (no EIF files
    needed; the views that read bytes say so)."""
    return Comparison(load_report(os.fspath(path)))
