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
    "#6b6ecf", "#eeca3b", "#2ca02c", "#d62728", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f",
    "#393b79", "#9aa5b1"], strict=True))


MIB = 1 << 20


def _log_if_wide(ax: Axes, values: list[int], axis: str = "x") -> None:
    """A log scale when the counts span two orders of magnitude or more."""
    positive = [v for v in values if v > 0]
    if positive and max(positive) >= 100 * min(positive):
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def _label_bars(ax: Axes, values: list[int], ys: list[int]) -> None:
    for y, v in zip(ys, values, strict=True):
        ax.annotate(f"{v:,}", (v, y), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize=8)


def category_counts(report: Report) -> Figure:
    """Rows by category (cause rows and derived) and by layer, with the count on each bar and a
    log scale when the counts span orders of magnitude (a one-row category stays visible)."""
    s = report.summary()
    fig = Figure(figsize=(10, 0.9 + 0.3 * max(len(s["by_category"]), len(s["by_layer"]), 3)),
                 layout="constrained")
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[3, 2])
    for ax, counts, title, colours in (
            (ax1, s["by_category"], "rows by category",
             {c: DERIVED if c == "derived" else CAUSE for c in s["by_category"]}),
            (ax2, s["by_layer"], "rows by layer", dict.fromkeys(s["by_layer"], "#4c78a8"))):
        names = list(counts)
        values = [counts[c] for c in names]
        ys = list(range(len(names)))
        ax.barh(ys, values, color=[colours[c] for c in names])
        ax.set_yticks(ys, names)
        ax.invert_yaxis()
        _log_if_wide(ax, values)
        _label_bars(ax, values, ys)
        if values:
            ax.set_xlim(right=max(values) * (4 if ax.get_xscale() == "log" else 1.2))
        ax.set_title(title)
        ax.set_xlabel("rows" + (" (log scale)" if ax.get_xscale() == "log" else ""))
        _empty_note(ax, not names)
    return fig


def _empty_note(ax: Axes, empty: bool, text: str = "no divergences") -> None:
    if empty:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes,
                color="#52606d")


def divergence_map(report: Report) -> Figure:
    """Where in the file: each divergence at side a's offset (MiB) on its section's lane,
    coloured by category, one scatter call per category; the rarest categories are drawn last
    and larger, so thousands of common rows never hide a rare one. Rows whose offsets index a
    decompressed stream sit at their section's start (their file offset is not known)."""
    sections = list(report.a.sections)
    fig = Figure(figsize=(10, 1.2 + 0.45 * max(len(sections) + 1, 2)), layout="constrained")
    ax = fig.subplots()
    for lane, s in enumerate(sections):
        ax.broken_barh([(s.offset / MIB, max(s.size, 1) / MIB)], (lane - 0.3, 0.6),
                       color="#eef1f4", edgecolor="#c8ced6")
    lanes = {s.name: (i, s.offset) for i, s in enumerate(sections)}
    points: dict[str, tuple[list[float], list[int]]] = {}
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
        xs.append(x / MIB)
        ys.append(lane)
    for category, (xs, ys) in sorted(points.items(), key=lambda kv: -len(kv[1][0])):
        rare = len(xs) <= 20
        ax.scatter(xs, ys, s=60 if rare else 14, marker="D" if rare else "o",
                   color=PALETTE[category], label=f"{category} ({len(xs):,})",
                   edgecolors="#212529" if rare else "none", linewidths=0.6,
                   zorder=4 if rare else 3, rasterized=len(xs) > 2000)
    ax.set_yticks([-1, *range(len(sections))], ["EIF header", *[s.name for s in sections]])
    ax.set_ylim(len(sections) - 0.4, -1.6)
    ax.set_xlabel("offset in file a (MiB)")
    ax.set_title("where the divergences are (rarest categories drawn on top, as diamonds)")
    if points:
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles[::-1], labels[::-1], loc="upper left", bbox_to_anchor=(1.0, 1.0),
                  fontsize=8, title="category (rows)", title_fontsize=8)
    else:
        ax.text(0.5, 1.02, "no divergences with file offsets", ha="center", va="bottom",
                transform=ax.transAxes, color="#52606d")
    return fig


def clock_offsets(report: Report) -> list[tuple[str, int]]:
    """Per CPIO entry with an mtime row: its ramdisk and b's mtime minus a's (seconds), from the
    report's rows (cause and derived)."""
    return [(d.section, d.b - d.a) for d in report.divergences
            if d.layer == "cpio-entry" and d.field == "mtime"
            and isinstance(d.a, int) and isinstance(d.b, int)]


def _robust_range(values: list[int]) -> tuple[int, int]:
    """The range holding the middle of the values: quartiles widened by three times their gap,
    so a few entries at mtime 0 do not stretch the axis to 1970."""
    v = sorted(values)
    q1, q3 = v[len(v) // 4], v[(3 * len(v)) // 4]
    gap = max(q3 - q1, 1)
    lo, hi = max(v[0], q1 - 3 * gap), min(v[-1], q3 + 3 * gap)
    return lo, hi


def _outliers(n: int) -> str:
    return f" ({n:,} outlier{'s' if n != 1 else ''} off the axis)" if n else ""


def build_clock(report: Report) -> Figure:
    """The build-clock figure: left, per entry, b's mtime minus a's (a histogram, outliers
    counted in the title, the median offset labelled); right, both builds' windows on a UTC
    time axis that ignores outliers, with the offset between them labelled."""
    import statistics

    import matplotlib.dates as mdates

    offsets = [x for _, x in clock_offsets(report)]
    fig = Figure(figsize=(11, 3.4 if offsets else 1.4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1, 1])
    if not offsets:
        _empty_note(ax1, True, "no entry mtime differs")
        _empty_note(ax2, True, "no build windows to compare")
        ax1.set_title("b's mtime minus a's")
        ax2.set_title("build windows (UTC)")
        return fig
    median = int(statistics.median(offsets))
    lo, hi = _robust_range(offsets)
    inside = [x for x in offsets if lo <= x <= hi]
    outside = len(offsets) - len(inside)
    bins = min(60, max(1, hi - lo + 1))
    ax1.hist(inside, bins=bins, range=(lo - 0.5, hi + 0.5), color="#4c78a8")
    ax1.axvline(median, color="#d9480f", lw=1.5)
    ax1.annotate(f"median offset {median:+,d} s", (median, 1), xycoords=("data", "axes fraction"),
                 xytext=(4, -14), textcoords="offset points", color="#d9480f", fontsize=9,
                 fontweight="bold")
    ax1.set_xlabel("b's mtime minus a's (seconds)")
    ax1.set_ylabel("entries")
    ax1.set_title(f"per entry: {len(offsets):,} entries" + _outliers(outside), fontsize=10)
    ax1.yaxis.get_major_locator().set_params(integer=True)
    facts = next((r.facts for r in report.root_causes
                  if r.kind == "build-clock" and "window_a_start" in r.facts
                  and 2 * int(r.facts.get("near", 0)) >= int(r.facts.get("near", 0))
                  + int(r.facts.get("others", 0))), None)
    ax2.set_title("build windows (UTC), entries near the median offset", fontsize=10)
    clamp = next((r for r in report.root_causes if r.kind == "clamp"), None)
    if facts:
        title = f"Build clock: b's files are {median:+,d} s from a's (median)"
    elif clamp is not None:
        title = f"Clamped mtimes: {clamp.title}"
    else:
        title = (f"Unclamped mtimes: b's minus a's from {min(offsets):+,d} s to "
                 f"{max(offsets):+,d} s (median {median:+,d} s)")
    fig.suptitle(title, fontsize=11)
    if facts is None:
        _empty_note(ax2, True, "no single build window: the mtimes are clamped on one side"
                    if clamp is not None else "no single build window: the mtimes are "
                    "scattered\n(each file keeps the time its build step wrote it)")
        return fig
    windows = {side: (int(facts[f"window_{side}_start"]), int(facts[f"window_{side}_end"]))
               for side in ("a", "b")}
    for lane, (side, colour) in enumerate((("a", "#4c78a8"), ("b", "#f58518"))):
        start, end = windows[side]
        t0 = pd.Timestamp(start, unit="s")
        width = pd.Timedelta(seconds=max(end - start, 1))
        ax2.broken_barh([(mdates.date2num(t0), width / pd.Timedelta(days=1))], (lane - 0.3, 0.6),
                        color=colour)
        ax2.annotate(f"{side}: {t0:%H:%M:%S} – {pd.Timestamp(end, unit='s'):%H:%M:%S}",
                     (mdates.date2num(t0), lane + 0.3), xytext=(0, -2),
                     textcoords="offset points", ha="left", va="top", fontsize=8)
    gap = windows["b"][0] - windows["a"][0]
    ax2.annotate("", xy=(mdates.date2num(pd.Timestamp(windows["b"][0], unit="s")), 0.5),
                 xytext=(mdates.date2num(pd.Timestamp(windows["a"][0], unit="s")), 0.5),
                 arrowprops={"arrowstyle": "->", "color": "#d9480f"})
    ax2.text(0.5, 0.5, f"b starts {gap:+,d} s after a", transform=ax2.get_yaxis_transform(),
             color="#d9480f", fontsize=9, va="bottom", ha="center", fontweight="bold")
    ax2.set_yticks([0, 1], ["a", "b"])
    ax2.set_ylim(1.8, -0.5)
    first = min(w[0] for w in windows.values())
    last = max(w[1] for w in windows.values())
    pad = max((last - first) * 0.15, 5)
    ax2.set_xlim(mdates.date2num(pd.Timestamp(first - pad, unit="s")),
                 mdates.date2num(pd.Timestamp(last + pad, unit="s")))
    ax2.xaxis.set_major_formatter(mdates.DateFormatter(
        "%H:%M:%S" if last - first < 86_400 else "%m-%d %H:%M"))
    ax2.set_xlabel(f"UTC time on {pd.Timestamp(first, unit='s'):%Y-%m-%d}")
    return fig


def mtime_distribution(entries: pd.DataFrame) -> Figure:
    """Both sides' CPIO mtimes on one UTC time axis that ignores outliers (entries at mtime 0,
    say, are counted in the title instead of stretching the axis), side a above side b."""
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    values = [int(v) for side in "ab" for v in entries[f"mtime_{side}"].dropna()]
    if not values:
        _empty_note(ax1, True)
        _empty_note(ax2, True, "no entries")
        return fig
    lo, hi = _robust_range(values)
    out = 0
    for ax, side, color in ((ax1, "a", "#4c78a8"), (ax2, "b", "#f58518")):
        v = entries[f"mtime_{side}"].dropna().astype("int64")
        keep = v[(v >= lo) & (v <= hi)]
        out += len(v) - len(keep)
        if len(keep):
            ax.hist(pd.to_datetime(keep, unit="s"), bins=60, color=color,
                    range=(pd.Timestamp(lo, unit="s"), pd.Timestamp(hi + 1, unit="s")))
        ax.set_ylabel(f"{side}: entries", fontsize=9)
    ax2.set_xlabel(f"mtime (UTC, {pd.Timestamp(lo, unit='s'):%Y-%m-%d})")
    ax1.set_title("CPIO entry mtimes" + _outliers(out))
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
    ax.set_xlabel("size in b minus size in a (bytes, symmetric log scale)")
    ax.set_xscale("symlog")
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
