"""The HTML report: well-formed, self-contained, escaped, and its embedded table data exact."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from eifdiff.compare import compare_files
from eifdiff.errors import Anomaly
from eifdiff.records import Divergence
from eifdiff.report.html import PAGE, display_order, report_html
from eifdiff.report.model import Report
from eifdiff.report.text import rank

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
PAIRS = ("cpio-mtime", "elf-build-path", "identical", "signature")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}
SVG_LEAVES = {"rect", "path", "circle", "line"}
URL_ATTRS = {"src", "href", "xlink:href", "action", "formaction", "srcset", "poster", "data",
             "background"}


@functools.cache
def sample_report(name: str) -> Report:
    return compare_files(SAMPLES / name / "a.eif", SAMPLES / name / "b.eif")


def div(i: int = 0, **kw: object) -> Divergence:
    base: dict[str, object] = dict(
        section="ramdisk[1]", entry=f"rootfs/f{i}", layer="cpio-entry", field="mtime", a=i, b=i + 1,
        offset_a=100 + i, offset_b=None, length=8, category="timestamp",
        pcrs=("PCR0", "PCR2"), hint="Clamp mtimes.")
    if "path" in kw:  # a display path given whole: an entry of ramdisk[1]
        kw["entry"] = str(kw.pop("path")).removeprefix("ramdisk[1]:")
    base.update(kw)
    return Divergence(**base)  # type: ignore[arg-type]


class Page(HTMLParser):
    """Checks nesting (every element closed, in order) and collects what the tests look at."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.cells: dict[str, list[str]] = {}  # td class c-* -> texts, in page order
        self.body_rows = 0
        self.group_rows: list[int] = []
        self._cell: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag in VOID:
            return
        self.stack.append(tag)
        self._text = []
        if tag == "td":
            self._cell = next((c for c in (a.get("class") or "").split() if c.startswith("c-")),
                              None)
        if tag == "tr" and "tbody" in self.stack:
            if a.get("class") == "group":
                self.group_rows.append(len(self.tags))
            else:
                self.body_rows += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID and tag not in SVG_LEAVES:
            self.errors.append(f"self-closing <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag == "script":
            self.scripts.append((self.tags_named("script")[len(self.scripts)], "".join(self._text)))
        if tag == "td" and self._cell:
            self.cells.setdefault(self._cell, []).append("".join(self._text))
            self._cell = None

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def tags_named(self, name: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == name]


def parse(page: str) -> Page:
    p = Page()
    p.feed(page)
    p.close()
    return p


def embedded(page: str) -> dict:
    """The table data, read back from its `<script type="application/json">`."""
    data = [text for attrs, text in parse(page).scripts
            if attrs.get("id") == "eifdiff-data" and attrs.get("type") == "application/json"]
    assert len(data) == 1
    return json.loads(data[0])


def decode(data: dict) -> tuple[Divergence, ...]:
    out = []
    for row in data["rows"]:
        d = dict(zip(data["columns"], row, strict=True))
        d["pcrs"] = tuple(d["pcrs"])
        d["hint"] = data["hints"][d["hint"]]
        del d["path"]  # derived, for display
        out.append(Divergence(**d))
    return tuple(out)


@pytest.mark.parametrize("name", PAIRS)
def test_page_is_well_formed(name: str) -> None:
    doc = parse(report_html(sample_report(name)))
    assert doc.errors == []
    assert doc.stack == []
    assert [t for t, _ in doc.tags].count("html") == 1
    assert len(doc.tags_named("table")) >= 3


@pytest.mark.parametrize("name", PAIRS)
def test_no_external_resources(name: str) -> None:
    page = report_html(sample_report(name))
    doc = parse(page)
    refs = [v for _, a in doc.tags for k, v in a.items() if k in URL_ATTRS and v]
    assert not [r for r in refs if re.match(r"\s*(https?:)?//", r, re.I)]
    assert "http://" not in page and "https://" not in page
    assert "@import" not in page and "url(" not in page
    assert not [a for a in doc.tags_named("script") if "src" in a]
    assert not doc.tags_named("link") and not doc.tags_named("img")
    csp = [a["content"] for a in doc.tags_named("meta") if a.get("http-equiv")]
    assert csp and "default-src 'none'" in csp[0]


@pytest.mark.parametrize("name", PAIRS)
def test_header_and_pcr_table(name: str) -> None:
    report = sample_report(name)
    page = report_html(report)
    assert f'<span class="badge v-{report.verdict}">{report.verdict}</span>' in page
    for f in (report.a, report.b):
        assert f.sha256 in page and escape(f.path) in page and f"{f.size:,}" in page
    for pcr, eq in report.pcr_equal.items():
        assert f'<tr class="{"eq" if eq else "ne"}"><th>{pcr}</th>' in page
        assert ", ".join(report.a.pcr_inputs[pcr]) in page


def test_svg_bar_chart_per_category() -> None:
    report = sample_report("elf-build-path")
    doc = parse(report_html(report))
    assert doc.tags_named("svg")
    bars = [a["data-cat"] for a in doc.tags_named("g") if "data-cat" in a]
    assert bars == list(report.summary()["by_category"])
    fills = [a["fill"] for a in doc.tags_named("rect")][: len(bars)]
    kinds = dict(zip(bars, fills, strict=True))
    assert set(kinds) == {"build-path", "derived"}  # the build-id follows from the paths
    assert kinds["build-path"] != kinds["derived"]


def test_every_divergence_is_a_row_in_the_table() -> None:
    report = sample_report("cpio-mtime")
    doc = parse(report_html(report))
    assert doc.body_rows == len(report.divergences)
    shown = [report.divergences[i] for i in display_order(report)]
    assert doc.cells["c-path"] == [d.path for d in shown]
    assert doc.cells["c-category"] == [d.category for d in shown]
    assert {d.path for d in report.divergences} <= set(doc.cells["c-path"])


def test_offsets_in_a_decompressed_stream_say_so() -> None:
    """An offset into a gzip ramdisk's decompressed bytes is not a file offset: its cell says
    which stream it indexes (the script's pages do the same from the embedded rows)."""
    rows = [div(0), div(1, offset_a=5000, offset_b=5200, stream_a="gzip", stream_b="gzip[2]")]
    report = dataclasses.replace(sample_report("cpio-mtime"), divergences=tuple(rows))
    page = report_html(report)
    assert not parse(page).errors
    assert re.search(r'title="an offset in ramdisk\[1\]&#39;s decompressed gzip stream, not in '
                     r'the file">5000<span class="space">in gzip</span></td>', page)
    assert '>5200<span class="space">in gzip[2]</span></td>' in page
    assert '<td class="c-offset_a num">100</td>' in page  # a file offset: no note
    assert 'r[col.stream_a]' in page  # the script pages render the same note


def test_layer_counts_and_anomalies_and_deep_text() -> None:
    report = dataclasses.replace(
        sample_report("elf-build-path"),
        anomalies=(Anomaly("ramdisk[1]", "odd <entry> & more", 77, entry="x", side="b"),),
        deep={"ramdisk[1]:rootfs/bin/app": "--- a\n+++ b\n@@ <tag> & stuff"})
    page = report_html(report)
    for layer, n in report.summary()["by_layer"].items():
        assert f'<tr><td>{layer}</td><td class="num">{n:,}</td></tr>' in page
    assert "<td>odd &lt;entry&gt; &amp; more</td>" in page
    assert ('<details id="deep-0"><summary>ramdisk[1]:rootfs/bin/app</summary>'
            "<pre>--- a\n+++ b\n@@ &lt;tag&gt; &amp; stuff</pre></details>") in page
    # every row of that entry links to its diffoscope block, server-side and in the data
    data = embedded(page)
    linked = {i for i, d in enumerate(report.divergences) if d.entry == "rootfs/bin/app"}
    assert linked and {int(k) for k in data["deep"]} == linked
    assert set(data["deep"].values()) == {0}
    assert page.count('<a class="deep" href="#deep-0">') == len(linked)
    # the diffoscope blocks follow the table at once
    assert page.index('id="divs"') < page.index('id="deep-0"') < page.index("What would fix")


def test_script_in_a_value_is_escaped() -> None:
    evil = '<script>alert("x")</script>'
    report = dataclasses.replace(sample_report("cpio-mtime"), divergences=(
        div(path=f"rootfs/{evil}", a=evil, b="</script><iframe>", hint=f"see {evil}"),))
    page = report_html(report)
    doc = parse(page)
    assert doc.errors == []
    assert len(doc.tags_named("script")) == 2  # the data and the code, nothing injected
    assert not doc.tags_named("iframe")
    assert page.count("<script") == 2
    assert escape(evil) in page
    assert doc.cells["c-a"] == [evil]
    assert decode(embedded(page)) == report.divergences


def test_embedded_json_round_trips() -> None:
    rows = (
        div(0, a="tab\there\nnewline", b=None, package="busybox"),
        div(1, a="&amp; stays literal", b="ünïcödé … \u2028", pcrs=()),
        div(2, category="derived", layer="eif-header", section="eif-header", entry=None,
            field="crc32",
            a="0x1", b="0x2", offset_a=None, length=None, hint="Follows."),
        *sample_report("signature").divergences,
    )
    report = dataclasses.replace(sample_report("signature"), divergences=rows)
    data = embedded(report_html(report))
    assert decode(data) == rows
    assert len(data["hints"]) == len({d.hint for d in rows})


def test_large_report_renders_one_page_server_side_and_embeds_all_rows() -> None:
    n = 25_000
    rows = tuple(div(i, category="derived", field="filesize") if i % 4 == 0 else div(i)
                 for i in range(n))
    report = dataclasses.replace(sample_report("cpio-mtime"), divergences=rows)
    page = report_html(report)
    doc = parse(page)
    assert doc.errors == []
    assert doc.body_rows == PAGE
    assert doc.cells["c-path"] == [d.path for d in rank(rows)[:PAGE]]  # no root causes here
    assert len(embedded(page)["rows"]) == n
    options = [a["value"] for a in doc.tags_named("option")]
    assert options == ["", "rc1", "", "@causes", "timestamp", "derived"]


def test_root_cause_table_leads_and_rows_follow_its_order() -> None:
    report = sample_report("elf-build-path")
    page = report_html(report)
    doc = parse(page)
    assert doc.errors == []
    assert page.index('id="root-causes"') < page.index('id="divs"') < page.index("<h2>PCRs")
    ids = [a["data-rc"] for a in doc.tags_named("a") if a.get("data-rc")]
    assert ids == [r.id for r in report.root_causes]
    order = {r.id: i for i, r in enumerate(report.root_causes)}
    shown = [report.divergences[i] for i in display_order(report)]
    ranks = [order.get(d.root_cause or d.because or "", len(order)) for d in shown]
    assert ranks == sorted(ranks)
    assert "cause rows moving it" in page and " causes, " not in page


def test_rarest_first_then_largest_change() -> None:
    base = sample_report("cpio-mtime")
    rc = base.root_causes[0].id
    rows = (
        *(div(i, root_cause=rc, field="mtime", a=100, b=100 + i) for i in range(50)),
        div(50, root_cause=rc, field="uid", a=0, b=1000, category="ownership"),
        div(51, root_cause=rc, field="mtime", a=100, b=100_000),
    )
    report = dataclasses.replace(base, divergences=rows)
    shown = [report.divergences[i] for i in display_order(report)]
    assert shown[0].field == "uid"  # the rarest kind first
    assert shown[1].b == 100_000  # then the largest change
    assert [d.b for d in shown[2:]] == sorted((d.b for d in shown[2:]), reverse=True)


def test_category_chart_on_a_log_scale_when_counts_span_orders() -> None:
    base = sample_report("cpio-mtime")
    rows = (*(div(i) for i in range(500)), div(500, field="uid", category="ownership"))
    page = report_html(dataclasses.replace(base, divergences=rows))
    assert "bar lengths on a log scale" in page
    widths = [int(a["width"]) for a in parse(page).tags_named("rect") if a.get("rx")]
    assert min(widths) > 20  # the one-row category is visible
