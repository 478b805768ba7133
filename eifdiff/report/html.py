"""The HTML report: one self-contained page (inline CSS, SVG and vanilla JS; nothing fetched).

The page opens with the verdict and the root-cause table (id, PCRs, title, rows, evidence, fix);
the divergence table follows at once, its rows grouped under their root cause in the report's
order (PCR-moving first, then rarest), within a group the rarest kind first, then the largest
change. It is rendered by the page's script from a JSON document embedded in
`<script type="application/json" id="eifdiff-data">` (`{"columns", "rows", "hints", "order",
"shown", "groups", "deep"}`: one array per divergence in `Divergence` field order, `hint` an index
into `hints`, `order` the display order, `shown` the values as people read them, `deep` the
diffoscope block of a row), 500 rows a page, so reports with 100k rows stay usable. The first page
is also rendered server-side for viewers without JS. Numbers sort as numbers; words never break.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import fields
from html import escape
from typing import Any

from eifdiff.errors import display_path
from eifdiff.escape import json_dumps, terminal
from eifdiff.records import Divergence
from eifdiff.report.model import FileSummary, Report
from eifdiff.report.text import by_package, fix_text, headline, warning_line

PAGE = 500
HINTS_SHOWN = 100
COLUMNS = (*(f.name for f in fields(Divergence)), "path")
SHOWN = ("category", "path", "field", "a", "b", "pcrs", "length", "offset_a", "offset_b", "layer")
NO_ROOT = "(none)"
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
h2 { font-size: 1.1rem; margin: 1.2rem 0 .4rem; border-bottom: 1px solid var(--line); }
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
#divs td { overflow-wrap: break-word; word-break: normal; hyphens: none; }
#divs td.c-a, #divs td.c-b { max-width: 28em; }
#divs td.c-path { max-width: 36em; }
#divs td.c-category, #divs td.c-pcrs, #divs td.c-layer, #divs td.num, #divs td.c-field
  { white-space: nowrap; }
#divs tr.group td { background: #edf2ff; font-weight: 600; color: var(--fg); }
#divs .space { display: block; color: var(--muted); font-size: 85%; }
#causes td { vertical-align: top; } #causes td.ev { max-width: 40em; }
#causes td.t { min-width: 24em; } #causes td.fix { max-width: 34em; }
#causes td.c-pcrs { white-space: nowrap; }
#divs td.c-path { min-width: 22em; }
#causes tr.moves td:first-child { border-left: 4px solid var(--bad); }
a.deep { font-size: 11px; margin-left: .4em; white-space: nowrap; }
#divs tr.derived td { color: var(--muted); }
#divs tr.cause td.c-category { color: var(--bad); font-weight: 600; }
.controls { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: .4rem 0; }
.controls input[type=search] { min-width: 22rem; padding: .25rem .4rem; }
.controls select { max-width: 28rem; }
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
  const q = $("q"), cat = $("cat"), rc = $("rc"), info = $("info");
  const text = (v) => v === null || v === undefined ? "" : Array.isArray(v) ? v.join(", ")
    : String(v);
  const isCause = (i) => rows[i][col.category] !== "derived";
  const base = data.order, groups = data.groups, deep = data.deep;
  const groupOf = (i) => rows[i][col.root_cause] || rows[i][col.because] || "(none)";
  const shown = (i, key) => (key === "a" || key === "b") && data.shown[i]
    ? data.shown[i][key === "a" ? 0 : 1] : rows[i][col[key]];
  let sorted = base, view = base, page = 0, sortKey = null, sortDir = 1, hay = null;

  const haystack = (i) => {
    if (hay === null) hay = new Array(rows.length);
    if (hay[i] === undefined) {
      const r = rows[i];
      hay[i] = [r[col.path], r[col.layer], r[col.field], text(r[col.a]), text(r[col.b]),
        r[col.category], text(r[col.pcrs]), hints[r[col.hint]] || "", r[col.package] || "",
        groupOf(i)]
        .join("\\n").toLowerCase();
    }
    return hay[i];
  };
  const empty = (v) => v === null || v === undefined || v === "" ||
    (Array.isArray(v) && v.length === 0);
  const NUM = /^-?\\d+(\\.\\d+)?(?=$|\\s)/;
  const number = (v) => typeof v === "number" ? v
    : (typeof v === "string" && NUM.test(v) ? parseFloat(v) : null);
  const compare = (a, b) => {
    if (Array.isArray(a)) { a = a.join(","); b = b.join(","); }
    const x = number(a), y = number(b);
    if (x !== null && y !== null) return x - y;
    if (x !== null || y !== null) return x !== null ? -1 : 1;
    a = String(a); b = String(b);
    return a < b ? -1 : a > b ? 1 : 0;
  };

  function sortBy(key) {
    sortDir = sortKey === key ? -sortDir : 1;
    sortKey = key;
    const k = col[key];
    sorted = base.slice().sort((x, y) => {
      const a = shown(x, key), b = shown(y, key), e = empty(a) - empty(b);
      return e || sortDir * compare(a, b);
    });
    for (const th of document.querySelectorAll("#divs th")) {
      if (th.dataset.key === key) th.dataset.sort = sortDir > 0 ? "asc" : "desc";
      else delete th.dataset.sort;
    }
    apply(false);
  }

  function apply(resetPage = true) {
    const needle = q.value.trim().toLowerCase(), c = cat.value, g = rc.value;
    view = sorted.filter((i) =>
      (c === "" || (c === "@causes" ? isCause(i) : rows[i][col.category] === c)) &&
      (g === "" || groupOf(i) === g) &&
      (needle === "" || haystack(i).includes(needle)));
    if (resetPage) page = 0;
    render();
  }

  function groupRow(g) {
    const tr = document.createElement("tr"), td = document.createElement("td");
    tr.className = "group";
    td.colSpan = SHOWN.length;
    const info = groups[g];
    td.textContent = info ? `${g} [${info.pcrs || "no PCR"}] ${info.title} \\u00b7 ${
      info.rows.toLocaleString()} row${info.rows === 1 ? "" : "s"}`
      : "rows no root cause explains";
    tr.appendChild(td);
    return tr;
  }

  function pathCell(td, v) {
    v.split("/").forEach((p, k) => {
      if (k) {
        td.appendChild(document.createTextNode("/"));
        td.appendChild(document.createElement("wbr"));
      }
      td.appendChild(document.createTextNode(p));
    });
  }

  function row(i) {
    const r = rows[i];
    const tr = document.createElement("tr");
    tr.className = r[col.category] === "derived" ? "derived" : "cause";
    tr.dataset.group = groupOf(i);
    const hint = hints[r[col.hint]];
    if (hint) tr.title = hint;
    for (const key of SHOWN) {
      const td = document.createElement("td");
      const raw = shown(i, key), v = text(raw);
      if (key === "path") pathCell(td, v);
      else td.textContent = key === "pcrs" && v === "" ? "\\u2013" : v;
      const space = key === "offset_a" ? r[col.stream_a] : key === "offset_b" ? r[col.stream_b]
        : null;
      if (space && typeof raw === "number") {
        const note = document.createElement("span");
        note.className = "space";
        note.textContent = "in " + space;
        td.appendChild(note);
        td.title = "an offset in " + r[col.section] + "'s decompressed " + space +
          " stream, not in the file";
      }
      td.className = "c-" + key + (typeof raw === "number" ? " num" : "");
      if (key === "path" && r[col.package]) td.title = "package: " + r[col.package];
      if (key === "path" && deep[i] !== undefined) {
        const a = document.createElement("a");
        a.href = "#deep-" + deep[i];
        a.className = "deep";
        a.textContent = "diffoscope \\u2193";
        td.appendChild(a);
      }
      tr.appendChild(td);
    }
    return tr;
  }

  function render() {
    const pages = Math.max(1, Math.ceil(view.length / PAGE));
    page = Math.min(Math.max(page, 0), pages - 1);
    const frag = document.createDocumentFragment();
    let last = null;
    for (const i of view.slice(page * PAGE, (page + 1) * PAGE)) {
      if (sortKey === null && groupOf(i) !== last) {
        last = groupOf(i);
        frag.appendChild(groupRow(last));
      }
      frag.appendChild(row(i));
    }
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
  rc.addEventListener("change", () => apply());
  for (const a of document.querySelectorAll("a[data-rc]")) {
    a.addEventListener("click", (ev) => {
      ev.preventDefault();
      rc.value = a.dataset.rc;
      apply();
      $("divergences").scrollIntoView();
    });
  }
  const openDeep = () => {
    const t = location.hash.startsWith("#deep-") && document.querySelector(location.hash);
    if (t) t.open = true;
  };
  window.addEventListener("hashchange", openDeep);
  openDeep();
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
    """HTML-escaped text with controls and undecodable bytes shown as escapes (newlines and
    tabs kept, for `<pre>` blocks); None is empty."""
    return "" if v is None else escape(terminal(v, keep="\n\t"), quote=True)


def group_of(d: Divergence) -> str:
    """The root cause a row belongs to: its own, or the one a derived row follows from."""
    return d.root_cause or d.because or NO_ROOT


def _change(d: Divergence) -> tuple[int, int]:
    """How big a row's change is: its byte span, then the difference of integer values."""
    delta = abs(d.b - d.a) if isinstance(d.a, int) and isinstance(d.b, int) else 0
    return (-(d.length or 0), -delta)


def display_order(report: Report) -> list[int]:
    """Indices of the rows as the table shows them: grouped under their root cause in the
    report's order (rows no root cause explains last); within a group cause rows first, the
    rarest kind (category and field) first, then those moving more PCRs, then the largest
    change, then report order."""
    rows = report.divergences
    rank = {r.id: i for i, r in enumerate(report.root_causes)}
    kinds = Counter((d.category, d.field) for d in rows)
    return sorted(range(len(rows)), key=lambda i: (
        rank.get(group_of(rows[i]), len(rank)), not rows[i].is_cause,
        kinds[(rows[i].category, rows[i].field)], -len(rows[i].pcrs), _change(rows[i]), i))


def _deep_key(d: Divergence) -> str | None:
    return None if d.entry is None else display_path(d.section, d.entry, d.occurrence, None)


def table_data(report: Report) -> dict[str, Any]:
    """The JSON the divergence table is rendered from (rows in report order, `order` the
    display order)."""
    hints: dict[str, int] = {}
    rows = []
    shown: list[list[str] | None] = []
    deep_ids = {k: i for i, k in enumerate(report.deep)}
    deep: dict[int, int] = {}
    for n, d in enumerate(report.divergences):
        row = [getattr(d, c) for c in COLUMNS]
        row[COLUMNS.index("pcrs")] = list(d.pcrs)
        row[COLUMNS.index("hint")] = hints.setdefault(d.hint, len(hints))
        rows.append(row)
        a, b = d.shown_a, d.shown_b
        shown.append(None if (a, b) == (_plain(d.a), _plain(d.b)) else [a, b])
        key = _deep_key(d)
        if key in deep_ids:
            deep[n] = deep_ids[key]
    groups = {r.id: {"title": r.title, "pcrs": ",".join(r.pcrs), "rows": r.count + r.derived}
              for r in report.root_causes}
    return {"columns": list(COLUMNS), "rows": rows, "hints": list(hints),
            "order": display_order(report), "shown": shown, "groups": groups, "deep": deep}


def _plain(v: object) -> str:
    return "-" if v is None else str(v)


def _json_script(doc: dict[str, Any]) -> str:
    text = json_dumps(doc, indent=None, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="eifdiff-data">{text}</script>'


def _head(report: Report) -> str:
    title = f"eifdiff: {report.verdict} ({report.a.path} vs {report.b.path})"
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n")


def _header(report: Report) -> str:
    moved = [k for k, eq in report.pcr_equal.items() if not eq]
    return (f'<h1>eifdiff <span class="badge v-{_e(report.verdict)}">{_e(report.verdict)}'
            f'</span></h1>\n<p>{_e(headline(report))}. PCRs that differ: '
            f'<b>{_e(", ".join(moved) or "none")}</b>. <code>{_e(report.a.path)}</code> vs '
            f"<code>{_e(report.b.path)}</code>.</p>\n")


EVIDENCE = 160  # characters of evidence shown in the root-cause table (all of it on hover)


def _short(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _root_causes(report: Report) -> str:
    """The root-cause table: id (a link that filters the rows), PCRs, title, rows, evidence,
    fix; PCR-moving first, then rarest."""
    if not report.root_causes:
        return ""
    rows = []
    for r in report.root_causes:
        more = f" + {r.derived:,} derived" if r.derived else ""
        rows.append(
            f'<tr class="{"moves" if r.pcrs else "none"}"><td><a href="#divergences" '
            f'data-rc="{_e(r.id)}">{_e(r.id)}</a></td><td class="c-pcrs">'
            f'{_e(",".join(r.pcrs) or "–")}</td><td class="t">{_e(r.title)}</td>'
            f'<td class="num">{r.count:,}{_e(more)}</td><td class="ev" title="{_e(r.evidence)}">'
            f"{_e(_short(r.evidence, EVIDENCE))}</td>"
            f'<td class="fix">{_e(fix_text(r))}</td></tr>')
    n = len(report.root_causes)
    return (f'<h2 id="root-causes">Root causes ({n:,})</h2>\n<table id="causes"><tr><th>id</th>'
            "<th>PCRs</th><th>root cause</th><th>rows</th><th>evidence</th><th>fix</th></tr>\n"
            + "\n".join(rows) + "\n</table>\n")


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
            "<th>cause rows moving it</th><th>sections it measures</th></tr>\n"
            + "\n".join(rows) + "\n</table>\n")


def _bar(i: int, cat: str, n: int, top: int, log: bool = False) -> str:
    label, width, row = 130, 480, 24
    y = 8 + i * row
    share = math.log10(n + 1) / math.log10(top + 1) if log else n / top
    w = max(2, round(width * share))
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
    log = top >= 100 * min(by_category.values())  # a one-row category stays visible
    bars = [_bar(i, c, n, top, log) for i, (c, n) in enumerate(by_category.items())]
    h = 8 + len(bars) * 24 + 30
    legend_y = h - 12
    legend = (f'<rect x="130" y="{legend_y - 10}" width="12" height="12" fill="{CAUSE_COLOUR}"/>'
              f'<text x="148" y="{legend_y}">cause</text>'
              f'<rect x="210" y="{legend_y - 10}" width="12" height="12" '
              f'fill="{DERIVED_COLOUR}"/><text x="228" y="{legend_y}">derived (follows from a '
              "cause)" + (" · bar lengths on a log scale" if log else "") + "</text>")
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


def _cell(d: Divergence, key: str, deep: int | None) -> str:
    v = {"a": d.shown_a, "b": d.shown_b}[key] if key in ("a", "b") else getattr(d, key)
    if key == "pcrs":
        return f'<td class="c-pcrs">{_e(", ".join(v) or "–")}</td>'
    raw = getattr(d, key)
    cls = f"c-{key}" + (" num" if isinstance(raw, int) else "")
    title = f' title="package: {_e(d.package)}"' if key == "path" and d.package else ""
    text = _e(v)
    space = {"offset_a": d.stream_a, "offset_b": d.stream_b}.get(key)
    if space and isinstance(raw, int):
        text += f'<span class="space">in {_e(space)}</span>'
        title = (f' title="an offset in {_e(d.section)}&#39;s decompressed {_e(space)} stream, '
                 'not in the file"')
    if key == "path":
        text = text.replace("/", "/<wbr>")
        if deep is not None:
            text += f'<a class="deep" href="#deep-{deep}">diffoscope ↓</a>'
    return f'<td class="{cls}"{title}>{text}</td>'


def _group_row(report: Report, gid: str) -> str:
    r = next((x for x in report.root_causes if x.id == gid), None)
    n = r.count + r.derived if r else 0
    text = (f"{gid} [{','.join(r.pcrs) or 'no PCR'}] {r.title} · {n:,} row{'s' if n != 1 else ''}"
            if r else "rows no root cause explains")
    return f'<tr class="group"><td colspan="{len(SHOWN)}">{_e(text)}</td></tr>'


def _first_page(report: Report, data: dict[str, Any]) -> str:
    """The first page of rows in display order, for viewers that run no script."""
    rows = []
    last = None
    for i in data["order"][:PAGE]:
        d = report.divergences[i]
        if group_of(d) != last:
            last = group_of(d)
            rows.append(_group_row(report, last))
        title = f' title="{_e(d.hint)}"' if d.hint else ""
        kind = "cause" if d.is_cause else "derived"
        rows.append(f'<tr class="{kind}"{title}>'
                    + "".join(_cell(d, k, data["deep"].get(i)) for k in SHOWN) + "</tr>")
    return "\n".join(rows)


def _category_options(report: Report) -> str:
    s = report.summary()
    opts = [f'<option value="">all categories ({s["divergences"]:,})</option>',
            f'<option value="@causes">all causes ({s["causes"]:,})</option>']
    opts += [f'<option value="{_e(c)}">{_e(c)} ({n:,})</option>'
             for c, n in s["by_category"].items()]
    return "".join(opts)


def _root_cause_options(report: Report) -> str:
    n = len(report.divergences)
    opts = [f'<option value="">all root causes ({n:,} rows)</option>']
    opts += [f'<option value="{_e(r.id)}">{_e(r.id)}: {_e(r.title[:60])} '
             f"({r.count + r.derived:,})</option>" for r in report.root_causes]
    return "".join(opts)


def _divergences(report: Report, data: dict[str, Any]) -> str:
    n = len(report.divergences)
    heads = "".join(f'<th data-key="{k}">{k}</th>' for k in SHOWN)
    note = (f"showing the first {min(n, PAGE):,} of {n:,} rows, grouped by root cause "
            "(enable JavaScript to sort, filter and page)")
    return (
        f'<h2 id="divergences">Divergences ({n:,})</h2>\n'
        '<div class="controls" id="controls" hidden>'
        '<input type="search" id="q" placeholder="filter: path, field, value, hint…" '
        'aria-label="filter">'
        f'<select id="rc" aria-label="root cause">{_root_cause_options(report)}</select>'
        f'<select id="cat" aria-label="category">{_category_options(report)}</select>'
        '<button id="first">«</button><button id="prev">‹ prev</button>'
        '<button id="next">next ›</button><button id="last">»</button></div>\n'
        f'<p class="muted"><span id="info">{note}</span> · Rows are grouped under their root '
        "cause, the rarest first; click a header to sort (numbers sort as numbers), hover a row "
        "for what usually causes it.</p>\n"
        f'<table id="divs"><thead><tr>{heads}</tr></thead>\n<tbody>\n'
        f"{_first_page(report, data)}\n"
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
    blocks = "".join(f'<details id="deep-{i}"><summary>{_e(p)}</summary><pre>{_e(t)}</pre>'
                     "</details>\n" for i, (p, t) in enumerate(report.deep.items()))
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
    data = table_data(report)
    return "".join((
        _head(report), _header(report), _warnings(report), _root_causes(report),
        _divergences(report, data), _deep(report), _pcrs(report), _remedies(report),
        _packages(report),
        _files(report), _counts(report), _hints(report), _anomalies(report),
        _json_script(data), "\n", _script(), "</body>\n</html>\n",
    ))
