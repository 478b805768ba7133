"""Verdicts and exit codes: unverified beats debug mode beats the PCR comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from eifdiff.attest.check import Expectation
from eifdiff.attest.explain import ZERO_HEX, ImagePcrs
from eifdiff.attest.outcome import attest, outcome_for
from eifdiff.attest.verify import load_root
from eifdiff.errors import FormatError
from eifdiff.image import open_image
from tests.attest.chain import (
    DEBUG,
    REAL,
    SAMPLES,
    SELF_SIGNED,
    sample_document,
    shared,
    write_root,
)

A, B = SAMPLES / "cpio-mtime" / "a.eif", SAMPLES / "cpio-mtime" / "b.eif"


def test_real_documents_without_image() -> None:
    assert (attest(shared(REAL[1])).verdict, attest(shared(REAL[1])).exit_code) == ("verified", 0)
    assert (attest(shared(DEBUG)).verdict, attest(shared(DEBUG)).exit_code) == ("debug-mode", 1)
    o = attest(shared(SELF_SIGNED), A)
    assert (o.verdict, o.exit_code) == ("unverified", 3) and o.explanation is not None


def test_test_chain_documents(tmp_path: Path) -> None:
    doc = tmp_path / "doc"
    doc.write_bytes(sample_document("cpio-mtime", "a"))
    root = load_root(write_root(tmp_path))
    assert attest(doc, A, root).verdict == "match" and attest(doc, A, root).exit_code == 0
    o = attest(doc, B, root)
    assert (o.verdict, o.exit_code) == ("mismatch", 1)
    assert o.explanation.differing == ("PCR0", "PCR2")
    assert attest(doc, A).verdict == "unverified"  # not AWS's root


def test_expectations_without_documents() -> None:
    image = ImagePcrs.of(open_image(A))
    same = Expectation("pcr-map", "x", {"PCR0": image.pcrs["PCR0"]})
    o = outcome_for("check", same, image)
    assert (o.verdict, o.exit_code, o.verification) == ("match", 0, None)
    zeros = Expectation("pcr-map", "x", {f"PCR{i}": ZERO_HEX for i in range(3)})
    assert outcome_for("check", zeros, image).verdict == "debug-mode"
    with pytest.raises(FormatError, match="x: none of PCR0, PCR1, PCR2, PCR8 is given"):
        outcome_for("check", Expectation("pcr-map", "x", {"PCR4": ZERO_HEX}), image)
