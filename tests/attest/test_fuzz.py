"""Hypothesis over the attestation reader and verifier: mutated real and test-chain documents,
and random bytes, give a FormatError or a document; a document always gets a verdict."""

from __future__ import annotations

from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eifdiff.attest.document import decode_document, decode_text
from eifdiff.attest.verify import verify_document
from eifdiff.errors import FormatError
from tests.attest.chain import DocumentSpec, shared
from tests.test_fuzz import mutated

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@cache
def _real() -> bytes:
    return decode_text(shared("doc-2025-05-19.b64").read_bytes(), "doc")[0]


@cache
def _test_chain() -> bytes:
    return DocumentSpec(user_data=b"u" * 40, tagged=True).build()


def _contract(data: bytes) -> None:
    try:
        doc = decode_document(data, "doc")
    except FormatError as exc:
        assert str(exc).startswith("doc: ") and "\n" not in str(exc)
        return
    v = verify_document(doc)
    assert v.verified == (not v.failures)
    real = decode_document(_real())
    signed = (doc.protected, doc.payload, doc.signature)
    if signed != (real.protected, real.payload, real.signature):
        assert not v.verified  # only AWS's signed bytes verify against AWS's root


@FUZZ
@given(st.data())
def test_mutated_real_document(data: st.DataObject) -> None:
    _contract(data.draw(mutated(_real())))


@FUZZ
@given(st.data())
def test_mutated_test_chain_document(data: st.DataObject) -> None:
    _contract(data.draw(mutated(_test_chain())))


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes(data: bytes) -> None:
    _contract(data)
