"""The report model: a JSON report reloads into the same `Report`, and a notebook opened from it
shows the same tables and figures as one opened from the files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from eifdiff.compare import compare_files
from eifdiff.errors import EifdiffError
from eifdiff.notebook import NEEDS_FILES, compare_eifs, open_report
from eifdiff.report.model import SCHEMA, load_report, report_doc, write_json
from tests.helpers import run_cli

matplotlib.use("Agg")

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
PAIRS = sorted(p.name for p in SAMPLES.iterdir() if (p / "a.eif").is_file())
# The views a saved report can show (they read only the report).
TABLES = ("summary", "pcrs", "sections", "divergences", "categories", "remedies", "remaining",
          "remedy_grid", "warnings", "package_changes", "divergences_by_package")
FIGURES = ("plot_categories", "plot_map", "plot_remedies")


def _figure_data(fig: matplotlib.figure.Figure) -> list[object]:
    """What a figure draws: per axes, its title, tick labels, and every artist's data."""
    out: list[object] = []
    for ax in fig.axes:
        out.append((ax.get_title(), [t.get_text() for t in ax.get_yticklabels()],
                    [t.get_text() for t in ax.get_xticklabels()]))
        for c in ax.collections:
            out.append(c.get_offsets().tolist() if hasattr(c, "get_offsets") else None)
        for p in ax.patches:
            out.append((p.get_x(), p.get_y(), p.get_width(), p.get_height()))
    return out


@pytest.mark.parametrize("pair", PAIRS)
def test_saved_report_reloads_into_the_same_views(pair: str, tmp_path: Path) -> None:
    a, b = SAMPLES / pair / "a.eif", SAMPLES / pair / "b.eif"
    proc = run_cli(a, b, "--json")
    assert proc.returncode in (0, 1), proc.stderr
    saved = tmp_path / "r.json"
    saved.write_text(proc.stdout, encoding="utf-8")
    assert json.loads(proc.stdout)["schema"] == SCHEMA
    with compare_eifs(a, b) as live:
        again = open_report(saved)
        assert again.report == live.report
        for view in TABLES:
            pd.testing.assert_frame_equal(getattr(again, view)(), getattr(live, view)(),
                                          obj=view)
        for view in FIGURES:
            assert _figure_data(getattr(again, view)()) == _figure_data(getattr(live, view)())


def test_views_that_read_bytes_say_so(tmp_path: Path) -> None:
    report = compare_files(SAMPLES / "cpio-mtime" / "a.eif", SAMPLES / "cpio-mtime" / "b.eif")
    saved = tmp_path / "r.json"
    with saved.open("w", encoding="utf-8") as out:
        write_json(report, out)
    c = open_report(saved)
    for view in ("entries", "binaries", "packages", "plot_mtimes"):
        with pytest.raises(EifdiffError, match="compare_eifs"):
            getattr(c, view)()
    assert "\n" not in NEEDS_FILES


def test_written_json_equals_the_document() -> None:
    report = compare_files(SAMPLES / "cpio-order" / "a.eif", SAMPLES / "cpio-order" / "b.eif")
    out = io.StringIO()
    write_json(report, out)
    assert json.loads(out.getvalue()) == json.loads(json.dumps(report_doc(report)))


@pytest.mark.parametrize("doc", ['{"schema": "eifdiff/1"}', "[]", '{"schema": "eifdiff/2"}',
                                 "not json", '{"schema": "eifdiff/2", "a": 1}'])
def test_foreign_or_damaged_reports_are_refused_in_one_line(doc: str, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(doc, encoding="utf-8")
    with pytest.raises(EifdiffError) as info:
        load_report(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
