"""Per-file drill-down: what differs inside one CPIO entry, for any kind of entry.

`file_view(a, b)` takes the two versions of an entry (either may be missing) and returns a
`FileView`: header fields side by side, then, by content, the ELF section table (ELF files), a
unified diff (text), or the differing byte ranges as a side-by-side hexdump (anything else).
Bounded: at most `MAX_RANGES` ranges and `TEXT_LIMIT` bytes of text are looked at closely.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from html import escape

import pandas as pd

from eifdiff.display import AMBER, CELL, HEAD, RED, Table
from eifdiff.formats.elf import elf_facts, is_elf
from eifdiff.load import Member

MAX_RANGES = 8
CONTEXT = 16  # bytes of equal context before and after each range
RANGE_LINES = 16  # hexdump lines shown per range (256 bytes)
CHUNK = 4096
TEXT_LIMIT = 1 << 20
DIFF_LINES = 400
HEADER = ("kind", "filesize", "mode", "uid", "gid", "mtime", "ino", "nlink", "devmajor",
          "devminor", "header_offset")


def diff_ranges(a: bytes | memoryview, b: bytes | memoryview, limit: int = MAX_RANGES
                ) -> list[tuple[int, int]]:
    """The first `limit` ranges `[start, end)` where `a` and `b` differ (a length difference is
    a range at the end), found chunk by chunk so equal megabytes cost one comparison each."""
    a, b = memoryview(a).cast("B"), memoryview(b).cast("B")
    n = min(len(a), len(b))
    out: list[tuple[int, int]] = []
    start = None
    pos = 0
    while pos < n and len(out) < limit:
        end = min(pos + CHUNK, n)
        if start is None and a[pos:end] == b[pos:end]:
            pos = end
            continue
        for i in range(pos, end):
            if a[i] != b[i]:
                if start is None:
                    start = i
            elif start is not None:
                out.append((start, i))
                start = None
                if len(out) >= limit:
                    break
        pos = end
    if start is not None and len(out) < limit:
        out.append((start, n))
    if len(a) != len(b) and len(out) < limit:
        if out and out[-1][1] == n:
            out[-1] = (out[-1][0], max(len(a), len(b)))
        else:
            out.append((n, max(len(a), len(b))))
    return out


def merged(ranges: list[tuple[int, int]], gap: int = 16) -> list[tuple[int, int]]:
    """Ranges closer than `gap` equal bytes joined: one hexdump block for one changed region."""
    out: list[tuple[int, int]] = []
    for start, end in ranges:
        if out and start - out[-1][1] < gap:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def _hex_lines(data: memoryview, other: memoryview, start: int, end: int) -> list[str]:
    """HTML hexdump lines (16 bytes each) of `data[start:end]`, bytes differing from `other`
    in red."""
    lines = []
    for row in range(start - start % 16, end, 16):
        cells, text = [], []
        for i in range(row, row + 16):
            if i >= len(data) or i < start or i >= end:
                cells.append("  ")
                text.append(" ")
                continue
            v = data[i]
            differs = i >= len(other) or other[i] != v
            h, ch = f"{v:02x}", escape(chr(v)) if 32 <= v < 127 else "."
            if differs:
                h = f'<span style="background:{RED};color:#c92a2a">{h}</span>'
                ch = f'<span style="background:{RED};color:#c92a2a">{ch}</span>'
            cells.append(h)
            text.append(ch)
        lines.append(f"{row:08x}  {' '.join(cells[:8])}  {' '.join(cells[8:])}  {''.join(text)}")
    return lines


def _text(data: memoryview) -> str | None:
    if len(data) > TEXT_LIMIT or b"\0" in data:
        return None
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True)
class FileView:
    """The drill-down of one entry: `kind` says which view (`elf`, `text`, `bytes`, `equal`,
    `only-a`, `only-b`, `special`), `header` the header fields side by side, `body` the HTML
    of the content view, `ranges` the differing byte ranges (for `bytes` and `text`)."""

    name: str
    kind: str
    header: pd.DataFrame
    body: str
    ranges: tuple[tuple[int, int], ...] = ()
    deep: str = ""

    def __repr__(self) -> str:
        return f"<{self.name}: {self.kind}, {len(self.ranges)} differing ranges>"

    def _repr_html_(self) -> str:
        deep = (f'<h4>diffoscope</h4><pre style="max-height:30em;overflow:auto">'
                f"{escape(self.deep)}</pre>") if self.deep else ""
        return (f"<h3 style=\"margin:.4em 0\">{escape(self.name)} "
                f'<span style="font-weight:normal;color:#495057">({escape(self.kind)})</span></h3>'
                + Table(self.header, pairs=False,
                        row_colour=lambda r: RED if r["a"] != r["b"] else "")._repr_html_()
                + self.body + deep)

    def __str__(self) -> str:
        return self._repr_html_()


def _header(a: Member | None, b: Member | None) -> pd.DataFrame:
    def value(m: Member | None, f: str) -> str:
        if m is None:
            return "(absent)"
        v = getattr(m.entry, f)
        return f"{v:06o}" if f == "mode" else str(v)

    return pd.DataFrame([{"field": f, "a": value(a, f), "b": value(b, f)} for f in HEADER])


def _hexdump(a: memoryview, b: memoryview, ranges: list[tuple[int, int]]) -> str:
    ranges = merged(ranges)
    style = ("font:12px ui-monospace,monospace;white-space:pre;margin:0;padding:4px;"
             "background:#f8f9fa;border:1px solid #dee2e6")
    rows = []
    for start, end in ranges:
        lo = max(0, start - CONTEXT)
        hi = min(end + CONTEXT, lo - lo % 16 + 16 * RANGE_LINES)
        left = "\n".join(_hex_lines(a, b, lo, min(hi, len(a)))) or "(beyond the end of a)"
        right = "\n".join(_hex_lines(b, a, lo, min(hi, len(b)))) or "(beyond the end of b)"
        cut = "<br>(first 256 shown)" if hi < end else ""
        rows.append(f'<tr><td style="{CELL}">0x{start:x}–0x{end:x}<br>({end - start:,} '
                    f'bytes){cut}</td><td style="{CELL}"><pre style="{style}">{left}</pre></td>'
                    f'<td style="{CELL}"><pre style="{style}">{right}</pre></td></tr>')
    return (f'<table style="border-collapse:collapse"><thead><tr><th style="{HEAD}">range'
            f'</th><th style="{HEAD}">a</th><th style="{HEAD}">b</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def _text_diff(ta: str, tb: str) -> str:
    lines = list(difflib.unified_diff(ta.splitlines(), tb.splitlines(), "a", "b", lineterm="",
                                      n=2))
    shown = lines[:DIFF_LINES]
    colours = {"+": "#e3f4e1", "-": RED, "@": AMBER}
    out = []
    for line in shown:
        bg = colours.get(line[:1], "") if not line.startswith(("+++", "---")) else ""
        style = f' style="background:{bg}"' if bg else ""
        out.append(f"<span{style}>{escape(line)}</span>")
    more = (f"\n… {len(lines) - len(shown):,} more diff lines" if len(lines) > len(shown)
            else "")
    return ('<pre style="font:12px ui-monospace,monospace;max-height:40em;overflow:auto;'
            'background:#f8f9fa;border:1px solid #dee2e6;padding:4px">'
            + "\n".join(out) + escape(more) + "</pre>")


def file_view(name: str, a: Member | None, b: Member | None, deep: str = "") -> FileView:
    """The drill-down of one entry; `a` or `b` is None when the entry is only on one side."""
    header = _header(a, b)
    if a is None or b is None:
        side, m = ("b", b) if a is None else ("a", a)
        assert m is not None
        return FileView(name, f"only-{side}", header,
                        f"<p>Only in {side}: {escape(m.entry.kind)}, {m.entry.filesize:,} "
                        "bytes.</p>", deep=deep)
    da, db = a.data, b.data
    if a.entry.kind != "file" or b.entry.kind != "file":
        body = ""
        if da != db:
            ta = escape(bytes(da[:300]).decode("utf-8", "replace"))
            tb = escape(bytes(db[:300]).decode("utf-8", "replace"))
            body = f"<p>Data (a symlink's target): <code>{ta}</code> → <code>{tb}</code></p>"
        return FileView(name, "special", header, body or "<p>No data differs.</p>", deep=deep)
    if da == db:
        return FileView(name, "equal", header, "<p>The content is equal; only the header "
                        "fields above differ.</p>", deep=deep)
    ranges = diff_ranges(da, db)
    if is_elf(da) and is_elf(db):
        from eifdiff.frames import elf_sections

        secs = elf_sections(elf_facts(da), elf_facts(db))
        differing = secs[~secs["equal"]]
        body = (f"<p>ELF: {len(differing):,} of {len(secs):,} sections differ.</p>"
                + Table(secs, row_colour=lambda r: RED if not r["equal"] else "",
                        pairs=False)._repr_html_()
                + "<h4>first differing bytes</h4>" + _hexdump(da, db, ranges[:3]))
        return FileView(name, "elf", header, body, tuple(ranges), deep)
    text_a, text_b = _text(da), _text(db)
    if text_a is not None and text_b is not None:
        return FileView(name, "text", header, _text_diff(text_a, text_b), tuple(ranges), deep)
    note = (f"<p>{len(ranges)} differing byte range{'s' if len(ranges) != 1 else ''}"
            f"{' (the first ' + str(MAX_RANGES) + ')' if len(ranges) >= MAX_RANGES else ''}"
            "; differing bytes in red.</p>")
    return FileView(name, "bytes", header, note + _hexdump(da, db, ranges), tuple(ranges), deep)
