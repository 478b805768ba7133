"""The signature section (type 4): CBOR list of {signing_certificate, signature} and COSE_Sign1.

Byte strings in the outer CBOR are arrays of small integers (the reference serializer's default),
not CBOR byte strings; both are accepted on read and arrays are written. The COSE_Sign1 is
untagged, its protected header names the algorithm (ES256/ES384/ES512) and its payload is the
CBOR map {register_index: 0, register_value: PCR0}. CBOR itself is read and written by cbor2.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from eifdiff.errors import FormatError

DECODE_LIMIT = 1 << 20  # a signature section is at most 32 KiB; refuse to decode beyond 1 MiB
COSE_SIGN1_TAG = 18
HEADER_ALG = 1

# COSE algorithm id -> (name, hash, curve, coordinate size in bytes)
ALGORITHMS: dict[int, tuple[str, hashes.HashAlgorithm, ec.EllipticCurve, int]] = {
    -7: ("ES256", hashes.SHA256(), ec.SECP256R1(), 32),
    -35: ("ES384", hashes.SHA384(), ec.SECP384R1(), 48),
    -36: ("ES512", hashes.SHA512(), ec.SECP521R1(), 66),
}
_BY_CURVE = {curve.name: alg for alg, (_, _, curve, _) in ALGORITHMS.items()}


@dataclass(frozen=True)
class CoseSign1:
    """The four parts of a COSE_Sign1 and whether it carried tag 18."""

    protected: bytes
    unprotected: Any
    payload: bytes
    signature: bytes
    tagged: bool

    @property
    def algorithm(self) -> int | None:
        try:
            header = cbor2.loads(self.protected) if self.protected else {}
        except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError):
            return None
        alg = header.get(HEADER_ALG) if isinstance(header, dict) else None
        return alg if isinstance(alg, int) else None

    @property
    def algorithm_name(self) -> str:
        alg = self.algorithm
        return ALGORITHMS[alg][0] if alg in ALGORITHMS else f"unknown ({alg})"

    def to_be_signed(self) -> bytes:
        """The CBOR Sig_structure that the signature covers."""
        return cbor2.dumps(["Signature1", self.protected, b"", self.payload])

    def encode(self) -> bytes:
        unprotected = (dict(self.unprotected) if isinstance(self.unprotected, Mapping)
                       else self.unprotected)
        body = [self.protected, unprotected, self.payload, self.signature]
        return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, body) if self.tagged else body)


@dataclass(frozen=True)
class PcrSignature:
    """One entry of the signature section: the certificate PEM bytes and the COSE_Sign1 bytes."""

    certificate_pem: bytes
    cose_bytes: bytes


@dataclass(frozen=True)
class PcrPayload:
    register_index: int
    register_value: bytes


def _as_bytes(value: Any, what: str, where: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b <= 255 for b in value):
        return bytes(value)
    raise FormatError(f"{where}: {what} is neither an array of bytes nor a byte string")


def _loads(raw: bytes, where: str, *, trailing_ok: bool = False) -> Any:
    """The CBOR item in `raw`; bytes after it are refused unless `trailing_ok`."""
    if len(raw) > DECODE_LIMIT:
        raise FormatError(f"{where}: {len(raw)} bytes is beyond the {DECODE_LIMIT}-byte limit")
    stream = io.BytesIO(raw)
    try:
        value = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError,
            MemoryError) as exc:
        raise FormatError(f"{where}: malformed CBOR: {exc}") from None
    if stream.tell() != len(raw) and not trailing_ok:  # the reference readers reject them
        raise FormatError(f"{where}: {len(raw) - stream.tell()} bytes after the CBOR item")
    return value


def decode_signature_section(
    raw: bytes | memoryview, *, where: str = "signature"
) -> list[PcrSignature]:
    """Decode the outer CBOR; raise `FormatError` when it is not a list of signature entries."""
    doc = _loads(bytes(raw), where, trailing_ok=True)
    if not isinstance(doc, list) or not doc:
        raise FormatError(f"{where}: expected a non-empty CBOR array of signature entries")
    out = []
    for i, item in enumerate(doc):
        if not isinstance(item, dict) or {"signing_certificate", "signature"} - item.keys():
            raise FormatError(f"{where}: entry {i} lacks signing_certificate or signature")
        out.append(PcrSignature(
            _as_bytes(item["signing_certificate"], "signing_certificate", where),
            _as_bytes(item["signature"], "signature", where),
        ))
    return out


def trailing_bytes(raw: bytes | memoryview) -> int:
    """How many bytes follow the first CBOR item of `raw` (0 when it cannot be decoded)."""
    stream = io.BytesIO(bytes(raw[:DECODE_LIMIT]))
    try:
        cbor2.CBORDecoder(stream).decode()
    except Exception:
        return 0
    return len(raw) - stream.tell()


def decode_cose(raw: bytes, *, where: str = "signature") -> CoseSign1:
    doc = _loads(raw, where)
    tagged = isinstance(doc, cbor2.CBORTag)
    if tagged:
        if doc.tag != COSE_SIGN1_TAG:
            raise FormatError(f"{where}: COSE tag {doc.tag} is not COSE_Sign1 (18)")
        doc = doc.value
    if not isinstance(doc, (list, tuple)) or len(doc) != 4:  # cbor2 gives tuples inside tags
        raise FormatError(f"{where}: COSE_Sign1 is not an array of four items")
    protected, unprotected, payload, signature = doc
    if not all(isinstance(x, bytes) for x in (protected, payload, signature)):
        raise FormatError(f"{where}: COSE_Sign1 protected, payload or signature is not bytes")
    return CoseSign1(protected, unprotected, payload, signature, tagged)


def decode_payload(cose: CoseSign1, *, where: str = "signature") -> PcrPayload:
    doc = _loads(cose.payload, where)
    if not isinstance(doc, dict) or not isinstance(doc.get("register_index"), int):
        raise FormatError(f"{where}: COSE payload is not a PCR register map")
    if not -(1 << 31) <= doc["register_index"] < 1 << 31:  # an i32 in the reference reader
        raise FormatError(f"{where}: COSE payload register_index of "
                          f"{doc['register_index'].bit_length()} bits is not a 32-bit integer")
    return PcrPayload(doc["register_index"],
                      _as_bytes(doc.get("register_value"), "register_value", where))


def encode_payload(index: int, value: bytes) -> bytes:
    return cbor2.dumps({"register_index": index, "register_value": list(value)})


def encode_signature_section(entries: list[PcrSignature]) -> bytes:
    return cbor2.dumps([
        {"signing_certificate": list(e.certificate_pem), "signature": list(e.cose_bytes)}
        for e in entries
    ])


def load_certificate(pem: bytes, *, where: str = "signature") -> x509.Certificate:
    """The first certificate of the PEM bytes (the one PCR8 measures)."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
        cert.public_bytes(serialization.Encoding.DER)
        return cert
    except Exception as exc:  # ValueError, InvalidVersion, UnsupportedAlgorithm, ...
        raise FormatError(f"{where}: signing certificate is not a PEM X.509 certificate: "
                          f"{type(exc).__name__}: {exc}") from None


def certificate_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _openssl_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%b %e %H:%M:%S %Y GMT")


def certificate_info(cert: x509.Certificate) -> dict[str, Any]:
    """Certificate fields in the shape and key order `nitro-cli describe-eif` prints (a repeated
    issuer attribute keeps its last value, as there)."""
    issuer: dict[str, str] = {}
    try:
        for attr in cert.issuer:
            key = getattr(attr.oid, "_name", None) or attr.oid.dotted_string
            issuer[key] = attr.value if isinstance(attr.value, str) else attr.value.hex()
    except ValueError as exc:  # a damaged issuer name still lets the rest be read
        issuer = {"unreadable": str(exc)}
    try:
        algorithm = getattr(cert.signature_algorithm_oid, "_name", None)
    except ValueError:
        algorithm = "unreadable"
    return {
        "IssuerName": dict(sorted(issuer.items())),
        "Algorithm": algorithm or cert.signature_algorithm_oid.dotted_string,
        "NotBefore": _openssl_time(cert.not_valid_before_utc),
        "NotAfter": _openssl_time(cert.not_valid_after_utc),
        "Signature": ":".join(f"{b:02X}" for b in cert.signature),
    }


def verify_cose(cose: CoseSign1, cert: x509.Certificate) -> bool:
    """True when the COSE signature verifies with the certificate's EC public key."""
    alg = cose.algorithm
    try:
        key = cert.public_key()
    except Exception:  # an unreadable or unsupported key cannot verify anything
        return False
    if alg not in ALGORITHMS or not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    _, digest, curve, size = ALGORITHMS[alg]
    if key.curve.name != curve.name or len(cose.signature) != 2 * size:
        return False
    r = int.from_bytes(cose.signature[:size], "big")
    s = int.from_bytes(cose.signature[size:], "big")
    try:
        key.verify(encode_dss_signature(r, s), cose.to_be_signed(), ec.ECDSA(digest))
    except InvalidSignature:
        return False
    return True


def sign_pcr0(
    pcr0: bytes, key: ec.EllipticCurvePrivateKey, *, deterministic: bool = False
) -> CoseSign1:
    """An untagged COSE_Sign1 over PcrInfo(0, pcr0), as the reference signer makes it.

    The reference signer's ECDSA is randomised; `deterministic` uses RFC 6979 nonces instead, so
    the same key and image always give the same bytes (for reproducible samples and tests).
    """
    alg = _BY_CURVE.get(key.curve.name)
    if alg is None:
        raise ValueError(f"unsupported signing curve {key.curve.name}")
    _, digest, _, size = ALGORITHMS[alg]
    unsigned = CoseSign1(cbor2.dumps({HEADER_ALG: alg}), {}, encode_payload(0, pcr0), b"", False)
    der = key.sign(unsigned.to_be_signed(), ec.ECDSA(digest, deterministic_signing=deterministic))
    r, s = decode_dss_signature(der)
    sig = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return CoseSign1(unsigned.protected, {}, unsigned.payload, sig, False)
