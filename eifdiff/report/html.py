"""The HTML report: one self-contained page (inline CSS, SVG and vanilla JS; nothing fetched).

The divergence table is rendered by the page's script from a JSON array embedded in
`<script type="application/json" id="eifdiff-data">` (`{"columns", "rows", "hints"}`: one array per
divergence in `Divergence` field order, `hint` an index into `hints`), 500 rows a page, so reports
with 100k rows stay usable. The first page is also rendered server-side for viewers without JS.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import fields
from html import escape
from typing import Any

from eifdiff.records import Divergence
from eifdiff.report.model import FileSummary, Report
from eifdiff.report.text import by_package, rank, warning_line

PAGE = 500
HINTS_SHOWN = 100
COLUMNS = (*(f.name for f in fields(Divergence)), "path")
SHOWN = ("category", "layer", "path", "field", "a", "b", "offset_a", "offset_b", "length", "pcrs")
CAUSE_COLOUR, DERIVED_COLOUR = "#d9480f", "#868e96"
CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "img-src data:; base-uri 'none'; form-action 'none'")

CSS = """
:root { --fg: #212529; --muted: #6c757d; --line: #dee2e6; --bg2: #f8f9fa; --ok: #2b8a3e;
  --warn: #e67700; --bad: #c92a2a; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
  margin: 0 auto; padding: 1rem 1.5rem 3rem; max-width: 1600px; }
h1 { font-size: 1.4rem; margin: .2rem 0 .6rem; display: flex; gap: .6rem; align-items: center; }
h2 { font-size: 1.1rem; margin: 1.8rem 0 .5rem; border-bottom: 1px solid var(--line); }
code, pre, td.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12.5px; }
.badge { color: #fff; border-radius: 1rem; padding: .15rem .8rem; font-size: .95rem; }
.v-identical { background: var(--ok); } .v-pcr-equivalent { background: var(--warn); }
.v-different { background: var(--bad); }
.muted { color: var(--muted); }
table { border-collapse: collapse; margin: .3rem 0; }
th, td { border: 1px solid var(--line); padding: .25rem .5rem; text-align: left;
  vertical-align: top; }
th { background: var(--bg2); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.hash { overflow-wrap: anywhere; }
tr.eq td.eqc { color: var(--ok); font-weight: 600; }
tr.ne td { background: #fff5f5; } tr.ne td.eqc { color: var(--bad); font-weight: 700; }
#divs { width: 100%; }
p.warn { background: #fff3cd; border: 1px solid #e0b400; padding: .5rem .75rem; }
#divs th { cursor: pointer; user-select: none; white-space: nowrap; position: sticky; top: 0; }
#divs th[data-sort="asc"]::after { content: " \\25B2"; }
#divs th[data-sort="desc"]::after { content: " \\25BC"; }
#divs td { overflow-wrap: anywhere; }
#divs td.c-a, #divs td.c-b { max-width: 28em; }
#divs td.c-path { max-width: 36em; }
#divs tr.derived td { color: var(--muted); }
#divs tr.cause td.c-category { color: var(--bad); font-weight: 600; }
.controls { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: .4rem 0; }
.controls input[type=search] { min-width: 22rem; padding: .25rem .4rem; }
.bar { cursor: pointer; }
.bar:hover rect { opacity: .8; }
details { margin: .3rem 0; } summary { cursor: pointer; font-family: ui-monospace, monospace; }
pre { background: var(--bg2); padding: .6rem; overflow: auto; max-height: 40rem;
  border: 1px solid var(--line); }
"""

JS = """
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("eifdiff-data").textContent);
  const col = Object.fromEntries(data.columns.map((c, i) => [c, i]));
  const rows = data.rows, hints = data.hints, PAGE = PAGE_SIZE;
  const SHOWN = SHOWN_COLUMNS;
  const $ = (id) => document.getElementById(id);
  const tbody = document.querySelector("#divs tbody");
  const q = $("q"), cat = $("cat"), info = $("info");
  const text = (v) => v === null || v === undefined ? "" : Array.isArray(v) ? v.join(", ")
    : String(v);
  const isCause = (i) => rows[i][col.category] !== "derived";
  const npcr = (i) => rows[i][col.pcrs].length;
  const base = rows.map((_, i) => i).sort((x, y) =>
    (isCause(y) - isCause(x)) || (npcr(y) - npcr(x)) || (x - y));
  let sorted = base, view = base, page = 0, sortKey = null, sortDir = 1, hay = null;

  const haystack = (i) => {
    if (hay === null) hay = new Array(rows.length);
    if (hay[i] === undefined) {
      const r = rows[i];
      hay[i] = [r[col.path], r[col.layer], r[col.field], text(r[col.a]), text(r[col.b]),
        r[col.category], text(r[col.pcrs]), hints[r[col.hint]] || "", r[col.package] || ""]
        .join("\\n").toLowerCase();
    }
    return hay[i];
  };
  const empty = (v) => v === null || v === undefined || v === "" ||
    (Array.isArray(v) && v.length === 0);
  const compare = (a, b) => {
    if (Array.isArray(a)) { a = a.join(","); b = b.join(","); }
    if (typeof a === "number" && typeof b === "number") return a - b;
    a = String(a); b = String(b);
    return a < b ? -1 : a > b ? 1 : 0;
  };

  function sortBy(key) {
    sortDir = sortKey === key ? -sortDir : 1;
    sortKey = key;
    const k = col[key];
    sorted = base.slice().sort((x, y) => {
      const a = rows[x][k], b = rows[y][k], e = empty(a) - empty(b);
      return e || sortDir * compare(a, b);
    });
    for (const th of document.querySelectorAll("#divs th")) {
      if (th.dataset.key === key) th.dataset.sort = sortDir > 0 ? "asc" : "desc";
      else delete th.dataset.sort;
    }
    apply(false);
  }

  function apply(resetPage = true) {
    const needle = q.value.trim().toLowerCase(), c = cat.value;
    view = sorted.filter((i) =>
      (c === "" || (c === "@causes" ? isCause(i) : rows[i][col.category] === c)) &&
      (needle === "" || haystack(i).includes(needle)));
    if (resetPage) page = 0;
    render();
  }

  function row(r) {
    const tr = document.createElement("tr");
    tr.className = r[col.category] === "derived" ? "derived" : "cause";
    const hint = hints[r[col.hint]];
    if (hint) tr.title = hint;
    for (const key of SHOWN) {
      const td = document.createElement("td");
      const v = text(r[col[key]]);
      td.textContent = key === "pcrs" && v === "" ? "\\u2013" : v;
      td.className = "c-" + key + (typeof r[col[key]] === "number" ? " num" : "");
      if (key === "path" && r[col.package]) td.title = "package: " + r[col.package];
      tr.appendChild(td);
    }
    return tr;
  }

  function render() {
    const pages = Math.max(1, Math.ceil(view.length / PAGE));
    page = Math.min(Math.max(page, 0), pages - 1);
    const frag = document.createDocumentFragment();
    for (const i of view.slice(page * PAGE, (page + 1) * PAGE)) frag.appendChild(row(rows[i]));
    tbody.replaceChildren(frag);
    const from = view.length ? page * PAGE + 1 : 0, to = Math.min(view.length, (page + 1) * PAGE);
    const n = (x) => x.toLocaleString();
    info.textContent = `rows ${n(from)}\\u2013${n(to)} of ${n(view.length)}` +
      (view.length !== rows.length ? ` (filtered from ${n(rows.length)})` : "") +
      ` \\u00b7 page ${n(page + 1)} of ${n(pages)}`;
    $("first").disabled = $("prev").disabled = page === 0;
    $("next").disabled = $("last").disabled = page >= pages - 1;
  }

  let timer = 0;
  q.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(apply, 150); });
  cat.addEventListener("change", () => apply());
  $("first").addEventListener("click", () => { page = 0; render(); });
  $("prev").addEventListener("click", () => { page -= 1; render(); });
  $("next").addEventListener("click", () => { page += 1; render(); });
  $("last").addEventListener("click", () => { page = Infinity; render(); });
  for (const th of document.querySelectorAll("#divs th")) {
    th.addEventListener("click", () => sortBy(th.dataset.key));
  }
  for (const g of document.querySelectorAll("[data-cat]")) {
    g.addEventListener("click", () => {
      cat.value = g.dataset.cat;
      apply();
      $("divergences").scrollIntoView();
    });
  }
  $("controls").hidden = false;
  render();
})();
"""


def _e(v: object) -> str:
    """HTML-escaped text; None is empty."""
    return "" if v is None else escape(str(v), quote=True)


def table_data(report: Report) -> dict[str, Any]:
    """The JSON the divergence table is rendered from (rows in report order)."""
    hints: dict[str, int] = {}
    rows = []
    for d in report.divergences:
        row = [getattr(d, c) for c in COLUMNS]
        row[COLUMNS.index("pcrs")] = list(d.pcrs)
        row[COLUMNS.index("hint")] = hints.setdefault(d.hint, len(hints))
        rows.append(row)
    return {"columns": list(COLUMNS), "rows": rows, "hints": list(hints)}


def _json_script(doc: dict[str, Any]) -> str:
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="eifdiff-data">{text}</script>'


def _head(report: Report) -> str:
    title = f"eifdiff: {report.verdict} ({report.a.path} vs {report.b.path})"
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n")


def _header(report: Report) -> str:
    s = report.summary()
    return (f'<h1>eifdiff <span class="badge v-{_e(report.verdict)}">{_e(report.verdict)}'
            f'</span></h1>\n<p>{s["divergences"]:,} divergences: {s["causes"]:,} causes, '
            f'{s["divergences"] - s["causes"]:,} derived; {s["anomalies"]:,} anomalies.</p>\n')


def _file_row(side: str, f: FileSummary) -> str:
    return (f"<tr><th>{side}</th><td><code>{_e(f.path)}</code></td>"
            f'<td class="num">{f.size:,}</td><td><code class="hash">{_e(f.sha256)}</code></td>'
            f"<td>{_e(f.arch)}</td></tr>")


def _files(report: Report) -> str:
    return ("<h2>Files</h2>\n<table><tr><th></th><th>path</th><th>size (bytes)</th>"
            f"<th>sha256</th><th>arch</th></tr>\n{_file_row('a', report.a)}\n"
            f"{_file_row('b', report.b)}\n</table>\n")


def _measures(report: Report, name: str) -> str:
    a = ", ".join(report.a.pcr_inputs.get(name, ())) or "(nothing)"
    b = ", ".join(report.b.pcr_inputs.get(name, ())) or "(nothing)"
    return _e(a if a == b else f"a: {a}; b: {b}")


def _pcrs(report: Report) -> str:
    moved = report.summary()["causes_by_pcr"]
    rows = []
    for name, eq in report.pcr_equal.items():
        rows.append(
            f'<tr class="{"eq" if eq else "ne"}"><th>{_e(name)}</th>'
            f'<td class="eqc">{"equal" if eq else "DIFFERENT"}</td>'
            f'<td><code class="hash">{_e(report.a.pcrs.get(name, "–"))}</code></td>'
            f'<td><code class="hash">{_e(report.b.pcrs.get(name, "–"))}</code></td>'
            f'<td class="num">{moved.get(name, 0):,}</td><td>{_measures(report, name)}</td></tr>')
    return ("<h2>PCRs</h2>\n<table><tr><th>PCR</th><th>equal</th><th>a</th><th>b</th>"
            "<th>causes moving it</th><th>sections it measures</th></tr>\n"
            + "\n".join(rows) + "\n</table>\n")


def _bar(i: int, cat: str, n: int, top: int) -> str:
    label, width, row = 130, 480, 24
    y = 8 + i * row
    w = max(2, round(width * n / top))
    kind = "derived" if cat == "derived" else "cause"
    colour = DERIVED_COLOUR if kind == "derived" else CAUSE_COLOUR
    return (f'<g class="bar" data-cat="{_e(cat)}"><title>{_e(cat)}: {n:,} ({kind})</title>'
            f'<text x="{label - 8}" y="{y + 16}" text-anchor="end">{_e(cat)}</text>'
            f'<rect x="{label}" y="{y + 4}" width="{w}" height="16" rx="2" fill="{colour}"/>'
            f'<text x="{label + w + 6}" y="{y + 16}">{n:,}</text></g>')


def _chart(by_category: dict[str, int]) -> str:
    """Counts by category as an inline SVG bar chart (causes and derived in two colours)."""
    if not by_category:
        return '<p class="muted">No divergences.</p>\n'
    top = max(by_category.values())
    bars = [_bar(i, c, n, top) for i, (c, n) in enumerate(by_category.items())]
    h = 8 + len(bars) * 24 + 30
    legend_y = h - 12
    legend = (f'<rect x="130" y="{legend_y - 10}" width="12" height="12" fill="{CAUSE_COLOUR}"/>'
              f'<text x="148" y="{legend_y}">cause</text>'
              f'<rect x="210" y="{legend_y - 10}" width="12" height="12" '
              f'fill="{DERIVED_COLOUR}"/><text x="228" y="{legend_y}">derived (follows from a '
              "cause)</text>")
    return (f'<svg role="img" aria-label="divergences by category" viewBox="0 0 720 {h}" '
            f'width="720" height="{h}" font-size="12" font-family="system-ui, sans-serif">'
            + "".join(bars) + legend + "</svg>\n")


def _counts(report: Report) -> str:
    s = report.summary()
    layers = "".join(f'<tr><td>{_e(x)}</td><td class="num">{n:,}</td></tr>'
                     for x, n in s["by_layer"].items())
    out = "<h2>By category</h2>\n" + _chart(s["by_category"])
    if layers:
        out += ("<h2>By layer</h2>\n<table><tr><th>layer</th><th>count</th></tr>"
                f"{layers}</table>\n")
    return out


def _hints(report: Report) -> str:
    counts = Counter((d.category, d.hint) for d in report.causes if d.hint)
    if not counts:
        return ""
    items = [f"<li><b>{_e(c)}</b> ({n:,}): {_e(h)}</li>"
             for (c, h), n in counts.most_common(HINTS_SHOWN)]
    more = len(counts) - len(items)
    if more:
        items.append(f'<li class="muted">… {more:,} more hints (see the table tooltips)</li>')
    return "<h2>What usually causes them</h2>\n<ul>" + "".join(items) + "</ul>\n"


def _cell(d: Divergence, key: str) -> str:
    v = getattr(d, key)
    if key == "pcrs":
        return f'<td class="c-pcrs">{_e(", ".join(v) or "–")}</td>'
    cls = f"c-{key}" + (" num" if isinstance(v, int) else "")
    title = f' title="package: {_e(d.package)}"' if key == "path" and d.package else ""
    return f'<td class="{cls}"{title}>{_e(v)}</td>'


def _first_page(report: Report) -> str:
    """The first page of rows in default order, for viewers that run no script."""
    rows = []
    for d in rank(report.divergences)[:PAGE]:
        title = f' title="{_e(d.hint)}"' if d.hint else ""
        kind = "cause" if d.is_cause else "derived"
        rows.append(f'<tr class="{kind}"{title}>' + "".join(_cell(d, k) for k in SHOWN) + "</tr>")
    return "\n".join(rows)


def _category_options(report: Report) -> str:
    s = report.summary()
    opts = [f'<option value="">all categories ({s["divergences"]:,})</option>',
            f'<option value="@causes">all causes ({s["causes"]:,})</option>']
    opts += [f'<option value="{_e(c)}">{_e(c)} ({n:,})</option>'
             for c, n in s["by_category"].items()]
    return "".join(opts)


def _divergences(report: Report) -> str:
    n = len(report.divergences)
    heads = "".join(f'<th data-key="{k}">{k}</th>' for k in SHOWN)
    note = (f"showing the first {min(n, PAGE):,} of {n:,} rows, causes first "
            "(enable JavaScript to sort, filter and page)")
    return (
        f'<h2 id="divergences">Divergences ({n:,})</h2>\n'
        '<div class="controls" id="controls" hidden>'
        '<input type="search" id="q" placeholder="filter: path, field, value, hint…" '
        'aria-label="filter">'
        f'<select id="cat" aria-label="category">{_category_options(report)}</select>'
        '<button id="first">«</button><button id="prev">‹ prev</button>'
        '<button id="next">next ›</button><button id="last">»</button></div>\n'
        f'<p class="muted" id="info">{note}</p>\n'
        '<p class="muted">Click a header to sort; hover a row for what usually causes it.</p>\n'
        f'<table id="divs"><thead><tr>{heads}</tr></thead>\n<tbody>\n{_first_page(report)}\n'
        "</tbody></table>\n")


def _anomalies(report: Report) -> str:
    if not report.anomalies:
        return ""
    rows = "".join(f"<tr><td><code>{_e(x.path)}</code></td>"
                   f'<td class="num">{_e(x.offset)}</td><td>{_e(x.message)}</td></tr>'
                   for x in report.anomalies)
    return (f"<h2>Anomalies ({len(report.anomalies):,})</h2>\n<table><tr><th>path</th>"
            f"<th>offset</th><th>message</th></tr>{rows}</table>\n")


def _deep(report: Report) -> str:
    if not report.deep:
        return ""
    blocks = "".join(f"<details><summary>{_e(p)}</summary><pre>{_e(t)}</pre></details>\n"
                     for p, t in report.deep.items())
    return "<h2>diffoscope</h2>\n" + blocks


def _script() -> str:
    js = JS.replace("PAGE_SIZE", str(PAGE)).replace("SHOWN_COLUMNS", json.dumps(list(SHOWN)))
    return f"<script>{js}</script>\n"


def _remedies(report: Report) -> str:
    """What each normalization would do: `eifdiff normalize --fix NAME` on both files."""
    if not report.remedies:
        return (f"<h2>What would fix it</h2>\n<p>{_e(report.remedies_note)}</p>\n"
                if report.remedies_note else "")
    keys = list(report.pcr_equal)
    head = "".join(f"<th>{_e(k)} after</th>" for k in keys)
    rows = []
    for r in report.remedies:
        kind = {"smallest": " (smallest combination)", "all": " (all together)"}.get(r.kind, "")
        name = f"<code>--fix {_e(r.name)}</code>{_e(kind)}" if r.name else "(none applies)"
        cells = "".join(
            f'<td class="{"eq" if r.pcr_equal_after.get(k) else "ne"}">'
            f'{"equal" if r.pcr_equal_after.get(k) else "differ"}</td>' for k in keys)
        notes = [r.note] if r.note and r.kind != "none" else []
        notes += [f"remains: {x.category} ({x.count}, e.g. {x.example}): {x.hint}"
                  for x in r.remaining]
        rows.append(f'<tr class="{"eq" if r.fixes else "ne"}"><td>{name}</td>'
                    f'<td>{"yes" if r.fixes else "no"}</td>{cells}'
                    f'<td>{"yes" if r.identical_after else "no"}</td>'
                    f'<td>{"<br>".join(_e(n) for n in notes)}</td></tr>')
    return ("<h2>What would fix it</h2>\n<p>PCRs of both files after "
            "<code>eifdiff normalize --fix NAME</code>.</p>\n<table><tr><th>normalization</th>"
            f"<th>fixes</th>{head}<th>identical files</th><th>notes</th></tr>"
            + "".join(rows) + "</table>\n")


def _warnings(report: Report) -> str:
    return "".join(
        f'<p class="warn"><strong>Warning</strong> '
        f'{_e(warning_line(w).removeprefix("WARNING: "))}</p>\n' for w in report.warnings)


def _packages(report: Report) -> str:
    if not report.package_changes:
        return ""
    rows = "".join(
        f"<tr><td>{_e(c.ramdisk)}</td><td>{_e(c.ecosystem)}</td><td>{_e(c.name)}</td>"
        f"<td>{_e(c.a or '')}</td><td>{_e(c.b or '')}</td><td>{_e(c.kind)}</td></tr>"
        for c in report.package_changes)
    out = ("<h2>Package changes</h2>\n<table><tr><th>ramdisk</th><th>ecosystem</th>"
           "<th>package</th><th>a</th><th>b</th><th>change</th></tr>" + rows + "</table>\n")
    groups = by_package(report)
    if groups:
        out += ("<h2>Divergent files by package</h2>\n<table><tr><th>package</th><th>rows</th>"
                "<th>categories</th><th>example</th></tr>" + "".join(
                    f"<tr><td>{_e(p)}</td><td class=\"num\">{n}</td><td>"
                    f"{_e(', '.join(f'{k} {v}' for k, v in c.most_common()))}</td>"
                    f"<td>{_e(ex)}</td></tr>" for p, n, c, ex in groups) + "</table>\n")
    return out


def report_html(report: Report) -> str:
    """The whole report as one self-contained HTML page."""
    return "".join((
        _head(report), _header(report), _warnings(report), _files(report), _pcrs(report),
        _remedies(report), _packages(report),
        _counts(report),
        _hints(report), _divergences(report), _anomalies(report), _deep(report),
        _json_script(table_data(report)), "\n", _script(), "</body>\n</html>\n",
    ))
