"""A test certificate chain (root, intermediate, leaf; P-384) and attestation documents signed by
it over any PCRs, shaped as the Nitro Secure Module shapes them; and where the real documents are.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from eifdiff.image import open_image
from eifdiff.measure import ZERO_PCR

REPO_ROOT = Path(__file__).resolve().parents[2]
ATTESTATION = REPO_ROOT / ".." / "shared" / "attestation"
SAMPLES = REPO_ROOT / "samples"
T0 = datetime(2024, 1, 1, tzinfo=UTC)  # the leaf is valid from T0 for three hours
DOC_TIME = T0 + timedelta(hours=1)
REAL = ("doc-2022-10-13.cbor", "doc-2024-09-07.b64", "doc-2025-05-19.b64")
DEBUG = "doc-2024-09-07-debug.b64"
SELF_SIGNED = "doc-selfsigned.b64"


def shared(name: str) -> Path:
    """A file of ../shared/attestation; a missing one fails (CI always has ../shared)."""
    path = ATTESTATION / name
    if not path.is_file():
        raise AssertionError(f"{path.resolve()} not found (expected ../shared/attestation beside "
                             "the repository)")
    return path


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "eifdiff tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(cn: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
              issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool, not_before: datetime,
              not_after: datetime, path_length: int | None = None) -> x509.Certificate:
    b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(not_before).not_valid_after(not_after)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None),
                        critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    return b.sign(issuer_key, hashes.SHA384())


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class TestChain:
    root_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    inter_key: ec.EllipticCurvePrivateKey
    inter: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey
    leaf: x509.Certificate

    __test__ = False  # not a pytest class

    @property
    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    @property
    def cabundle(self) -> list[bytes]:
        return [der(self.root), der(self.inter)]


def make_chain(name: str = "test", *, leaf_from: datetime = T0,
               leaf_hours: float = 3) -> TestChain:
    root_key = ec.generate_private_key(ec.SECP384R1())
    inter_key = ec.generate_private_key(ec.SECP384R1())
    leaf_key = ec.generate_private_key(ec.SECP384R1())
    root = make_cert(f"eifdiff {name} root", root_key, _name(f"eifdiff {name} root"), root_key,
                     ca=True, not_before=datetime(2020, 1, 1, tzinfo=UTC),
                     not_after=datetime(2050, 1, 1, tzinfo=UTC))
    inter = make_cert(f"eifdiff {name} intermediate", inter_key, root.subject, root_key, ca=True,
                      not_before=datetime(2023, 1, 1, tzinfo=UTC),
                      not_after=datetime(2030, 1, 1, tzinfo=UTC), path_length=0)
    leaf = make_cert(f"i-0123456789abcdef0-enc0123456789abcdef.{name}", leaf_key, inter.subject,
                     inter_key, ca=False, not_before=leaf_from,
                     not_after=leaf_from + timedelta(hours=leaf_hours))
    return TestChain(root_key, root, inter_key, inter, leaf_key, leaf)


@functools.cache
def chain() -> TestChain:
    """One chain for the whole session (key generation is the slow part)."""
    return make_chain()


@functools.cache
def other_chain() -> TestChain:
    return make_chain("other")


@functools.cache
def image_pcrs(eif: Path) -> dict[int, bytes]:
    """PCR0-15 as an enclave running `eif` would report them: PCR0-2 from the image, PCR8 its
    signing certificate's (zeros when unsigned), PCR4 a made-up instance, the rest zeros."""
    image = open_image(eif)
    pcrs = {i: ZERO_PCR for i in range(16)}
    pcrs[0], pcrs[1], pcrs[2] = image.digests.pcr0, image.digests.pcr1, image.digests.pcr2
    if image.signature is not None:
        pcrs[8] = bytes.fromhex(image.signature.pcr8)
    pcrs[4] = bytes(range(48))
    return pcrs


@dataclass(frozen=True)
class DocumentSpec:
    """Everything a test may vary in a document; `build` signs it."""

    pcrs: dict[int, bytes] = field(default_factory=lambda: {i: ZERO_PCR for i in range(16)})
    timestamp: int = ms(DOC_TIME)
    module_id: str = "i-0123456789abcdef0-enc0123456789abcdef"
    cabundle: list[bytes] | None = None  # default: the chain's root and intermediate
    certificate: bytes | None = None  # default: the chain's leaf
    public_key: bytes | None = None
    user_data: bytes | None = b"hello"
    nonce: bytes | None = bytes(16)
    algorithm: int = -35
    tagged: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def with_(self, **changes: Any) -> DocumentSpec:
        return replace(self, **changes)

    def payload(self, chain: TestChain) -> bytes:
        claims = {
            "module_id": self.module_id, "digest": "SHA384", "timestamp": self.timestamp,
            "pcrs": self.pcrs,
            "certificate": self.certificate if self.certificate is not None else der(chain.leaf),
            "cabundle": self.cabundle if self.cabundle is not None else chain.cabundle,
            "public_key": self.public_key, "user_data": self.user_data, "nonce": self.nonce,
            **self.extra,
        }
        return cbor2.dumps(claims)

    def build(self, using: TestChain | None = None, *,
              key: ec.EllipticCurvePrivateKey | None = None) -> bytes:
        """The COSE_Sign1 bytes, signed by the chain's leaf key (or `key`)."""
        using = using or chain()
        key = key or using.leaf_key
        protected = cbor2.dumps({1: self.algorithm})
        payload = self.payload(using)
        to_sign = cbor2.dumps(["Signature1", protected, b"", payload])
        digest = {-35: hashes.SHA384(), -7: hashes.SHA256(), -36: hashes.SHA512()}.get(
            self.algorithm, hashes.SHA384())
        r, s = decode_dss_signature(key.sign(to_sign, ec.ECDSA(digest)))
        size = (key.curve.key_size + 7) // 8
        body = [protected, {}, payload, r.to_bytes(size, "big") + s.to_bytes(size, "big")]
        return cbor2.dumps(cbor2.CBORTag(18, body) if self.tagged else body)


def sample_document(pair: str, side: str = "a", **changes: Any) -> bytes:
    """A test-chain document for samples/<pair>/<side>.eif."""
    return DocumentSpec(pcrs=image_pcrs(SAMPLES / pair / f"{side}.eif")).with_(**changes).build()


def write_root(tmp: Path, c: TestChain | None = None) -> Path:
    path = tmp / "root.pem"
    path.write_bytes((c or chain()).root_pem)
    return path
