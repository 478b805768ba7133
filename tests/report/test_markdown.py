"""The Markdown report: content from real sample pairs, escaping, and the size cap."""

from __future__ import annotations

import dataclasses
import functools
import html
import re
from pathlib import Path

import pytest

from eifdiff.compare import compare_files
from eifdiff.errors import Anomaly
from eifdiff.escape import markdown
from eifdiff.records import Divergence
from eifdiff.report.markdown import grouped, report_markdown
from eifdiff.report.model import Report
from eifdiff.report.text import rank
from eifdiff.rules import RULES

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
PAIRS = ("cpio-mtime", "elf-build-path", "identical", "signature")


@functools.cache
def sample_report(name: str) -> Report:
    return compare_files(SAMPLES / name / "a.eif", SAMPLES / name / "b.eif")


def div(i: int = 0, **kw: object) -> Divergence:
    base: dict[str, object] = dict(
        section="ramdisk[1]", entry=f"rootfs/f{i}", layer="cpio-entry", field="mtime", a=i, b=i + 1,
        offset_a=100 + i, offset_b=100 + i, length=8, category="timestamp",
        pcrs=("PCR0", "PCR2"), hint="Clamp mtimes.")
    if "path" in kw:  # a display path given whole: an entry of ramdisk[1]
        kw["entry"] = str(kw.pop("path")).removeprefix("ramdisk[1]:")
    base.update(kw)
    return Divergence(**base)  # type: ignore[arg-type]


def cells(line: str) -> list[str]:
    """The cells of a GFM table row (pipes preceded by a backslash do not split)."""
    assert line.startswith("| ") and line.endswith(" |"), line
    return [c.strip() for c in re.split(r"(?<!\\)\|", line[1:-1])]


def section(md: str, title: str) -> list[str]:
    """The lines under the `### title…` heading, up to the next heading."""
    lines = md.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith(f"### {title}"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("### ")),
               len(lines))
    return lines[start + 1 : end]


def table_rows(md: str, title: str) -> list[list[str]]:
    rows = [x for x in section(md, title) if x.startswith("| ")]
    return [cells(x) for x in rows[1:]]  # without the header row


@pytest.mark.parametrize("name", PAIRS)
def test_title_files_and_pcr_table(name: str) -> None:
    report = sample_report(name)
    md = report_markdown(report)
    assert md.startswith(f"## eifdiff: {report.verdict}\n")
    for f in (report.a, report.b):
        assert f"`{f.path}` — {f.size:,} bytes, sha256 `{f.sha256[:16]}…`" in md
    rows = {r[0]: r for r in table_rows(md, "PCRs")}
    assert set(rows) == set(report.pcr_equal)
    for pcr, eq in report.pcr_equal.items():
        assert ("yes" in rows[pcr][1]) is eq
        assert rows[pcr][2] == f"`{report.a.pcrs[pcr][:16]}…`"
        assert rows[pcr][4] == ", ".join(report.a.pcr_inputs[pcr])


@pytest.mark.parametrize("name", PAIRS)
def test_counts_by_category_and_layer(name: str) -> None:
    report = sample_report(name)
    md = report_markdown(report)
    s = report.summary()
    if not s["by_category"]:
        assert "### By category" not in md
        return
    cats = {r[0]: (r[1], r[2]) for r in table_rows(md, "By category")}
    assert cats == {c: ("derived" if c == "derived" else "cause", f"{n:,}")
                    for c, n in s["by_category"].items()}
    layers = {r[0]: r[1] for r in table_rows(md, "By layer")}
    assert layers == {x: f"{n:,}" for x, n in s["by_layer"].items()}


@pytest.mark.parametrize("name", ("cpio-mtime", "elf-build-path", "signature"))
def test_rows_grouped_by_root_cause_rarest_first(name: str) -> None:
    report = sample_report(name)
    md = report_markdown(report)
    rows = table_rows(md, "Rows by root cause")
    expected = grouped(report)
    assert len(rows) == len(expected)
    order = {r.id: i for i, r in enumerate(report.root_causes)}
    for row, d in zip(rows, expected, strict=True):
        assert row[1] == (d.root_cause or d.because or "–")
        assert row[2:5] == [d.category, f"`{d.path}`", f"`{d.field}`"]
        assert row[6] == (", ".join(d.pcrs) or "–")
    ranks = [order.get(r[1], len(order)) for r in rows]
    assert ranks == sorted(ranks), "rows follow the root causes' order"


@pytest.mark.parametrize("name", PAIRS)
def test_root_cause_table_leads(name: str) -> None:
    report = sample_report(name)
    md = report_markdown(report)
    if not report.root_causes:
        assert "### Root causes" not in md
        return
    rows = table_rows(md, f"Root causes ({len(report.root_causes)})")
    assert [r[0] for r in rows] == [f"**{r.id}**" for r in report.root_causes]
    assert [r[3].split(" ")[0] for r in rows] == [f"{r.count:,}" for r in report.root_causes]
    assert md.index("### Root causes") < md.index("### PCRs") < md.index("### Rows by root")


def test_values_and_hints_of_a_real_pair() -> None:
    md = report_markdown(sample_report("elf-build-path"))
    assert "`/tmp/eifdiff-build/a/src` → `/tmp/eifdiff-build/bb-longer/src`" in md
    hints = [x[2:] for x in section(md, "What usually causes them") if x.startswith("- ")]
    causes = [d for d in sample_report("elf-build-path").divergences if d.is_cause]
    raw = list(dict.fromkeys(d.hint for d in rank(causes)))
    assert hints == [markdown(h) for h in raw]  # escaped: hints carry package names
    assert [html.unescape(re.sub(r"\\(.)", r"\1", h)) for h in hints] == raw


def test_identical_pair_has_no_divergence_sections() -> None:
    md = report_markdown(sample_report("identical"))
    assert "Same bytes." in md
    assert "### Rows by root cause" not in md and "### What usually" not in md


def test_cells_escape_pipes_and_newlines_and_cut_long_values() -> None:
    report = dataclasses.replace(sample_report("cpio-mtime"), divergences=(
        div(path="dir|with|pipes", a="line1\nline2|x", b="back\\|slash"),
        div(1, a="x" * 500, b="`tick`"),
    ))
    md = report_markdown(report)
    rows = table_rows(md, "Rows by root cause")
    assert [len(r) for r in rows] == [7, 7]
    assert rows[0][3] == "`ramdisk[1]:dir\\|with\\|pipes`"
    assert "line1\\nline2\\|x" in rows[0][5]
    assert "\n" not in rows[0][5]
    long_a = rows[1][5].split(" → ")[0]
    assert long_a == "`" + "x" * 79 + "…`"
    assert rows[1][5].endswith("`` `tick` ``")


def _kind(i: int) -> dict[str, str]:
    """Layer, field and category of the i-th rule of the table, in turn."""
    r = ALL_RULES[i % len(ALL_RULES)]
    return {"layer": r.layer, "field": r.field, "category": r.category}


ALL_RULES = list(RULES.values())


def test_huge_report_stays_under_60_kb_and_says_what_it_left_out() -> None:
    n = 100_000
    rows = tuple(div(i, path=f"ramdisk[1]:rootfs/{'d' * 150}/{i}", a="é" * 300, b="<b>" * 50,
                     **_kind(i),
                     hint=f"hint {i % 500} " + "h" * 200) for i in range(n))
    report = dataclasses.replace(
        sample_report("cpio-mtime"), divergences=rows,
        anomalies=tuple(Anomaly(f"ramdisk[{i}]", "bad " * 100, i, side="a") for i in range(1000)),
        deep={f"ramdisk[1]:rootfs/f{i}": "\n".join("x" * 300 for _ in range(1000))
              for i in range(50)})
    md = report_markdown(report)
    assert len(md.encode()) < 60_000
    shown = table_rows(md, "Rows by root cause")
    assert 0 < len(shown) <= 50
    assert f"_{n - len(shown):,} more rows not shown" in md
    assert f"### Rows by root cause ({len(shown)} of {n:,} rows" in md
    anomalies = [x for x in section(md, "Anomalies (1,000)") if x.startswith("- ")]
    assert anomalies[-1] == f"- _… {1000 - (len(anomalies) - 1):,} more not shown_"
    assert "more diffoscope outputs not shown" in md
    assert md.count("<details>") == md.count("</details>") >= 1


def test_deep_output_in_collapsed_blocks_cut_to_200_lines() -> None:
    text = "\n".join(f"@@ line {i} ```" for i in range(450))
    report = dataclasses.replace(sample_report("elf-build-path"),
                                 deep={"ramdisk[1]:rootfs/bin/app": text})
    md = report_markdown(report)
    block = md[md.index("<details>"):md.index("</details>")]
    assert "<summary>diffoscope: ramdisk[1]:rootfs/bin/app</summary>" in block
    assert "````text\n@@ line 0 ```" in block  # the fence is longer than any run inside
    assert "@@ line 199 ```" in block and "@@ line 200 ```" not in block
    assert "… 250 more lines (see --json)" in block


def test_anomalies_listed() -> None:
    odd = Anomaly("ramdisk[1]", "truncated <entry>", 4096, entry="x", side="a")
    report = dataclasses.replace(sample_report("cpio-mtime"), anomalies=(odd,))
    md = report_markdown(report)
    assert section(md, "Anomalies (1)")[1] == (
        "- `a:ramdisk[1]:x` at offset 4,096: truncated &lt;entry&gt;")
