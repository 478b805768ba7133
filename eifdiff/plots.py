"""matplotlib figures of a comparison. Each function returns a Figure and draws nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from matplotlib.figure import Figure

from eifdiff.report.model import Report
from eifdiff.rules import CATEGORIES

if TYPE_CHECKING:
    from matplotlib.axes import Axes

CAUSE, DERIVED = "#d9822b", "#9aa5b1"
PALETTE = dict(zip(CATEGORIES, [
    "#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d",
    "#eeca3b", "#2ca02c", "#d62728", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f", "#393b79",
    "#9aa5b1"], strict=True))


def category_counts(report: Report) -> Figure:
    """Two bar charts: divergences by category (causes vs derived) and by layer."""
    s = report.summary()
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[3, 2])
    cats = list(s["by_category"])
    ax1.barh(cats, [s["by_category"][c] for c in cats],
             color=[DERIVED if c == "derived" else CAUSE for c in cats])
    ax1.invert_yaxis()
    ax1.set_title("divergences by category")
    ax1.set_xlabel("rows")
    layers = list(s["by_layer"])
    ax2.barh(layers, [s["by_layer"][x] for x in layers], color="#4c78a8")
    ax2.invert_yaxis()
    ax2.set_title("by layer")
    ax2.set_xlabel("rows")
    _empty_note(ax1, not cats)
    _empty_note(ax2, not layers)
    return fig


def _empty_note(ax: Axes, empty: bool, text: str = "no divergences") -> None:
    if empty:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes,
                color="#52606d")


def divergence_map(report: Report) -> Figure:
    """Where in the file: each divergence (side a's offset) on its section's span, one lane per
    section, coloured by category, one scatter call per category. Rows whose offsets index a
    decompressed stream sit at their section's start (their file offset is not known)."""
    sections = list(report.a.sections)
    fig = Figure(figsize=(10, 0.6 + 0.5 * max(len(sections), 1)), layout="constrained")
    ax = fig.subplots()
    for lane, s in enumerate(sections):
        ax.broken_barh([(s.offset, s.size + 12)], (lane - 0.3, 0.6), color="#eef1f4",
                       edgecolor="#c8ced6")
    lanes = {s.name: (i, s.offset) for i, s in enumerate(sections)}
    points: dict[str, tuple[list[int], list[int]]] = {}
    for d in report.divergences:
        if d.offset_a is None:
            continue
        if d.section in lanes:
            lane, start = lanes[d.section]
            x = d.offset_a if d.stream_a is None else start
        elif d.layer == "eif-header":
            lane, x = -1, d.offset_a
        else:
            continue
        xs, ys = points.setdefault(d.category, ([], []))
        xs.append(x)
        ys.append(lane)
    for category, (xs, ys) in points.items():
        ax.scatter(xs, ys, s=18, color=PALETTE[category], label=f"{category} ({len(xs):,})",
                   zorder=3)
    ax.set_yticks([-1, *range(len(sections))], ["header", *[s.name for s in sections]])
    ax.set_xlabel("file offset in a (bytes)")
    ax.set_title("where the divergences are")
    if points:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    else:
        ax.text(0.5, 1.02, "no divergences with file offsets", ha="center", va="bottom",
                transform=ax.transAxes, color="#52606d")
    return fig


def mtime_distribution(entries: pd.DataFrame) -> Figure:
    """Histogram of the CPIO mtimes of both sides (from `frames.entries`)."""
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax = fig.subplots()
    for side, color in (("a", "#4c78a8"), ("b", "#f58518")):
        times = pd.to_datetime(entries[f"mtime_{side}"].dropna(), unit="s")
        if len(times):
            ax.hist(times, bins=40, alpha=0.55, color=color, label=f"{side} ({len(times)})")
    ax.set_title("CPIO entry mtimes")
    ax.set_ylabel("entries")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    _empty_note(ax, entries.empty)
    return fig


def size_deltas(entries: pd.DataFrame, top: int = 30) -> Figure:
    """Entries whose size changed (or that were added or removed), largest change first."""
    df = entries.assign(delta=entries["filesize_b"].fillna(0) - entries["filesize_a"].fillna(0))
    df = df[df["delta"] != 0]
    df = df.loc[df["delta"].abs().sort_values(ascending=False).index].head(top)
    fig = Figure(figsize=(9, 0.8 + 0.28 * max(len(df), 1)), layout="constrained")
    ax = fig.subplots()
    if len(df):
        labels = [f"{r}:{n}" for r, n in zip(df["ramdisk"], df["name"], strict=True)]
        ax.barh(labels, df["delta"].to_numpy(),
                color=["#54a24b" if v > 0 else "#e45756" for v in df["delta"]])
        ax.invert_yaxis()
    ax.set_xlabel("size in b minus size in a (bytes)")
    ax.set_title("per-entry size changes")
    _empty_note(ax, df.empty, "no entry changed size")
    return fig


def remedy_grid(grid: pd.DataFrame) -> Figure:
    """Green where a PCR is equal, red where it differs: as built and after each normalization
    (from `frames.remedy_grid`)."""
    from matplotlib.colors import ListedColormap

    fig = Figure(figsize=(2.5 + 1.1 * max(grid.shape[1], 1), 1.0 + 0.45 * len(grid)),
                 layout="constrained")
    ax = fig.subplots()
    if grid.shape[1]:
        ax.imshow(grid.to_numpy(dtype=float), cmap=ListedColormap(["#f4b4b4", "#b5e0b5"]),
                  vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(grid.shape[1]), list(grid.columns))
        ax.set_yticks(range(len(grid)), list(grid.index))
        for i, row in enumerate(grid.itertuples(index=False)):
            for j, eq in enumerate(row):
                ax.text(j, i, "=" if eq else "≠", ha="center", va="center", fontsize=13)
    ax.set_title("PCRs equal after normalizing both images")
    return fig


def package_changes(packages: pd.DataFrame) -> Figure:
    """Packages per ecosystem by status (same, changed, added, removed), from
    `frames.packages`."""
    fig = Figure(figsize=(8, 3), layout="constrained")
    ax = fig.subplots()
    if len(packages):
        counts = packages.groupby(["ecosystem", "status"]).size().unstack(fill_value=0)
        colours = {"same": "#c8ced6", "changed": "#d9822b", "added": "#54a24b",
                   "removed": "#e45756"}
        left = pd.Series(0, index=counts.index)
        for status in ("same", "changed", "added", "removed"):
            if status in counts:
                ax.barh(list(counts.index), counts[status], left=left, color=colours[status],
                        label=status)
                left = left + counts[status]
        ax.legend(fontsize=8)
        ax.set_xlabel("packages")
    _empty_note(ax, packages.empty, "no package database found")
    ax.set_title("packages by ecosystem")
    return fig
