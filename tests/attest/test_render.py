"""Rendering: escaping of what the document's maker controls, byte previews, shown PCRs."""

from __future__ import annotations

from eifdiff.attest.document import decode_document
from eifdiff.attest.render import blob, blob_text, md, shown_pcrs, visible
from tests.attest.chain import DocumentSpec


def test_visible_escapes_controls_and_invisibles() -> None:
    assert visible("plain text é 漢") == "plain text é 漢"
    assert visible("a\x1b[2Jb\x07\x00\x7f\x9b") == "a\\x1b[2Jb\\x07\\x00\\x7f\\x9b"
    assert visible("\u202eevil\u200b\u2028") == "\\u202eevil\\u200b\\u2028"
    assert visible("tab\tnl\ncr\r") == "tab\\x09nl\\x0acr\\x0d"
    assert visible("back\\slash") == "back\\\\slash"  # so an escape cannot be forged
    assert visible("\U000e0041") == "\\U000e0041"


def test_markdown_escapes_its_syntax_too() -> None:
    assert md("a|b`c*d_e[f]g<h>&") == "a\\|b\\`c\\*d\\_e\\[f\\]g&lt;h&gt;&amp;"
    assert md("\x1b") == "\\\\x1b"


def test_blob_previews() -> None:
    assert blob(None) is None and blob_text(None) == "absent (null)"
    assert blob_text(b"") == "0 bytes"
    b = blob(bytes(range(40)))
    assert b["size"] == 40 and b["hex_preview"] == bytes(range(16)).hex()
    assert b["text_preview"] is None
    assert blob_text(bytes(range(40))) == f"40 bytes, hex {bytes(range(16)).hex()}…"
    assert blob(b"hello")["text_preview"] == "hello"
    long = ("é" * 100).encode()
    assert blob(long)["text_preview"] == "é" * 48  # a cut multi-byte character is not fatal
    assert blob_text(long).endswith('text "' + "é" * 48 + '"…')


def test_shown_pcrs_are_0_to_4_8_and_non_zero_others() -> None:
    pcrs = {i: bytes(48) for i in range(16)}
    pcrs[11] = b"\x01" * 48
    doc = decode_document(DocumentSpec(pcrs=pcrs).build())
    assert shown_pcrs(doc) == [0, 1, 2, 3, 4, 8, 11]
