"""HTML views for notebooks: tables that stay readable at any size.

Everything is rendered as plain HTML with inline styles (no `<style>` blocks, no scripts), so
the shading survives JupyterLab's sanitizer even when a notebook is not trusted. Each view is an
object with `_repr_html_`; `str()` of it gives the same HTML.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html import escape
from numbers import Integral, Real

import pandas as pd

from eifdiff.report.model import Report

ROWS = 10  # rows shown per group before "and N more like these"
RED, GREEN, AMBER, GREY = "#fde2e1", "#e3f4e1", "#fff3cd", "#f1f3f5"
CELL = "border:1px solid #dee2e6;padding:2px 6px;vertical-align:top;text-align:left;"
HEAD = CELL + "background:#f8f9fa;text-align:left;white-space:nowrap;"
WIDTH = 120  # characters of a cell shown


def _e(v: object) -> str:
    return escape(str(v), quote=True)


PLAIN = ("mtime", "ino", "index", "header_offset", "offset", "uid", "gid", "dev", "occurrence")


def cell_text(v: object, width: int = WIDTH, plain: bool = False) -> str:
    """A value for a table cell: integers with thousands separators (`plain`: without, for
    identifiers such as epochs, inode numbers and offsets), missing as `–`."""
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, Integral) or (isinstance(v, Real) and float(v).is_integer()):
        n = int(float(v))
        return str(n) if plain else f"{n:,}"
    s = str(v)
    return s if len(s) <= width else s[: width - 1] + "…"


def _same(x: object, y: object) -> bool:
    """Equal as shown: two missing values are equal, 3 and 3.0 are equal."""
    return cell_text(x, 10**6) == cell_text(y, 10**6)


RowColour = Callable[[pd.Series], str]


@dataclass(frozen=True)
class Table:
    """A DataFrame as an HTML table with inline styles: `row_colour(row)` shades a row (empty
    for none), each `x_a`/`x_b` column pair is shaded where the two values differ, and numbers
    are right-aligned with thousands separators. At most `limit` rows are drawn; the caption
    says how many more there are."""

    df: pd.DataFrame
    row_colour: RowColour | None = None
    pairs: bool = True
    limit: int = 200
    caption: str = ""
    index: bool = False

    def __len__(self) -> int:
        return len(self.df)

    def __repr__(self) -> str:
        return f"<table of {len(self.df):,} rows: {', '.join(map(str, self.df.columns))}>"

    def _repr_html_(self) -> str:
        df = self.df.reset_index() if self.index else self.df
        columns = list(df.columns)
        pair = {c: c[:-2] + "_b" for c in columns
                if self.pairs and str(c).endswith("_a") and c[:-2] + "_b" in columns}
        pair.update({v: k for k, v in pair.items()})
        head = "".join(f'<th style="{HEAD}">{_e(c)}</th>' for c in columns)
        body = []
        for _, row in df.head(self.limit).iterrows():
            bg = self.row_colour(row) if self.row_colour else ""
            cells = []
            for c in columns:
                v = row[c]
                style = CELL
                if isinstance(v, Real) and not isinstance(v, bool) and not pd.isna(v):
                    style += "text-align:right;font-variant-numeric:tabular-nums;"
                if c in pair and not _same(v, row[pair[c]]):
                    style += f"background:{RED};"
                elif bg:
                    style += f"background:{bg};"
                plain = str(c).startswith(PLAIN)
                cells.append(f'<td style="{style}">{_e(cell_text(v, plain=plain))}</td>')
            body.append("<tr>" + "".join(cells) + "</tr>")
        more = len(df) - min(len(df), self.limit)
        note = f" · first {self.limit:,} of {len(df):,} rows shown" if more else ""
        caption = (f'<caption style="caption-side:top;text-align:left;color:#495057">'
                   f"{_e(self.caption)}{_e(note)}</caption>") if self.caption or note else ""
        return (f'<table style="border-collapse:collapse;font-size:12px">{caption}<thead><tr>'
                f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")

    def __str__(self) -> str:
        return self._repr_html_()


def shade_where(column: str, colour: str = RED, when: object = False) -> RowColour:
    """Shade every row whose `column` equals `when`."""
    return lambda row: colour if row[column] == when else ""


@dataclass(frozen=True)
class Html:
    """A fragment of HTML shown as is."""

    html: str

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return "<HTML>"

    def __str__(self) -> str:
        return self.html


def html_join(parts: Iterable[object]) -> Html:
    return Html("".join(p._repr_html_() if hasattr(p, "_repr_html_") else _e(p)
                        for p in parts))


GROUP_COLUMNS = ("path", "field", "a", "b", "category", "pcrs")


@dataclass(frozen=True)
class Grouped:
    """A divergence table grouped by root cause, in the report's order (PCR-moving first, then
    rarest): a heading per root cause with its counts, its first `rows` rows, and "and N more
    like these" with the call that gives them all."""

    df: pd.DataFrame
    report: Report
    rows: int = ROWS
    columns: tuple[str, ...] = GROUP_COLUMNS
    groups: dict[str, pd.DataFrame] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        order = [r.id for r in self.report.root_causes]
        found = dict(tuple(self.df.groupby("group", sort=False))) if len(self.df) else {}
        ranked = [g for g in order if g in found] + [g for g in found if g not in order]
        object.__setattr__(self, "groups", {g: found[g] for g in ranked})

    def __repr__(self) -> str:
        n = len(self.groups)
        return f"<{len(self.df):,} rows under {n:,} root cause{'s' if n != 1 else ''}>"

    def _repr_html_(self) -> str:
        if not self.groups:
            return "<p><em>No rows.</em></p>"
        titles = {r.id: r for r in self.report.root_causes}
        n = sum(1 for g in self.groups if g in titles)
        loose = sum(len(g) for k, g in self.groups.items() if k not in titles)
        more = f"; {loose:,} that no root cause explains" if loose else ""
        out = [f"<p>{len(self.df):,} rows: {len(self.df) - loose:,} under {n:,} root "
               f"cause{'s' if n != 1 else ''}{more}.</p>"]
        for gid, g in self.groups.items():
            r = titles.get(gid)
            title = r.title if r else "rows no root cause explains"
            pcrs = ",".join(r.pcrs) if r and r.pcrs else "no PCR"
            causes = int(g["cause"].sum())
            out.append(f'<h4 style="margin:.8em 0 .2em">{_e(gid)} [{_e(pcrs)}] {_e(title)} '
                       f'<span style="font-weight:normal;color:#495057">({len(g):,} rows: '
                       f"{causes:,} cause rows, {len(g) - causes:,} derived)</span></h4>")
            shown = g[[c for c in self.columns if c in g.columns]].head(self.rows)
            out.append(Table(shown, pairs=False, limit=self.rows)._repr_html_())
            left = len(g) - len(shown)
            if left:
                out.append(f'<p style="color:#495057;margin:.1em 0">… and {left:,} more like '
                           f"these: <code>c.divergences(root_cause=\"{_e(gid)}\")</code></p>")
        return "".join(out)

    def __str__(self) -> str:
        return self._repr_html_()


def verdict_html(report: Report) -> Html:
    """The first answer: the verdict, which PCRs differ, and the root causes with their fixes."""
    from eifdiff.report.text import fix_text, headline

    moved = [k for k, eq in report.pcr_equal.items() if not eq]
    colour = {"identical": "#2b8a3e", "pcr-equivalent": "#e67700"}.get(report.verdict,
                                                                       "#c92a2a")
    parts = [f'<p style="font-size:15px"><b style="color:{colour}">{_e(headline(report))}</b>'
             f"<br>PCRs that differ: <b>{_e(', '.join(moved) or 'none')}</b></p>"]
    if report.root_causes:
        head = "".join(f'<th style="{HEAD}">{h}</th>'
                       for h in ("id", "PCRs", "root cause", "rows", "evidence", "fix"))
        rows = []
        for r in report.root_causes:
            bg = f"background:{RED};" if r.pcrs else ""
            more = f" (+{r.derived:,} derived)" if r.derived else ""
            rows.append(
                f'<tr><td style="{CELL}{bg}"><b>{_e(r.id)}</b></td>'
                f'<td style="{CELL}{bg}white-space:nowrap">{_e(",".join(r.pcrs) or "–")}</td>'
                f'<td style="{CELL}{bg}">{_e(r.title)}</td>'
                f'<td style="{CELL}{bg}text-align:right">{r.count:,}{_e(more)}</td>'
                f'<td style="{CELL}{bg}">{_e(cell_text(r.evidence, 400))}</td>'
                f'<td style="{CELL}{bg}">{_e(fix_text(r))}</td></tr>')
        parts.append(f'<table style="border-collapse:collapse;font-size:12px"><thead><tr>{head}'
                     f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    return Html("".join(parts))
