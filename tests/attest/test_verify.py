"""Verification: the real AWS documents at their own time, and every way a document can fail
(self-signed, altered, non-ES384, bad cabundle, another root, outside validity)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from eifdiff.attest.document import decode_document, read_document
from eifdiff.attest.verify import AWS_ROOT_SHA256, aws_root, load_root, verify_document
from eifdiff.errors import FormatError
from tests.attest.chain import (
    DEBUG,
    DOC_TIME,
    REAL,
    SELF_SIGNED,
    T0,
    DocumentSpec,
    chain,
    der,
    make_cert,
    make_chain,
    ms,
    other_chain,
    shared,
    write_root,
)


def _verify(raw: bytes, root=None):
    return verify_document(decode_document(raw, "doc"), root or load_root_of(chain()))


def load_root_of(c):
    from eifdiff.attest.verify import Root

    d = der(c.root)
    return Root(d, c.root.subject.rfc4514_string(), hashlib.sha256(d).hexdigest(), "test", False)


def test_bundled_root_is_pinned_and_matches_shared_copy() -> None:
    root = aws_root()
    assert root.pinned and root.sha256 == AWS_ROOT_SHA256
    assert root.subject == "CN=aws.nitro-enclaves,OU=AWS,O=Amazon,C=US"
    assert load_root(shared("aws-nitro-enclaves-root-g1.pem")).der == root.der


@pytest.mark.parametrize("name", [*REAL, DEBUG])
def test_real_documents_verify_at_their_own_time(name: str) -> None:
    doc = read_document(shared(name))
    v = verify_document(doc)
    assert v.verified and v.reason is None, v.failures
    assert v.signature_ok and v.root_ok and v.chain_ok and v.times_ok
    assert v.algorithm == "ES384" and v.document_time == doc.time
    assert [c.role for c in v.chain] == ["root", "intermediate", "intermediate", "intermediate",
                                         "leaf"]
    assert v.chain[0].sha256 == AWS_ROOT_SHA256 and v.root.pinned
    leaf = v.chain[-1]
    assert leaf.not_after - leaf.not_before < timedelta(hours=4)
    assert v.leaf_expired_now  # every leaf has long expired: checked at the document's time
    # at a time inside the leaf's life, it is not expired
    within = verify_document(doc, now=leaf.not_before + timedelta(minutes=1))
    assert within.verified and not within.leaf_expired_now


def test_self_signed_document_fails() -> None:
    v = verify_document(read_document(shared(SELF_SIGNED)))
    assert not v.verified
    assert v.reason.startswith("the document has no cabundle")
    assert not v.root_ok and not v.chain_ok


def test_real_document_with_one_payload_byte_flipped_fails() -> None:
    doc = read_document(shared("doc-2025-05-19.b64"))
    raw = bytearray(doc.cose)
    # flip one byte of PCR2's value inside the payload (decodes fine, no longer signed)
    at = raw.index(doc.pcrs[2]) + 5
    raw[at] ^= 0x01
    flipped = decode_document(bytes(raw), "flipped")
    assert flipped.pcrs[2] != doc.pcrs[2]
    v = verify_document(flipped)
    assert not v.verified and not v.signature_ok and v.chain_ok and v.root_ok
    assert "signature does not verify" in v.reason


def test_payload_byte_sweep_never_verifies() -> None:
    raw = DocumentSpec().build()
    doc = decode_document(raw)
    start = raw.index(doc.payload)
    root = load_root_of(chain())
    outcomes = set()
    for i in range(start, start + len(doc.payload), 7):
        bad = bytearray(raw)
        bad[i] ^= 0x40
        try:
            flipped = decode_document(bytes(bad), "doc")
        except FormatError:
            outcomes.add("unreadable")
            continue
        assert not verify_document(flipped, root).verified, i
        outcomes.add("unverified")
    assert outcomes == {"unreadable", "unverified"}


def test_test_chain_document_verifies_with_its_root_only(tmp_path: Path) -> None:
    raw = DocumentSpec().build()
    v = _verify(raw)
    assert v.verified and v.leaf_expired_now  # its leaf ended in 2024
    assert [c.where for c in v.chain] == ["cabundle[0]", "cabundle[1]", "certificate"]
    assert load_root(write_root(tmp_path)).der == der(chain().root)
    # against the pinned AWS root: chained to another root
    aws = verify_document(decode_document(raw))
    assert not aws.verified and not aws.root_ok and aws.signature_ok and aws.chain_ok
    assert "not the pinned AWS Nitro root" in aws.reason


def test_chain_to_another_root_fails() -> None:
    raw = DocumentSpec().build(other_chain())
    v = _verify(raw)
    assert not v.verified and not v.root_ok and v.signature_ok
    assert "the chain starts at cabundle[0] (CN=eifdiff other root" in v.reason


def test_non_es384_is_named() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    v = _verify(DocumentSpec(algorithm=-7).build(key=key))
    assert not v.verified and not v.signature_ok
    assert v.reason == ("signature algorithm is ES256 (-7), not ES384 (-35), the only one Nitro "
                        "documents use")
    assert v.algorithm == "ES256 (-7)"
    assert "unknown (-999)" in _verify(DocumentSpec(algorithm=-999).build()).reason


def test_signed_by_another_key_fails() -> None:
    v = _verify(DocumentSpec().build(key=ec.generate_private_key(ec.SECP384R1())))
    assert not v.verified and not v.signature_ok and v.chain_ok


def test_cabundle_with_unrelated_certificate_fails() -> None:
    c, o = chain(), other_chain()
    v = _verify(DocumentSpec(cabundle=[der(c.root), der(o.inter), der(c.inter)]).build())
    assert not v.verified and not v.chain_ok and v.signature_ok and v.root_ok
    assert v.reason.startswith("cabundle[1] (CN=eifdiff other intermediate")
    assert "names issuer CN=eifdiff other root" in v.reason


def test_reordered_cabundle_fails() -> None:
    c = chain()
    v = _verify(DocumentSpec(cabundle=[der(c.inter), der(c.root)]).build())
    assert not v.verified and not v.root_ok and not v.chain_ok
    assert "cabundle[0] (CN=eifdiff test intermediate" in v.reason


def test_non_ca_issuer_and_path_length_fail() -> None:
    c = chain()
    # the leaf itself placed as an issuer: not a CA
    v = _verify(DocumentSpec(cabundle=[*c.cabundle, der(c.leaf)]).build())
    assert not v.verified and "is not a CA certificate" in " ".join(v.failures)
    # an extra CA under an intermediate whose path length is 0
    key = ec.generate_private_key(ec.SECP384R1())
    sub = make_cert("eifdiff sub", key, c.inter.subject, c.inter_key, ca=True,
                    not_before=T0 - timedelta(days=1), not_after=T0 + timedelta(days=1))
    leaf = make_cert("eifdiff leaf under sub", c.leaf_key, sub.subject, key, ca=False,
                     not_before=T0, not_after=T0 + timedelta(hours=3))
    v = _verify(DocumentSpec(cabundle=[*c.cabundle, der(sub)], certificate=der(leaf)).build())
    assert not v.verified and "allows 0 CA certificates below it, the chain has 1" in v.reason


@pytest.mark.parametrize("when", [T0 - timedelta(minutes=1), T0 + timedelta(hours=3, seconds=1),
                                  datetime(2031, 1, 1, tzinfo=UTC)])
def test_timestamp_outside_validity_fails(when: datetime) -> None:
    v = _verify(DocumentSpec(timestamp=ms(when)).build())
    assert not v.verified and not v.times_ok and v.signature_ok and v.chain_ok
    assert v.reason.startswith(f"at the document's time {when:%Y-%m-%dT%H:%M:%SZ}, ")
    assert "is not valid (valid from" in v.reason


def test_leaf_expired_since_is_reported_not_failed() -> None:
    c = make_chain("short", leaf_from=T0, leaf_hours=2)
    raw = DocumentSpec(timestamp=ms(DOC_TIME)).build(c)
    v = verify_document(decode_document(raw), load_root_of(c),
                        now=T0 + timedelta(days=1))
    assert v.verified and v.leaf_expired_now
    assert not verify_document(decode_document(raw), load_root_of(c),
                               now=T0 + timedelta(minutes=5)).leaf_expired_now


def test_unreadable_certificates_fail_cleanly() -> None:
    v = _verify(DocumentSpec(certificate=b"\x30\x03\x02\x01\x01").build())
    assert not v.verified and v.reason.startswith("the document's certificate cannot be read")
    v = _verify(DocumentSpec(cabundle=[der(chain().root), b"junk"]).build())
    assert not v.verified and any(f.startswith("cabundle[1] cannot be read") for f in v.failures)
    v = _verify(DocumentSpec(cabundle=[]).build())
    assert v.reason.startswith("the document has no cabundle")


def test_wrong_signature_length_and_key_curve() -> None:
    raw = DocumentSpec().build()
    body = list(cbor2.loads(raw))
    body[3] = body[3][:64]
    v = _verify(cbor2.dumps(body))
    assert "the signature is 64 bytes, ES384 gives 96" in v.reason
    c = chain()
    p256 = ec.generate_private_key(ec.SECP256R1())
    leaf = make_cert("p256 leaf", p256, c.inter.subject, c.inter_key, ca=False,
                     not_before=T0, not_after=T0 + timedelta(hours=3))
    v = _verify(DocumentSpec(certificate=der(leaf)).build(key=p256))
    assert "not a P-384 EC key" in v.reason


def test_load_root_refuses_non_certificates(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(FormatError, match=r"bad\.pem: not a PEM or DER X\.509 certificate"):
        load_root(bad)
    with pytest.raises(FormatError, match="cannot read"):
        load_root(tmp_path / "missing.pem")
    (tmp_path / "root.der").write_bytes(der(chain().root))
    assert load_root(tmp_path / "root.der").der == der(chain().root)
