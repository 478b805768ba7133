"""Reading attestation documents: encodings, the real documents' claims, and bounded decoding of
hostile bytes (truncation, tags, array lengths, nesting, sizes)."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import cbor2
import pytest

from eifdiff.attest.document import (
    MAX_DEPTH,
    MAX_DOCUMENT,
    MAX_FILE,
    decode_document,
    decode_text,
    read_document,
    scan_cbor,
)
from eifdiff.errors import FormatError
from tests.attest.chain import DEBUG, REAL, SELF_SIGNED, DocumentSpec, shared


def _doc() -> bytes:
    return DocumentSpec(user_data=b"user", public_key=b"\x04" * 97).build()


# --- the real documents --------------------------------------------------------------------------
EXPECTED = {  # file: (encoding, module id, timestamp ms, PCR0 prefix, PCR8 prefix or None)
    "doc-2022-10-13.cbor": ("cbor", "i-020b6af9246d90e92-enc0183d09086c24190", 1665651482136,
                            "f4d48b81", "8790eb3c"),
    "doc-2024-09-07.b64": ("base64", "i-0a22e5c5f24d22174-enc0191cceb4289903f", 1725719859545,
                           "e72a46ca", None),
    "doc-2025-05-19.b64": ("base64", "i-0e714770daf181058-enc0196e9dd26f02345", 1747680459934,
                           "0f95e7a3", "6b3e6d52"),
}


@pytest.mark.parametrize("name", REAL)
def test_real_documents_decode(name: str) -> None:
    doc = read_document(shared(name))
    encoding, module_id, ts, pcr0, pcr8 = EXPECTED[name]
    assert (doc.encoding, doc.module_id, doc.timestamp, doc.digest) == (
        encoding, module_id, ts, "SHA384")
    assert doc.algorithm == -35 and not doc.tagged and doc.cose[0] == 0x84
    assert sorted(doc.pcrs) == list(range(16)) and all(len(v) == 48 for v in doc.pcrs.values())
    assert doc.pcr_hex(0).startswith(pcr0)
    assert (doc.pcr_hex(8).startswith(pcr8) if pcr8 else doc.pcrs[8] == bytes(48))
    assert len(doc.signature) == 96 and len(doc.cabundle) == 4
    assert not doc.debug_mode


def test_real_document_details() -> None:
    doc = read_document(shared("doc-2024-09-07.b64"))
    assert doc.pcr_hex(1).startswith("0343b056") and doc.pcr_hex(2).startswith("d5dcbdea")
    assert any(doc.pcrs[4]) and not any(doc.pcrs[3])
    assert (len(doc.public_key), len(doc.user_data), len(doc.nonce)) == (1024, 1024, 1024)
    assert doc.time.isoformat() == "2024-09-07T14:37:39.545000+00:00"
    old = read_document(shared("doc-2022-10-13.cbor"))
    assert old.public_key is None and old.user_data is None and len(old.nonce) == 256


def test_debug_document_has_zero_pcr0_to_2() -> None:
    doc = read_document(shared(DEBUG))
    assert doc.debug_mode
    assert all(doc.pcrs[i] == bytes(48) for i in (0, 1, 2)) and any(doc.pcrs[4])


def test_self_signed_document_has_no_cabundle() -> None:
    doc = read_document(shared(SELF_SIGNED))
    assert doc.cabundle is None and doc.unprotected is None and len(doc.pcrs) == 32


# --- encodings ---------------------------------------------------------------------------------
def test_raw_base64_and_hex_give_the_same_document(tmp_path: Path) -> None:
    raw = _doc()
    forms = {
        "cbor": raw,
        "base64": base64.b64encode(raw) + b"\n",
        "hex": raw.hex().encode() + b"\n",
    }
    docs = {}
    for kind, data in forms.items():
        path = tmp_path / kind
        path.write_bytes(data)
        docs[kind] = read_document(path)
        assert docs[kind].encoding == kind
    assert docs["cbor"].cose == docs["base64"].cose == docs["hex"].cose == raw
    encoded = base64.urlsafe_b64encode(raw).rstrip(b"=")
    wrapped = b"\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
    assert decode_text(wrapped, "x") == (raw, "base64")


def test_tagged_document_is_read() -> None:
    doc = decode_document(DocumentSpec(tagged=True).build())
    assert doc.tagged and doc.cose[0] == 0xD2


@pytest.mark.parametrize("data", [b"", b" \n", b"AAA=\x00"])
def test_empty_or_garbled_text_is_refused(data: bytes) -> None:
    with pytest.raises(FormatError):
        decode_document(*decode_text(data, "f")[:1], "f")


# --- hostile bytes -------------------------------------------------------------------------------
def test_every_truncation_is_a_one_line_error() -> None:
    raw = _doc()
    for n in range(len(raw)):
        with pytest.raises(FormatError) as exc:
            decode_document(raw[:n], "doc")
        assert "\n" not in str(exc.value) and str(exc.value).startswith("doc: ")
    with pytest.raises(FormatError, match=r"byte string of \d+ bytes at offset \d+ runs past"):
        decode_document(raw[:-10], "doc")


def test_wrong_tag_is_refused() -> None:
    body = cbor2.loads(_doc())
    with pytest.raises(FormatError, match=r"unexpected CBOR tag 61 at offset 0 \(expected "
                       r"COSE_Sign1, tag 18\)"):
        decode_document(cbor2.dumps(cbor2.CBORTag(61, body)), "doc")
    inner = [body[0], {1: cbor2.CBORTag(1, 0)}, body[2], body[3]]
    with pytest.raises(FormatError, match="unexpected CBOR tag 1 at offset"):
        decode_document(cbor2.dumps(inner), "doc")


@pytest.mark.parametrize("length", [0, 3, 5])
def test_wrong_array_length_is_refused(length: int) -> None:
    body = [*cbor2.loads(_doc()), b"x"]
    with pytest.raises(FormatError, match=f"array of {length} items, expected 4"):
        decode_document(cbor2.dumps(body[:length]), "doc")


@pytest.mark.parametrize(("change", "message"), [
    ({"digest": "SHA256"}, "digest 'SHA256' is not SHA384"),
    ({"timestamp": "now"}, "timestamp is str, expected int"),
    ({"module_id": None}, "module_id is absent, expected str"),
    ({"pcrs": {0: b"x" * 47}}, "PCR0 is 47, expected 48 bytes"),
    ({"pcrs": {40: bytes(48)}}, "PCR index 40 is not an integer"),
    ({"pcrs": {}}, "pcrs is not a non-empty map"),
    ({"cabundle": [b"x", 3]}, "cabundle is not an array of byte strings"),
    ({"user_data": "text"}, "user_data is str, expected bytes or null"),
    ({"cabundle": [b"x"] * 33}, "cabundle holds 33 certificates, more than 32"),
])
def test_bad_claims_are_refused(change: dict, message: str) -> None:
    raw = DocumentSpec(extra=change).build()
    with pytest.raises(FormatError, match=message):
        decode_document(raw, "doc")


def test_payload_and_envelope_types_are_checked() -> None:
    body = list(cbor2.loads(_doc()))
    for i, what in ((0, "protected header"), (2, "payload"), (3, "signature")):
        bad = list(body)
        bad[i] = "text"
        with pytest.raises(FormatError, match=f"COSE_Sign1 {what} is str, expected bytes"):
            decode_document(cbor2.dumps(bad), "doc")
    with pytest.raises(FormatError, match="payload: not a CBOR map"):
        decode_document(cbor2.dumps([body[0], {}, cbor2.dumps([1]), body[3]]), "doc")
    with pytest.raises(FormatError, match="COSE_Sign1 is a CBOR dict"):
        decode_document(cbor2.dumps({1: 2}), "doc")
    with pytest.raises(FormatError, match="3 bytes after the CBOR item"):
        decode_document(_doc() + b"\x00\x00\x00", "doc")


def test_deep_nesting_is_refused_before_decoding() -> None:
    deep = b"\x81" * 100_000 + b"\x00"  # 100 000 nested arrays: a recursive decoder would crash
    start = time.process_time()
    with pytest.raises(FormatError, match=f"nested deeper than {MAX_DEPTH} levels"):
        decode_document(deep, "doc")
    body = list(cbor2.loads(_doc()))
    nested: object = 0
    for _ in range(MAX_DEPTH + 2):
        nested = [nested]
    with pytest.raises(FormatError, match="nested deeper"):
        decode_document(cbor2.dumps([body[0], {2: nested}, body[2], body[3]]), "doc")
    assert time.process_time() - start < 1


def test_claimed_sizes_are_not_allocated() -> None:
    # an array claiming 2**32 items, a byte string claiming 2**62 bytes, a map of 2**31 pairs
    for data in (b"\x9a\xff\xff\xff\xff\x00", b"\x5b" + (1 << 62).to_bytes(8, "big") + b"ab",
                 b"\xba\x80\x00\x00\x00\x01\x02"):
        with pytest.raises(FormatError, match="truncated"):
            decode_document(data, "doc")
    with pytest.raises(FormatError, match="indefinite-length"):
        decode_document(b"\x9f\x01\xff", "doc")
    with pytest.raises(FormatError, match="reserved CBOR additional information"):
        scan_cbor(b"\x1c", "doc")


def test_huge_documents_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=f"beyond the {MAX_DOCUMENT}-byte limit"):
        decode_document(b"\x84" + bytes(MAX_DOCUMENT), "doc")
    big = tmp_path / "big.cbor"
    with open(big, "wb") as f:  # sparse: nothing is written, nothing is read
        f.truncate(MAX_FILE + 1)
    with pytest.raises(FormatError, match=f"beyond the {MAX_FILE}-byte limit"):
        read_document(big)
    with pytest.raises(FormatError, match="cannot read"):
        read_document(tmp_path / "missing")
