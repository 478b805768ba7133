"""Figures that carry evidence: the build clock with its offset labelled, a time axis that
ignores outliers, a section map that draws thousands of rows in one call per category and never
hides a rare one, and counts with labels and a log scale when they span orders of magnitude."""

from __future__ import annotations

import dataclasses
import statistics

import matplotlib.dates as mdates
import pandas as pd
import pytest
from matplotlib.collections import PathCollection

from eifdiff import plots
from eifdiff.notebook import Comparison, compare_eifs
from eifdiff.records import Divergence
from eifdiff.report.model import Report
from tests.helpers import within_cpu
from tests.view_pairs import START, clock_pair


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> Comparison:
    a, b = clock_pair(tmp_path_factory.mktemp("clock"))
    with compare_eifs(a, b) as c:
        c.entries()
        yield c


def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [
        c.get_text() for ax in fig.axes for c in ax.get_children() if hasattr(c, "get_text")]


def test_build_clock_labels_the_median_mtime_difference(comparison: Comparison) -> None:
    report = comparison.report
    median = statistics.median(d.b - d.a for d in report.divergences if d.field == "mtime")
    fig = comparison.plot_clock()
    assert f"median offset {int(median):+,d} s" in _texts(fig)
    assert fig._suptitle.get_text() == f"Build clock: b's files are {int(median):+,d} s from " \
        "a's (median)"
    ax1, ax2 = fig.axes
    assert ax1.get_xlabel() == "b's mtime minus a's (seconds)"
    assert ax2.get_xlabel().startswith("UTC time on 2026-11-29")
    # both windows drawn, one lane each, on a time axis around them (not back to 1970)
    lo, hi = (mdates.num2date(x).timestamp() for x in ax2.get_xlim())
    assert START - 600 < lo < START < START + 173 < hi < START + 600
    facts = next(r.facts for r in report.root_causes if r.kind == "build-clock")
    gap = int(facts["window_b_start"]) - int(facts["window_a_start"])
    assert f"b starts {gap:+,d} s after a" in _texts(fig)


def test_mtime_axis_ignores_outliers(comparison: Comparison) -> None:
    entries = comparison.entries()
    assert (entries["mtime_a"] == 0).sum() == 3  # three entries at 1970 on each side
    fig = comparison.plot_mtimes()
    ax1, ax2 = fig.axes
    lo, hi = (mdates.num2date(x).timestamp() for x in ax1.get_xlim())
    assert lo > START - 3600 and hi < START + 3600
    values = pd.concat([entries["mtime_a"], entries["mtime_b"]]).dropna()
    far = int(((values < START - 3600) | (values > START + 3600)).sum())
    assert far >= 6  # the six mtime-0 entries, and the boot ramdisk's
    assert f"({far} outliers off the axis)" in ax1.get_title()
    assert ax2.get_xlabel() == "mtime (UTC, 2026-11-29)"
    assert ax1.patches and ax2.patches  # both sides have bars, in separate rows


def _many_rows(report: Report, n: int) -> Report:
    base = next(d for d in report.divergences if d.field == "mtime")
    rare = next(d for d in report.divergences if d.category == "content")
    rows = [dataclasses.replace(base, offset_a=(base.offset_a or 0) + 110 * i)
            for i in range(n)]
    return dataclasses.replace(report, divergences=(*rows, rare))


def test_map_draws_20k_rows_in_one_call_per_category_under_3_s(comparison: Comparison) -> None:
    report = _many_rows(comparison.report, 20_000)
    with within_cpu(3, "drawing 20,000 rows"):
        fig = plots.divergence_map(report)
        fig.savefig(__import__("io").BytesIO(), format="png")
    (ax,) = fig.axes
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(scatters) == 2
    common, rare = sorted(scatters, key=lambda c: -len(c.get_offsets()))
    assert len(common.get_offsets()) == 20_000 and len(rare.get_offsets()) == 1
    assert rare.get_zorder() > common.get_zorder()  # drawn on top
    assert rare.get_sizes()[0] > common.get_sizes()[0]
    assert ax.get_xlabel() == "offset in file a (MiB)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "content (1)" and labels[1] == "timestamp (20,000)"


def test_category_counts_log_scale_and_labels(comparison: Comparison) -> None:
    report = _many_rows(comparison.report, 5_000)
    fig = plots.category_counts(report)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "rows (log scale)"
    values = [t.get_text() for t in ax.texts]
    assert "1" in values and "5,000" in values
    small = plots.category_counts(comparison.report)
    assert small.axes[0].get_xscale() in ("linear", "log")


def test_empty_report_figures_say_so() -> None:
    report = Report(a=None, b=None, verdict="identical", pcr_equal={},  # type: ignore[arg-type]
                    divergences=(), anomalies=())
    fig = plots.build_clock(report)
    assert "no entry mtime differs" in _texts(fig)
    fig = plots.mtime_distribution(pd.DataFrame({"mtime_a": [], "mtime_b": []}))
    assert fig.axes


def test_scattered_mtimes_draw_no_window(comparison: Comparison) -> None:
    rows = tuple(dataclasses.replace(d, b=d.a + 3600 * (i % 20) + 60)
                 if d.field == "mtime" else d for i, d in enumerate(comparison.report.divergences))
    rcs = tuple(dataclasses.replace(r, facts={**r.facts, "near": 5, "others": 115})
                if r.kind == "build-clock" else r for r in comparison.report.root_causes)
    report = dataclasses.replace(comparison.report, divergences=rows, root_causes=rcs)
    fig = plots.build_clock(report)
    assert fig._suptitle.get_text().startswith("Unclamped mtimes")
    assert any("no single build window" in t for t in _texts(fig))


def test_divergence_row_kinds_are_declared() -> None:
    with pytest.raises(ValueError):
        Divergence("ramdisk[1]", "cpio-entry", "mtime", 1, 2, "content")


def test_clamped_mtimes_say_so() -> None:
    from tests.helpers import REPO_ROOT

    root = REPO_ROOT / "samples" / "cpio-mtime"
    with compare_eifs(root / "a.eif", root / "b.eif") as c:
        clamp = next(r for r in c.report.root_causes if r.kind == "clamp")
        fig = c.plot_clock()
        assert fig._suptitle.get_text() == f"Clamped mtimes: {clamp.title}"
        assert any("clamped on one side" in t for t in _texts(fig))
