"""Expected PCRs from nitro-cli JSON, plain maps, flags and attestation documents."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from eifdiff.attest.check import expectation_from_flags, pcr_name, read_expectation
from eifdiff.describe import describe_json
from eifdiff.errors import FormatError
from eifdiff.image import open_image
from tests.attest.chain import SAMPLES, sample_document, shared

A = SAMPLES / "cpio-mtime" / "a.eif"


def _write(tmp_path: Path, name: str, doc: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def test_build_enclave_output(tmp_path: Path) -> None:
    pcrs = open_image(A).pcrs
    out = {"Measurements": {"HashAlgorithm": "Sha384 { ... }", **pcrs}}
    e = read_expectation(_write(tmp_path, "build.json", out))
    assert e.kind == "build-enclave" and e.pcrs == pcrs and e.document is None
    assert not e.debug_mode


def test_describe_eif_output(tmp_path: Path) -> None:
    signed = SAMPLES / "signature" / "a.eif"
    e = read_expectation(_write(tmp_path, "describe.json", describe_json(open_image(signed))))
    assert e.kind == "describe-eif" and e.pcrs == open_image(signed).pcrs
    assert set(e.pcrs) == {"PCR0", "PCR1", "PCR2", "PCR8"}


def test_describe_enclaves_output(tmp_path: Path) -> None:
    pcrs = open_image(A).pcrs
    e = read_expectation(_write(tmp_path, "enclaves.json", [{"EnclaveID": "i-x",
                                                             "Measurements": pcrs}]))
    assert e.kind == "describe-enclaves" and e.pcrs == pcrs
    with pytest.raises(FormatError, match="exactly one enclave"):
        read_expectation(_write(tmp_path, "two.json", [{"Measurements": pcrs}] * 2))


def test_plain_pcr_map_accepts_spellings(tmp_path: Path) -> None:
    pcrs = open_image(A).pcrs
    e = read_expectation(_write(tmp_path, "map.json", {"pcr0": pcrs["PCR0"].upper(),
                                                       "2": pcrs["PCR2"]}))
    assert e.kind == "pcr-map" and e.pcrs == {"PCR0": pcrs["PCR0"], "PCR2": pcrs["PCR2"]}
    assert pcr_name(" PCR8 ", "x") == "PCR8"


@pytest.mark.parametrize(("doc", "message"), [
    ({"PCR0": "abc"}, r"PCR0 is 'abc', expected 96 hex digits"),
    ({"PCR0": 5}, r"PCR0 is 'int', expected 96 hex digits"),
    ({"colour": "blue"}, r"'colour' is not a PCR name"),
    ({"PCR40": "00" * 48}, r"'PCR40' is not a PCR name"),
    ({"PCR1": "00" * 48, "pcr1": "00" * 48}, "PCR1 given twice"),
    ({}, "no PCR values found"),
    ({"Measurements": {"HashAlgorithm": "x"}}, "Measurements: no PCR values found"),
    ({"Measurements": []}, "Measurements is not a JSON object"),
    ("[1, 2]", "exactly one enclave"),
    ("{\"PCR0\": ", "not valid JSON"),
    ("[" * 100_000, "not valid JSON"),
])
def test_bad_json_is_one_line(tmp_path: Path, doc: object, message: str) -> None:
    with pytest.raises(FormatError, match=message) as exc:
        read_expectation(_write(tmp_path, "bad.json", doc))
    assert "\n" not in str(exc.value) and str(exc.value).startswith(str(tmp_path))


def test_attestation_document_as_expectation(tmp_path: Path) -> None:
    path = tmp_path / "doc.b64"
    path.write_bytes(base64.b64encode(sample_document("cpio-mtime")))
    e = read_expectation(path)
    assert e.kind == "attestation" and e.document is not None
    assert e.pcrs["PCR0"] == open_image(A).pcrs["PCR0"] and len(e.pcrs) == 16
    real = read_expectation(shared("doc-2022-10-13.cbor"))
    assert real.kind == "attestation" and real.pcrs["PCR0"].startswith("f4d48b81")
    assert read_expectation(shared("doc-2024-09-07-debug.b64")).debug_mode


def test_flags() -> None:
    pcrs = open_image(A).pcrs
    e = expectation_from_flags({"PCR0": pcrs["PCR0"], "PCR1": None, "PCR2": None, "PCR8": None})
    assert e.kind == "flags" and e.pcrs == {"PCR0": pcrs["PCR0"]}
    with pytest.raises(FormatError, match="give --expect FILE or at least one"):
        expectation_from_flags({"PCR0": None})
