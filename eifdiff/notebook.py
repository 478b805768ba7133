"""The notebook API: `eifdiff.compare_eifs(a, b)` returns a `Comparison` with tables and figures.

Keeps both images open (for entry and ELF drill-down) until `close()` or the end of a `with`.
"""

from __future__ import annotations

import os
from functools import cached_property

import pandas as pd
from matplotlib.figure import Figure

from eifdiff import frames, plots
from eifdiff.compare import Report, compare_loaded
from eifdiff.deep import DeepOptions, diffoscope_pair
from eifdiff.errors import EifdiffError
from eifdiff.formats.elf import ElfFacts, elf_facts, is_elf
from eifdiff.load import LoadedImage, Member, load


class Comparison:
    """Two opened EIFs and their report, with pandas views and matplotlib figures."""

    def __init__(self, path_a: str | os.PathLike[str], path_b: str | os.PathLike[str], *,
                 deep: bool = False, remedies: bool = True) -> None:
        self.a: LoadedImage = load(path_a)
        try:
            self.b: LoadedImage = load(path_b)
        except BaseException:
            self.a.close()
            raise
        self.report: Report = compare_loaded(self.a, self.b, deep=DeepOptions() if deep else None,
                                             remedies=remedies)

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
    def divergences(self, category: str | None = None, *, causes_only: bool = False
                    ) -> pd.DataFrame:
        df = frames.divergences(self.report.divergences)
        if category is not None:
            df = df[df["category"] == category]
        if causes_only:
            df = df[df["cause"]]
        return df

    def categories(self) -> pd.DataFrame:
        """Counts by category and layer (causes and derived)."""
        df = frames.divergences(self.report.divergences)
        return df.groupby(["category", "layer"], observed=True).size().rename("rows").reset_index()

    # --- entries -----------------------------------------------------------------------------
    @cached_property
    def _entries(self) -> pd.DataFrame:
        return frames.entries(self.a, self.b)

    def entries(self, status: str | None = None) -> pd.DataFrame:
        """Every CPIO entry side by side; `status` filters: same, changed, moved, added,
        removed."""
        df = self._entries
        return df[df["status"] == status] if status else df

    def ramdisks(self) -> list[str]:
        """Names of the ramdisks of side a (`ramdisk[0]`, ...)."""
        return [r.name for r in self.a.ramdisks]

    def order(self, ramdisk: str | None = None) -> pd.DataFrame:
        """Archive positions of the common entries of one ramdisk (default: the last one, the
        application's) on both sides."""
        ramdisk = ramdisk or (self.ramdisks() or ["ramdisk[0]"])[-1]
        df = self._entries
        df = df[(df["ramdisk"] == ramdisk) & df["index_a"].notna() & df["index_b"].notna()]
        out = df[["name", "index_a", "index_b"]].astype({"index_a": int, "index_b": int})
        return out.assign(moved=out["index_a"] != out["index_b"]).sort_values("index_a")

    # --- binaries ----------------------------------------------------------------------------
    def member(self, path: str, side: str = "a") -> Member:
        """The entry `ramdisk[i]:name` of side a or b."""
        img = self.a if side == "a" else self.b
        ramdisk, _, name = path.partition(":")
        for r in img.ramdisks:
            if r.name == ramdisk:
                for m in r.members():
                    if m.entry.name == name:
                        return m
        raise EifdiffError(f"{side}: no entry {path}")

    def elf_entries(self) -> list[str]:
        """Paths of the entries that are ELF files on both sides and differ."""
        def entry(path: str) -> str:
            ramdisk, _, rest = path.partition(":")
            return f"{ramdisk}:{rest.split(':', 1)[0]}"

        paths = dict.fromkeys(entry(d.path) for d in self.report.divergences
                              if d.layer == "elf")
        return [p for p in paths if is_elf(self.member(p, "a").data)]

    def elf_facts(self, path: str) -> tuple[ElfFacts, ElfFacts]:
        return elf_facts(self.member(path, "a").data), elf_facts(self.member(path, "b").data)

    def elf_sections(self, path: str) -> pd.DataFrame:
        return frames.elf_sections(*self.elf_facts(path))

    def binaries(self) -> pd.DataFrame:
        """Per divergent ELF entry: build-ids, build directories, compilers, sections differing."""
        return frames.elf_summary([(p, *self.elf_facts(p)) for p in self.elf_entries()])

    def deep(self, path: str, timeout: float = 60.0) -> str:
        """diffoscope's text for one entry (written to a private temporary folder)."""
        ma, mb = self.member(path, "a"), self.member(path, "b")
        return diffoscope_pair(ma.entry.name, ma.data, mb.data, timeout)

    # --- remedies ----------------------------------------------------------------------------
    def remedies(self) -> pd.DataFrame:
        """One row per normalization tried: PCRs after, whether it fixes the pair."""
        return frames.remedies(self.report)

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
        removed."""
        df = frames.packages(*self._packages)
        return df[df["status"] == status] if status else df

    def warnings(self) -> pd.DataFrame:
        """Known-bad package versions found on either side."""
        return pd.DataFrame(list(self.report.warnings),
                            columns=["side", "ecosystem", "name", "version", "advisory",
                                     "message", "ramdisk"])

    def divergences_by_package(self) -> pd.DataFrame:
        """Cause rows about files, counted per owning package and category."""
        df = self.divergences(causes_only=True)
        df = df[df["layer"].isin(["cpio-entry", "elf"])]
        df = df.assign(package=df["package"].fillna("(no package)"))
        return (df.groupby(["package", "category"], observed=True).size().rename("rows")
                .reset_index().sort_values("rows", ascending=False))

    # --- figures -----------------------------------------------------------------------------
    def plot_categories(self) -> Figure:
        return plots.category_counts(self.report)

    def plot_map(self) -> Figure:
        return plots.divergence_map(self.report)

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
        self.a.close()
        self.b.close()

    def __enter__(self) -> Comparison:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Comparison({self.report.a.path!r}, {self.report.b.path!r}): {self.verdict}, "
                f"{len(self.report.causes)} causes")


def compare_eifs(path_a: str | os.PathLike[str], path_b: str | os.PathLike[str], *,
                 deep: bool = False, remedies: bool = True) -> Comparison:
    """Open both EIFs, compare them, and return the notebook view."""
    return Comparison(path_a, path_b, deep=deep, remedies=remedies)
