"""Notebook tables: inline styles only (they survive an untrusted notebook), integers as
integers, only differing pairs shaded, and groups cut to N rows with "and N more like these"."""

from __future__ import annotations

import dataclasses

import pandas as pd

from eifdiff.compare import compare_files
from eifdiff.display import RED, Grouped, Table, cell_text, verdict_html
from eifdiff.frames import divergences
from eifdiff.report.model import Report
from tests.helpers import REPO_ROOT


def sample_report(name: str) -> Report:
    root = REPO_ROOT / "samples" / name
    return compare_files(root / "a.eif", root / "b.eif")


def test_cell_text() -> None:
    assert cell_text(1234567) == "1,234,567"
    assert cell_text(3.0) == "3"
    assert cell_text(pd.NA) == "–" and cell_text(None) == "–" and cell_text(float("nan")) == "–"
    assert cell_text(True) == "yes"
    assert cell_text("x" * 200).endswith("…") and len(cell_text("x" * 200)) == 120


def test_table_shades_only_pairs_that_differ() -> None:
    df = pd.DataFrame({"name": ["same", "differs", "both-missing", "int-vs-float"],
                       "size_a": pd.array([3, 3, None, 3], dtype="Int64"),
                       "size_b": [3.0, 4.0, None, 3.0]})
    html = Table(df)._repr_html_()
    assert "<style" not in html and "<script" not in html
    rows = html.split("<tr>")[2:]
    assert [RED in r for r in rows] == [False, True, False, False]
    assert ">3<" in rows[0] and "3.0" not in html


def test_table_limit_and_caption() -> None:
    df = pd.DataFrame({"n": range(1000)})
    html = Table(df, limit=10, caption="numbers")._repr_html_()
    assert html.count("<tr>") == 11
    assert "numbers · first 10 of 1,000 rows shown" in html


def test_grouped_by_root_cause_with_more_like_these() -> None:
    report = sample_report("cpio-mtime")
    base = report.divergences[0]
    rows = tuple(dataclasses.replace(base, offset_a=i) for i in range(950))
    report = dataclasses.replace(report, divergences=rows)
    g = Grouped(divergences(report.divergences), report, rows=4)
    html = g._repr_html_()
    rc = report.root_causes[0]
    assert f"{rc.id} [" in html and rc.title.replace("'", "&#x27;") in html
    assert "… and 946 more like these" in html
    assert f'c.divergences(root_cause="{rc.id}")' in html
    assert repr(g) == "<950 rows under 1 root cause>"


def test_verdict_leads_with_root_causes() -> None:
    report = sample_report("cpio-mtime")
    html = verdict_html(report)._repr_html_()
    assert html.index("different") < html.index("<table")
    assert all(r.id in html for r in report.root_causes)
    assert "root cause" in html and "rows" in html


def test_identifiers_without_thousands_separators() -> None:
    df = pd.DataFrame({"mtime_a": pd.array([1795914041], dtype="Int64"), "filesize_a": [4559],
                       "ino_b": [5851445]})
    html = Table(df)._repr_html_()
    assert ">1795914041<" in html and ">4,559<" in html and ">5851445<" in html
