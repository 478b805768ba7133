"""`eifdiff.escape`: untrusted text made visible in a terminal, inert in Markdown and strict in
JSON, with one scheme for undecodable bytes (`\\xNN`) and lone surrogates (`\\udXXX`)."""

from __future__ import annotations

import html
import json
import math
import re

import pytest

from eifdiff.escape import (
    json_dumps,
    json_safe,
    markdown,
    markdown_code,
    no_surrogates,
    terminal,
)

HOSTILE = "a\x1b[31mred\x07\x08\r\nverdict: identical\x7f\x9b2J\x00\udcff\u202egnp.exe"


def _strict(text: str) -> object:
    def refuse(name: str) -> object:
        raise ValueError(f"non-standard constant {name}")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(("raw", "shown"), [
    ("\x1b", "\\x1b"), ("\x07", "\\a"), ("\x08", "\\b"), ("\r", "\\r"), ("\n", "\\n"),
    ("\t", "\\t"), ("\x00", "\\0"), ("\x7f", "\\x7f"), ("\x9b", "\\x9b"), ("\x85", "\\x85"),
    ("\udcff", "\\xff"), ("\udc80", "\\x80"), ("\ud800", "\\ud800"), ("\u202e", "\\u202e"),
    ("\u2028", "\\u2028"), ("\u2066", "\\u2066"), ("plain/ascii-1.0", "plain/ascii-1.0"),
    ("caf\u00e9 \u65e5\u672c", "caf\u00e9 \u65e5\u672c"), ("back\\slash", "back\\slash"),
    # every other character that is not printable: format, separators, private use, unassigned
    ("\u200b", "\\u200b"), ("\ufeff", "\\ufeff"), ("\u00a0", "\\xa0"), ("\u3000", "\\u3000"),
    ("\ue000", "\\ue000"), ("\U000e0041", "\\U000e0041"), ("\U0010ffff", "\\U0010ffff"),
])
def test_terminal_each_character(raw: str, shown: str) -> None:
    assert terminal(raw) == shown


def test_terminal_leaves_nothing_a_terminal_acts_on() -> None:
    out = terminal(HOSTILE)
    assert "\n" not in out and "\r" not in out
    assert all(ch.isprintable() for ch in out), out
    assert out.encode("utf-8")  # no surrogate left
    assert out == ("a\\x1b[31mred\\a\\b\\r\\nverdict: identical\\x7f\\x9b2J\\0\\xff\\u202egnp.exe")


def test_terminal_reads_bytes_as_utf8() -> None:
    assert terminal(b"ok \xc3\xa9 \xff\x1b") == "ok \u00e9 \\xff\\x1b"
    assert no_surrogates(b"\xfe/x") == "\\xfe/x"
    assert no_surrogates("a\x1b\udc80") == "a\x1b\\x80"  # only surrogates change


@pytest.mark.parametrize("raw", [
    "![pixel](https://evil.example/t.png)", "[click](javascript:alert(1))", "<img src=x>",
    "*em* _em_ **b** ~~s~~", "`code`", "a | b", "# heading", "> quote", "- item", "1. item",
    "&amp; &#60;", "https://evil.example", "user@evil.example", "$x^2$", "[ref]: http://e",
])
def test_markdown_renders_as_itself(raw: str) -> None:
    out = markdown(raw)
    # what is left once each escaped character and each entity of ours is a harmless letter
    plain = re.sub(r"&(amp|lt|gt);", "X", re.sub(r"\\(.)", "X", out))
    for opener in ("![", "](", "<", ">", "&", "*", "_", "`", "~", "|", "$"):
        assert opener not in plain, (opener, out)
    assert not re.match(r"\s*([#+=\[-]|\d+[.)])", plain), out
    assert html.unescape(re.sub(r"\\(.)", r"\1", out)) == raw  # and it reads as the text


def test_markdown_escapes_controls_first() -> None:
    assert markdown("x\n# forged") == "x\\\\n# forged"  # one line: `#` is not at its start
    assert markdown("# forged") == "\\# forged"
    assert "\n" not in markdown(HOSTILE)


def test_markdown_code() -> None:
    assert markdown_code("usr/bin/app") == "`usr/bin/app`"
    assert markdown_code("a`b") == "``a`b``"
    assert markdown_code("`x``") == "``` `x`` ```"
    assert markdown_code("a|b", table=True) == "`a\\|b`"
    assert markdown_code("x\ny") == "`x\\ny`"
    assert markdown_code("") == "` `"


def test_json_safe_values() -> None:
    doc = json_safe({
        "nan": math.nan, "inf": math.inf, "-inf": -math.inf, "big": 2**200, "neg": -(2**70),
        "u64": 2**64 - 1, "huge": 2**20000, "name": "x\udcff\ud800", b"k\xff": b"v\xfe",
        1: (1, 2), "set": frozenset({3}), None: True,
    })
    assert doc == {
        "nan": "NaN", "inf": "Infinity", "-inf": "-Infinity", "big": hex(2**200),
        "neg": hex(-(2**70)), "u64": 2**64 - 1, "huge": "<integer of 20001 bits>",
        "name": "x\\xff\\ud800", "k\\xff": "v\\xfe", "1": [1, 2], "set": [3], "null": True,
    }


def test_json_safe_bounds_nesting() -> None:
    deep: list = []
    cur = deep
    for _ in range(10_000):
        cur.append([])
        cur = cur[0]
    text = json_dumps(deep, indent=None)
    assert "<nested too deep>" in text
    assert text.count("[") <= 201


def test_json_dumps_is_strict_utf8() -> None:
    text = json_dumps({"a": HOSTILE, "n": math.nan, "i": 2**100})
    raw = text.encode("utf-8")  # strict: no surrogates
    assert raw.decode("utf-8") == text
    assert _strict(text) == {
        "a": "a\x1b[31mred\x07\x08\r\nverdict: identical\x7f\x9b2J\x00\\xff\u202egnp.exe",
        "n": "NaN", "i": hex(2**100),
    }
    # nothing a terminal would act on is written raw
    assert not any(ch in text for ch in "\x1b\x07\x08\r\x7f\x9b\u202e")
    assert "\\u009b" in text and "\\u202e" in text and "\\u001b" in text
