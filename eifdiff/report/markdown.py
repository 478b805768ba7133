"""The Markdown report: GitHub-flavoured, sized for a CI job summary.

Every part that can grow with the report (divergence rows, hints, anomalies, diffoscope texts) is
cut to a byte budget, so the whole page stays under `LIMIT` bytes and says what it left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from eifdiff.escape import markdown, terminal
from eifdiff.records import Divergence
from eifdiff.report.model import FileSummary, Report
from eifdiff.report.text import by_package, fix_text, headline, rank, warning_line

TOP = 50
CELL = 80  # characters of a value shown in a table cell
DEEP_LINES = 200
DEEP_LINE_WIDTH = 240
LIMIT = 56_000  # bytes for the whole page (GitHub allows 1 MiB per step; keep well under 60 KB)
TABLE_BUDGET = 26_000
CAUSE_BUDGET = 12_000
GROUP_ROWS = 5  # rows shown under each root cause
HINT_BUDGET = 6_000
ANOMALY_BUDGET = 5_000
MIN_DEEP_BLOCK = 600  # do not start a diffoscope block with less room than this


def _size(s: str) -> int:
    return len(s.encode())


def _cut(s: str, width: int) -> str:
    return s if len(s) <= width else s[: width - 1] + "…"


def _code(v: object, width: int = CELL, *, table: bool = True) -> str:
    """`v` as a code span cut to `width`; newlines shown as `\\n`, pipes escaped in tables."""
    if v is None or v == "":
        return "–"
    s = _cut(terminal(v), width)  # controls, newlines and undecodable bytes shown as escapes
    if table:  # a backslash right before a pipe would escape the pipe's escape
        s = s.replace("\\|", "\\\u200b|").replace("|", "\\|")
    ticks = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (ticks + 1)
    if s[0] == "`" or s[-1] == "`" or (s[0] == " " and s[-1] == " "):
        s = f" {s} "
    return f"{fence}{s}{fence}"


def _text(s: str) -> str:
    """Free text on one line that renders as itself: no HTML, links, images or emphasis."""
    return markdown(" ".join(s.split(" ")))


def _take(lines: Iterable[str], budget: int) -> list[str]:
    """The leading `lines` whose bytes (newlines included) fit in `budget`."""
    out: list[str] = []
    used = 0
    for line in lines:
        used += _size(line) + 1
        if used > budget:
            break
        out.append(line)
    return out


def _table(header: tuple[str, ...], rows: Iterable[Iterable[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _file_line(side: str, f: FileSummary) -> str:
    return (f"- **{side}:** {_code(f.path, 200, table=False)} — {f.size:,} bytes, "
            f"sha256 `{f.sha256[:16]}…`")


def _verdict_text(report: Report) -> str:
    if report.verdict == "identical":
        return "Same bytes."
    moved = [k for k, eq in report.pcr_equal.items() if not eq]
    if not moved:
        return "The bytes differ but every PCR is equal."
    return f"{', '.join(moved)} {'differs' if len(moved) == 1 else 'differ'}."


def _head(report: Report) -> list[str]:
    return [
        f"## eifdiff: {report.verdict}", "",
        f"{_verdict_text(report)} {_text(headline(report))}.", "",
        _file_line("a", report.a), _file_line("b", report.b),
    ]


def _root_causes(report: Report) -> list[str]:
    """The root-cause table: id, PCRs, title, rows, evidence, fix (PCR-moving first, then
    rarest)."""
    if not report.root_causes:
        return []
    rows = []
    for r in report.root_causes:
        more = f" + {r.derived:,} derived" if r.derived else ""
        rows.append((f"**{r.id}**", ", ".join(r.pcrs) or "–", _text(_cut(r.title, 160)),
                     f"{r.count:,}{more}", _text(_cut(r.evidence, 300)).replace("|", "\\|"),
                     _text(_cut(fix_text(r), 300)).replace("|", "\\|")))
    body = _take(_table(("id", "PCRs", "root cause", "rows", "evidence", "fix"), rows),
                 CAUSE_BUDGET)
    lines = ["", f"### Root causes ({len(report.root_causes):,})", "", *body]
    if len(body) - 2 < len(rows):
        lines.append(f"_{len(rows) - len(body) + 2:,} more root causes not shown._")
    return lines


def _measures(report: Report, name: str) -> str:
    a = ", ".join(report.a.pcr_inputs.get(name, ())) or "(nothing)"
    b = ", ".join(report.b.pcr_inputs.get(name, ())) or "(nothing)"
    return _text(a if a == b else f"a: {a}; b: {b}")


def _pcrs(report: Report) -> list[str]:
    rows = []
    for name, eq in report.pcr_equal.items():
        a, b = report.a.pcrs.get(name), report.b.pcrs.get(name)
        rows.append((name, "✅ yes" if eq else "❌ **no**", _code(a and a[:16] + "…"),
                     _code(b and b[:16] + "…"), _measures(report, name)))
    return ["", "### PCRs", "", *_table(("PCR", "equal", "a", "b", "measures"), rows)]


def _counts(report: Report) -> list[str]:
    s = report.summary()
    if not s["by_category"]:
        return []
    cats = [(c, "derived" if c == "derived" else "cause", f"{n:,}")
            for c, n in s["by_category"].items()]
    layers = [(x, f"{n:,}") for x, n in s["by_layer"].items()]
    return ["", "### By category", "", *_table(("category", "kind", "count"), cats),
            "", "### By layer", "", *_table(("layer", "count"), layers)]


def grouped(report: Report, per_group: int = GROUP_ROWS) -> list[Divergence]:
    """Rows grouped under their root cause in the report's order (rows no root cause explains
    last), the first `per_group` of each group, rarest kind first within it."""
    order = {r.id: i for i, r in enumerate(report.root_causes)}
    groups: dict[str, list[Divergence]] = {}
    for d in rank(report.divergences):
        groups.setdefault(d.root_cause or d.because or "", []).append(d)
    keys = sorted(groups, key=lambda g: order.get(g, len(order)))
    return [d for g in keys for d in groups[g][:per_group]]


def _row(i: int, d: Divergence) -> tuple[str, ...]:
    return (str(i), d.root_cause or d.because or "–", d.category, _code(d.path),
            _code(d.field, 40), f"{_code(d.shown_a)} → {_code(d.shown_b)}",
            ", ".join(d.pcrs) or "–")


def _top(ranked: list[Divergence], top: int, total: int | None = None
         ) -> tuple[list[str], list[Divergence]]:
    """The divergences table (grouped by root cause) and the rows it shows."""
    if not ranked:
        return [], []
    total = len(ranked) if total is None else total
    header = ("#", "root cause", "category", "path", "field", "a → b", "PCRs")
    body = _take(_table(header, (_row(i, d) for i, d in enumerate(ranked[:top], 1))),
                 TABLE_BUDGET)
    shown = ranked[: len(body) - 2]
    lines = ["", f"### Rows by root cause ({len(shown):,} of {total:,} rows, the first "
                 f"{GROUP_ROWS} of each root cause)", "", *body]
    left = total - len(shown)
    if left:
        lines += ["", f"_{left:,} more rows not shown; `eifdiff --json` lists them all._"]
    return lines, shown


def _hints(shown: list[Divergence]) -> list[str]:
    hints = list(dict.fromkeys(_text(d.hint) for d in shown if d.is_cause and d.hint))
    if not hints:
        return []
    items = _take((f"- {h}" for h in hints), HINT_BUDGET)
    lines = ["", "### What usually causes them", "", *items]
    if len(items) < len(hints):
        lines.append(f"- _… {len(hints) - len(items)} more hints not shown_")
    return lines


def _anomalies(report: Report) -> list[str]:
    if not report.anomalies:
        return []
    items = _take((f"- {_code(x.path, 120, table=False)}"
                   + (f" at offset {x.offset:,}" if x.offset is not None else "")
                   + f": {_text(_cut(x.message, 300))}" for x in report.anomalies),
                  ANOMALY_BUDGET)
    lines = ["", f"### Anomalies ({len(report.anomalies):,})", "", *items]
    if len(items) < len(report.anomalies):
        lines.append(f"- _… {len(report.anomalies) - len(items):,} more not shown_")
    return lines


def _deep_block(path: str, text: str, budget: int) -> list[str]:
    """One collapsed diffoscope text, cut to `DEEP_LINES` lines and to `budget` bytes."""
    body = [_cut(terminal(t), DEEP_LINE_WIDTH) for t in text.splitlines()]
    ticks = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (ticks + 1)
    summary = f"<details><summary>diffoscope: {_text(_cut(path, 200))}</summary>"
    frame = [summary, "", fence + "text", fence, "", "</details>"]
    room = budget - sum(_size(x) + 1 for x in frame) - 80  # 80: the "more lines" note
    shown = _take(body[:DEEP_LINES], room)
    if len(shown) < len(body):
        shown.append(f"… {len(body) - len(shown):,} more lines (see --json)")
    return [*frame[:3], *shown, *frame[3:]]


def _deep(report: Report, budget: int) -> list[str]:
    if not report.deep:
        return []
    lines = ["", "### diffoscope"]
    used = _size("\n".join(lines))
    done = 0
    for path, text in report.deep.items():
        if budget - used < MIN_DEEP_BLOCK:
            break
        block = ["", *_deep_block(path, text, budget - used)]
        used += _size("\n".join(block)) + 1
        lines += block
        done += 1
    if done < len(report.deep):
        lines += ["", f"_{len(report.deep) - done:,} more diffoscope outputs not shown "
                      "(see --json)._"]
    return lines


def _remedies(report: Report) -> list[str]:
    """What each normalization would do: `eifdiff normalize --fix NAME` on both files."""
    if not report.remedies:
        return ["", f"_What would fix it: {_text(report.remedies_note)}_"] \
            if report.remedies_note else []
    keys = list(report.pcr_equal)
    rows = []
    for r in report.remedies:
        name = f"`--fix {r.name}`" if r.name else "(none applies)"
        kind = {"smallest": " (smallest combination)", "all": " (all together)"}.get(r.kind, "")
        after = ", ".join(f"{k} {'=' if r.pcr_equal_after.get(k) else '≠'}" for k in keys)
        rows.append((name + kind, "**yes**" if r.fixes else "no", after,
                     "yes" if r.identical_after else "no"))
    lines = ["", "### What would fix it", "",
             *_table(("normalization", "fixes", "PCRs after", "identical files"), rows), ""]
    for r in report.remedies:
        if r.note and r.kind != "none":
            lines.append(f"- {_text(r.note)}")
        for left in r.remaining:
            lines.append(f"- remains: **{left.category}** ({left.count}, e.g. "
                         f"{_code(left.example, table=False)}): {_text(left.hint)}")
    return lines


def _warnings(report: Report) -> list[str]:
    return ["", *(f"> **Warning** {_text(warning_line(w).removeprefix('WARNING: '))}"
                  for w in report.warnings)] if report.warnings else []


def _packages(report: Report) -> list[str]:
    if not report.package_changes:
        return []
    rows = [(_code(c.ramdisk), _code(c.ecosystem), _code(c.name), _code(c.a), _code(c.b))
            for c in report.package_changes[:200]]
    lines = ["", "### Package changes", "",
             *_table(("ramdisk", "ecosystem", "package", "a", "b"), rows)]
    if len(report.package_changes) > 200:
        lines.append(f"_{len(report.package_changes) - 200:,} more package changes not shown._")
    groups = by_package(report)
    if groups:
        lines += ["", "### Divergent files by package", "",
                  *_table(("package", "rows", "categories", "example"), [
                      (_code(p), str(n), ", ".join(f"{k} {v}" for k, v in c.most_common()),
                       _code(e)) for p, n, c, e in groups[:100]])]
    return lines


def report_markdown(report: Report, *, top: int = TOP) -> str:
    """The report as GitHub-flavoured Markdown, at most about `LIMIT` bytes."""
    table, shown = _top(grouped(report), top, len(report.divergences))
    lines = [*_head(report), *_warnings(report), *_root_causes(report), *_pcrs(report),
             *_remedies(report),
             *_packages(report), *_counts(report), *table, *_hints(shown), *_anomalies(report)]
    used = _size("\n".join(lines))
    lines += _deep(report, LIMIT - used - 200)
    return "\n".join(lines) + "\n"
