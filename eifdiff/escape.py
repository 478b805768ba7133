"""Escaping of untrusted text for each output medium, in one place.

Names, link targets, versions, metadata strings, certificate fields and kernel banners come
from the images and may hold anything a file system or a JSON string can: control characters,
newlines, Markdown, HTML, bytes that are not UTF-8 (read with `surrogateescape`, so byte 0xNN
is the code point U+DCNN) and, from JSON escapes, lone surrogates.

The one scheme, for every medium:

- an undecodable byte 0xNN (U+DC80..U+DCFF) is shown as the four characters `\\xNN`;
- any other lone surrogate U+D800..U+DFFF as the six characters `\\udXXX`;
- in text, every other character that is not printable (`str.isprintable`: controls, format
  characters such as the bidirectional controls and zero-width spaces, separators other than the
  space, private-use and unassigned code points): `\\n`, `\\r`, `\\t`, `\\b`, `\\a`, `\\f`,
  `\\v`, `\\0` for those controls, else `\\xNN`, `\\uXXXX` or `\\UXXXXXXXX` by size.

A backslash already in the text is left alone, so the escaping is for display and is not
reversible; the raw bytes stay available in the unpacked tree and in the image itself. JSON
strings get only the surrogate part of the scheme (JSON escapes control characters itself),
so JSON output is always valid UTF-8; see `json_dumps`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\a": "\\a", "\f": "\\f",
          "\v": "\\v", "\0": "\\0"}
_BIDI = "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_SURROGATES = "\ud800-\udfff"
_SURROGATE = re.compile(f"[{_SURROGATES}]")
_JSON_UNSAFE = re.compile(f"[\x7f-\x9f{_BIDI}]")


def _surrogate(ch: str) -> str:
    n = ord(ch)
    return f"\\x{n - 0xDC00:02x}" if 0xDC80 <= n <= 0xDCFF else f"\\u{n:04x}"


def _visible(ch: str) -> str:
    n = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    if 0xD800 <= n <= 0xDFFF:
        return _surrogate(ch)
    return f"\\x{n:02x}" if n <= 0xFF else f"\\u{n:04x}" if n <= 0xFFFF else f"\\U{n:08x}"


def _text(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "surrogateescape")
    return value if isinstance(value, str) else str(value)


def terminal(value: object, *, keep: str = "") -> str:
    """`value` as one line of printable text: every character that is not printable (controls,
    separators, bidirectional and other format characters, undecodable bytes, lone surrogates)
    shown as an escape (bytes are read as UTF-8); the characters in `keep` (say `\n` for a
    block of lines) are left as they are."""
    text = _text(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in keep else _visible(ch) for ch in text)


def no_surrogates(value: object) -> str:
    """`value` with undecodable bytes as `\\xNN` and lone surrogates as `\\udXXX`, nothing
    else changed: a string that always encodes as UTF-8."""
    return _SURROGATE.sub(lambda m: _surrogate(m.group()), _text(value))


# Markdown (GitHub-flavoured): what opens something GitHub renders. Emphasis, strikethrough,
# code, math and table cells by their characters; inline links and images by `](` and `![`;
# HTML tags, entities and autolinks by `&`, `<` and `>` (as entities); headings, quotes, lists,
# setext lines and link reference definitions by a leading character.
_MD_CHAR = re.compile(r"[\\`*_~$|]|\](?=\()|!(?=\[)")
_MD_LEAD = (re.compile(r"^(\s*)([#+=\[-])"), re.compile(r"^(\s*\d+)([.)])"))


def markdown(value: object) -> str:
    """`value` as inline Markdown text that renders as itself: `terminal` escaping, then a
    backslash before each character that would start emphasis, code, math, a link, an image
    or a table cell; `&`, `<` and `>` as entities (no HTML, entities or autolinks); a leading
    `#`, `-`, `+`, `=`, `[` (a link definition) or list number made literal."""
    text = _MD_CHAR.sub(lambda m: "\\" + m.group(), terminal(value))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for lead in _MD_LEAD:
        text = lead.sub(r"\1\\\2", text, count=1)
    return text


def markdown_code(value: object, *, table: bool = False) -> str:
    """`value` as an inline code span (monospace, nothing rendered inside): `terminal`
    escaping, fenced by more backticks than the longest run in it; in a table cell `|` is
    escaped (GitHub splits cells before reading code spans)."""
    text = terminal(value)
    if not text:
        return "` `"
    longest = max((len(r) for r in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or text[:1] == " " else ""
    if table:
        text = text.replace("|", "\\|")
    return f"{fence}{pad}{text}{pad}{fence}"


# JSON: standard JSON only (no NaN or Infinity), integers a 64-bit reader keeps exactly.
INT_MIN, INT_MAX = -(1 << 63), (1 << 64) - 1
MAX_DEPTH = 200


def _int(n: int) -> int | str:
    if INT_MIN <= n <= INT_MAX:
        return n
    if n.bit_length() > 4096:
        return f"{'-' if n < 0 else ''}<integer of {n.bit_length()} bits>"
    return hex(n)  # no digit limit for base 16; decimal may raise past 4300 digits


def _float(x: float) -> float | str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def json_safe(value: Any, _depth: int = 0) -> Any:
    """`value` with only what standard JSON holds: strings without surrogates (the module's
    scheme), NaN and infinities as the strings `NaN`, `Infinity`, `-Infinity`, integers outside
    [-2**63, 2**64-1] as hexadecimal strings, bytes as text (UTF-8, undecodable bytes escaped),
    keys as strings, tuples and sets as lists, anything else as its `str`; nesting deeper than
    `MAX_DEPTH` as the string `<nested too deep>`."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return _int(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return no_surrogates(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return no_surrogates(value)
    if _depth >= MAX_DEPTH:
        return "<nested too deep>"
    if isinstance(value, Mapping):
        return {_key(k): json_safe(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v, _depth + 1) for v in value]
    return no_surrogates(str(value))


def _key(k: object) -> str:
    if isinstance(k, str):
        return no_surrogates(k)
    if k is None or isinstance(k, bool):
        return json.dumps(k)
    safe = json_safe(k, MAX_DEPTH)
    return safe if isinstance(safe, str) else json.dumps(safe)


def json_dumps(value: Any, *, indent: int | None = 2,
               separators: tuple[str, str] | None = None) -> str:
    """Standard JSON text of `value` (through `json_safe`, `allow_nan=False`): valid UTF-8
    once encoded; DEL, C1, separators and bidirectional controls are written as `\\uXXXX`
    escapes, so printing it to a terminal cannot drive the terminal."""
    text = json.dumps(json_safe(value), indent=indent, ensure_ascii=False, allow_nan=False,
                      separators=separators)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
