"""eifdiff.formats.signature: the CBOR signature section, COSE_Sign1, certificates."""

from __future__ import annotations

from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from eifdiff.errors import FormatError
from eifdiff.formats import signature as sig
from eifdiff.formats.eif import SectionType, parse_layout
from eifdiff.measure import measure_chunks
from tests.helpers import Vector, self_signed

# eif-format.md §11.1 (aws/aws-nitro-enclaves-image-format src/utils/cbor.rs)
PCR_INFO_HEX = (
    "a26e72656769737465725f696e646578006e72656769737465725f76616c75659830000102030405060708090a"
    "0b0c0d0e0f101112131415161718181819181a181b181c181d181e181f18201821182218231824182518261827"
    "18281829182a182b182c182d182e182f"
)
SECTION_HEX = (
    "81a2737369676e696e675f6365727469666963617465983b182d182d182d182d182d1842184518471849184e18"
    "2018431845185218541849184618491843184118541845182d182d182d182d182d0a184d1849184918420a182d"
    "182d182d182d182d1845184e1844182018431845185218541849184618491843184118541845182d182d182d18"
    "2d182d0a697369676e61747572658a18d21884184418a1011838182218a018401840"
)
DUMMY_PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _signature_section(vec: Vector) -> bytes:
    data = vec.data
    s = parse_layout(data, vec.name).one(SectionType.SIGNATURE)
    assert s is not None
    return data[s.data_offset : s.end]


def test_published_pcr_info_vector() -> None:
    assert sig.encode_payload(0, bytes(range(48))).hex() == PCR_INFO_HEX
    assert len(bytes.fromhex(PCR_INFO_HEX)) == 106


def test_published_signature_section_vector() -> None:
    entry = sig.PcrSignature(DUMMY_PEM, bytes.fromhex("d28444a101382" "2a04040"))
    raw = sig.encode_signature_section([entry])
    assert raw.hex() == SECTION_HEX
    assert sig.decode_signature_section(raw) == [entry]


def test_arrays_of_ints_and_byte_strings_both_decode() -> None:
    raw = sig.encode_signature_section([sig.PcrSignature(b"\x00\x17\x18\xff", b"\x01")])
    doc = cbor2.loads(raw)
    assert doc == [{"signing_certificate": [0, 0x17, 0x18, 0xFF], "signature": [1]}]
    assert list(doc[0]) == ["signing_certificate", "signature"]
    as_bstr = cbor2.dumps([{"signing_certificate": b"\x00\x17\x18\xff", "signature": b"\x01"}])
    assert sig.decode_signature_section(as_bstr) == sig.decode_signature_section(raw)
    payload = sig.CoseSign1(b"", {}, cbor2.dumps({"register_index": 0,
                                                  "register_value": b"\x05" * 48}), b"", False)
    assert sig.decode_payload(payload) == sig.PcrPayload(0, b"\x05" * 48)


def test_vector_signature_decodes_and_verifies(signed_vec: Vector) -> None:
    raw = _signature_section(signed_vec)
    assert raw[:1] == b"\x81"  # array(1)
    entries = sig.decode_signature_section(raw)
    assert len(entries) == 1
    assert entries[0].certificate_pem == (signed_vec.root / "inputs" / "cert.pem").read_bytes()
    assert sig.encode_signature_section(entries) == raw  # writer is byte exact on this section
    cose = sig.decode_cose(entries[0].cose_bytes)
    assert not cose.tagged and cose.algorithm == -35 and cose.algorithm_name == "ES384"
    assert cose.protected == bytes.fromhex("a1013822") and cose.unprotected == {}
    assert len(cose.signature) == 96
    assert cose.encode() == entries[0].cose_bytes
    payload = sig.decode_payload(cose)
    pcr0 = bytes.fromhex(signed_vec.expected["Measurements"]["PCR0"])
    assert payload == sig.PcrPayload(0, pcr0)
    assert cose.payload == sig.encode_payload(0, pcr0)
    cert = sig.load_certificate(entries[0].certificate_pem)
    assert sig.verify_cose(cose, cert)
    assert sig.certificate_info(cert) == signed_vec.expected["SigningCertificate"]
    pcr8 = measure_chunks([sig.certificate_der(cert)]).hex()
    assert pcr8 == signed_vec.expected["Measurements"]["PCR8"]


@pytest.mark.parametrize(("curve", "alg", "size"), [
    (ec.SECP384R1(), "ES384", 48), (ec.SECP256R1(), "ES256", 32), (ec.SECP521R1(), "ES512", 66),
])
def test_sign_verify_roundtrip(curve: ec.EllipticCurve, alg: str, size: int) -> None:
    key = ec.generate_private_key(curve)
    cert = self_signed(key)
    pcr0 = bytes(range(48))
    cose = sig.sign_pcr0(pcr0, key)
    assert cose.algorithm_name == alg and len(cose.signature) == 2 * size
    assert sig.verify_cose(cose, cert)
    back = sig.decode_cose(cose.encode())
    assert back == cose and sig.verify_cose(back, cert)
    assert sig.decode_payload(back) == sig.PcrPayload(0, pcr0)
    # tampering: signature, payload, algorithm, wrong key
    bad = bytearray(cose.signature)
    bad[-1] ^= 1
    assert not sig.verify_cose(sig.CoseSign1(cose.protected, {}, cose.payload, bytes(bad),
                                             False), cert)
    other = sig.encode_payload(0, bytes(48))
    assert not sig.verify_cose(sig.CoseSign1(cose.protected, {}, other, cose.signature,
                                             False), cert)
    assert not sig.verify_cose(sig.CoseSign1(cbor2.dumps({1: -7 if alg != "ES256" else -35}),
                                             {}, cose.payload, cose.signature, False), cert)
    stranger = self_signed(ec.generate_private_key(curve))
    assert not sig.verify_cose(cose, stranger)


def test_deterministic_signing() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    pcr0 = b"\x42" * 48
    a = sig.sign_pcr0(pcr0, key, deterministic=True)
    b = sig.sign_pcr0(pcr0, key, deterministic=True)
    assert a.encode() == b.encode()
    assert sig.verify_cose(a, self_signed(key))
    c = sig.sign_pcr0(pcr0, key)
    assert c.signature != a.signature  # the default is randomised, like the reference signer
    assert c.payload == a.payload and c.protected == a.protected


def test_unsupported_curve() -> None:
    with pytest.raises(ValueError):
        sig.sign_pcr0(bytes(48), ec.generate_private_key(ec.SECP256K1()))


def test_tagged_cose_accepted() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cose = sig.sign_pcr0(bytes(48), key)
    tagged = cbor2.dumps(cbor2.CBORTag(18, [cose.protected, {}, cose.payload, cose.signature]))
    back = sig.decode_cose(tagged)
    assert back.tagged and back.encode() == tagged
    assert sig.verify_cose(back, self_signed(key))


@pytest.mark.parametrize("raw", [
    b"", b"\xff", cbor2.dumps([]), cbor2.dumps({}), cbor2.dumps([{"signature": [1]}]),
    cbor2.dumps([{"signing_certificate": "text", "signature": [1]}]),
    cbor2.dumps([{"signing_certificate": [256], "signature": [1]}]),
])
def test_malformed_signature_sections(raw: bytes) -> None:
    with pytest.raises(FormatError):
        sig.decode_signature_section(raw, where="sig at offset 5")


@pytest.mark.parametrize("raw", [
    cbor2.dumps(cbor2.CBORTag(98, [])), cbor2.dumps([b"", {}, b""]),
    cbor2.dumps([b"", {}, "payload", b""]), b"\x84",
])
def test_malformed_cose(raw: bytes) -> None:
    with pytest.raises(FormatError):
        sig.decode_cose(raw)


def test_published_tagged_cose_shell_decodes() -> None:
    """The dummy COSE shell of eif-format.md §11.1 is a tagged (18) COSE_Sign1."""
    cose = sig.decode_cose(bytes.fromhex("d28444a101382" "2a04040"))
    assert cose.tagged
    assert (cose.protected, cose.payload, cose.signature) == (bytes.fromhex("a1013822"), b"", b"")
    assert dict(cose.unprotected) == {}
    assert cose.algorithm_name == "ES384"


def test_malformed_payload_and_certificate() -> None:
    for payload in (b"\x01", cbor2.dumps({"register_index": "0"}), cbor2.dumps([1])):
        with pytest.raises(FormatError):
            sig.decode_payload(sig.CoseSign1(b"", {}, payload, b"", False))
    with pytest.raises(FormatError):
        sig.load_certificate(DUMMY_PEM)
    with pytest.raises(FormatError):
        sig.decode_signature_section(b"\x9a\xff\xff\xff\xff")  # array of 2**32-1, then nothing


def test_unknown_algorithm_does_not_verify(inputs_dir: Path) -> None:
    cert = sig.load_certificate((inputs_dir / "cert.pem").read_bytes())
    for protected in (b"", cbor2.dumps({1: -999}), b"\xff", cbor2.dumps([1])):
        cose = sig.CoseSign1(protected, {}, b"", bytes(96), False)
        assert not sig.verify_cose(cose, cert)
        assert cose.algorithm_name.startswith("unknown")


def test_certificate_info_shape() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    info = sig.certificate_info(self_signed(key, cn="x"))
    assert list(info) == ["IssuerName", "Algorithm", "NotBefore", "NotAfter", "Signature"]
    assert info["IssuerName"] == {"commonName": "x", "organizationName": "eifdiff"}
    assert info["Algorithm"] == "ecdsa-with-SHA256"
    assert info["NotBefore"] == "Jan  1 00:00:00 2024 GMT"
    assert info["NotAfter"] == "Jan 31 00:00:00 2024 GMT"
    assert all(len(b) == 2 for b in info["Signature"].split(":"))
