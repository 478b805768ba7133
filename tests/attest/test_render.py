"""Rendering: escaping of what the document's maker controls, byte previews, shown PCRs."""

from __future__ import annotations

from pathlib import Path

from eifdiff.attest.document import decode_document
from eifdiff.attest.outcome import attest
from eifdiff.attest.render import blob, blob_text, outcome_markdown, outcome_text, shown_pcrs
from eifdiff.attest.verify import load_root
from eifdiff.escape import markdown, terminal
from tests.attest.chain import DocumentSpec, write_root


def test_text_and_markdown_use_the_one_escaping_scheme(tmp_path: Path) -> None:
    """The document's maker controls module ids and certificate names: the attest views escape
    them exactly as every other eifdiff output does (`eifdiff.escape`)."""
    evil = "i-\x1b[2J\u202eevil\u200b|`*_[x](y)"
    path = tmp_path / "doc.cbor"
    path.write_bytes(DocumentSpec(module_id=evil).build())
    outcome = attest(path, None, load_root(write_root(tmp_path)))
    assert f"module     {terminal(evil)}" in outcome_text(outcome)
    assert markdown(evil) in outcome_markdown(outcome)
    assert "\x1b" not in outcome_text(outcome) + outcome_markdown(outcome)


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
