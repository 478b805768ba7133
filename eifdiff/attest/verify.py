"""Verify an attestation document: its COSE_Sign1 signature (ES384), its certificate chain from the
pinned root to the leaf, and every certificate's validity at the document's own timestamp.

Leaf certificates live about three hours, so checking at the current time would fail every
document older than that; the chain is checked at the time the document says it was made, and
the report says separately when the leaf has expired since. The root is AWS's Nitro root,
bundled and pinned by its SHA-256 fingerprint; another root (tests, private chains) replaces it
explicitly.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from eifdiff.attest.document import ES384, AttestationDocument, read_bounded
from eifdiff.errors import EifdiffError, FormatError
from eifdiff.formats.signature import ALGORITHMS, CoseSign1, verify_cose

AWS_ROOT_SHA256 = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"
AWS_ROOT_FILE = "aws-nitro-enclaves-root-g1.pem"
MAX_ROOT_FILE = 1 << 20


@dataclass(frozen=True)
class Root:
    """The trust anchor: its DER, fingerprint, and where it came from."""

    der: bytes
    subject: str
    sha256: str
    source: str  # "bundled" or the path given
    pinned: bool  # the bundled AWS root, checked against AWS_ROOT_SHA256


def _root_from_bytes(data: bytes, source: str, pinned: bool) -> Root:
    try:
        cert = (x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data
                else x509.load_der_x509_certificate(data))
        der = cert.public_bytes(serialization.Encoding.DER)
        subject = cert.subject.rfc4514_string()
    except Exception as exc:  # ValueError, UnsupportedAlgorithm, ...
        raise FormatError(f"{source}: not a PEM or DER X.509 certificate: "
                          f"{type(exc).__name__}: {exc}") from None
    return Root(der, subject, hashlib.sha256(der).hexdigest(), source, pinned)


def aws_root() -> Root:
    """The bundled AWS Nitro Enclaves root, refused unless its fingerprint is the pinned one."""
    data = resources.files("eifdiff.attest").joinpath(AWS_ROOT_FILE).read_bytes()
    root = _root_from_bytes(data, "bundled", True)
    if root.sha256 != AWS_ROOT_SHA256:
        raise EifdiffError(f"bundled {AWS_ROOT_FILE}: SHA-256 {root.sha256} is not the pinned "
                           f"AWS root fingerprint {AWS_ROOT_SHA256}")
    return root


def load_root(path: str | os.PathLike[str]) -> Root:
    """A root certificate (PEM or DER) given in place of the bundled one."""
    source = os.fspath(path)
    return _root_from_bytes(read_bounded(source, MAX_ROOT_FILE, "a certificate"), source, False)


@dataclass(frozen=True)
class CertificateSummary:
    """One certificate of the chain, as checked."""

    role: str  # "root", "intermediate" or "leaf"
    where: str  # "cabundle[i]" or "certificate"
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    sha256: str
    valid_at_document_time: bool


@dataclass(frozen=True)
class Verification:
    """Every check and its outcome; `failures` lists what failed, the first is `reason`."""

    algorithm: str  # "ES384", or what was found instead
    signature_ok: bool
    root_ok: bool
    chain_ok: bool
    times_ok: bool
    failures: tuple[str, ...]
    chain: tuple[CertificateSummary, ...]
    root: Root
    document_time: datetime
    checked_now: datetime
    leaf_expired_now: bool

    @property
    def verified(self) -> bool:
        return not self.failures

    @property
    def reason(self) -> str | None:
        return self.failures[0] if self.failures else None


def _load(der: bytes) -> x509.Certificate:
    """A certificate whose every part used here parses (cryptography parses some lazily)."""
    cert = x509.load_der_x509_certificate(der)
    cert.subject.rfc4514_string()
    cert.issuer.rfc4514_string()
    _ = cert.not_valid_before_utc, cert.not_valid_after_utc, cert.signature_algorithm_oid
    list(cert.extensions)
    cert.public_bytes(serialization.Encoding.DER)
    return cert


def _name(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string()
    except ValueError:
        return "<unreadable subject>"


def _issuer(cert: x509.Certificate) -> str:
    try:
        return cert.issuer.rfc4514_string()
    except ValueError:
        return "<unreadable issuer>"


def _algorithm_name(alg: int | None) -> str:
    if alg is None:
        return "none"
    if alg in ALGORITHMS:
        return f"{ALGORITHMS[alg][0]} ({alg})"
    return f"unknown ({alg})"


def _check_signature(doc: AttestationDocument, leaf: x509.Certificate | None,
                     failures: list[str]) -> bool:
    alg = doc.algorithm
    if alg != ES384:
        failures.append(f"signature algorithm is {_algorithm_name(alg)}, not ES384 (-35), the "
                        "only one Nitro documents use")
        return False
    if leaf is None:
        return False
    try:
        key = leaf.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        failures.append(f"the leaf certificate's key cannot be read: {exc}")
        return False
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp384r1":
        failures.append("the leaf certificate's key is not a P-384 EC key (ES384 needs one)")
        return False
    if len(doc.signature) != 96:
        failures.append(f"the signature is {len(doc.signature)} bytes, ES384 gives 96 (r||s)")
        return False
    cose = CoseSign1(doc.protected, doc.unprotected, doc.payload, doc.signature, doc.tagged)
    if not verify_cose(cose, leaf):
        failures.append("the COSE_Sign1 signature does not verify with the leaf certificate's "
                        "key (the document was altered or signed by another key)")
        return False
    return True


def _check_link(child: x509.Certificate, parent: x509.Certificate, child_at: str,
                parent_at: str, below: int) -> str | None:
    """Why `parent` did not issue `child` (None when it did); `below` counts the CA
    certificates under `parent` in the chain (for its path length constraint)."""
    try:
        bc = parent.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    except ValueError as exc:
        return f"{parent_at} has unreadable extensions: {exc}"
    if bc is None or not bc.ca:
        return f"{parent_at} ({_name(parent)}) is not a CA certificate but issues {child_at}"
    if bc.path_length is not None and below > bc.path_length:
        return (f"{parent_at} ({_name(parent)}) allows {bc.path_length} CA certificates below it, "
                f"the chain has {below}")
    try:
        ku = parent.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.key_cert_sign:
            return f"{parent_at} ({_name(parent)}) may not sign certificates (key usage)"
    except x509.ExtensionNotFound:
        pass
    if child.issuer != parent.subject:
        return (f"{child_at} ({_name(child)}) names issuer {_issuer(child)}, not {parent_at} "
                f"({_name(parent)})")
    try:
        child.verify_directly_issued_by(parent)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        detail = str(exc) or "signature does not verify"
        return f"{child_at} ({_name(child)}) was not signed by {parent_at} ({_name(parent)}): " \
            f"{detail}"
    return None


def _fmt(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def verify_document(doc: AttestationDocument, root: Root | None = None, *,
                    now: datetime | None = None) -> Verification:
    """Check `doc` against `root` (default: the bundled, pinned AWS root) at its own time."""
    root = root or aws_root()
    now = now or datetime.now(UTC)
    at = doc.time
    failures: list[str] = []
    certs: list[tuple[str, x509.Certificate]] = []
    leaf: x509.Certificate | None = None
    try:
        leaf = _load(doc.certificate)
    except Exception as exc:
        failures.append(f"the document's certificate cannot be read: {type(exc).__name__}: {exc}")
        leaf = None
    signature_ok = _check_signature(doc, leaf, failures)

    root_ok = chain_ok = False
    if doc.cabundle is None or not doc.cabundle:
        failures.append("the document has no cabundle: its certificate chains to no root "
                        "(a self-signed or synthetic document)")
    else:
        readable = True
        for i, der in enumerate(doc.cabundle):
            try:
                cert = _load(der)
            except Exception as exc:
                failures.append(f"cabundle[{i}] cannot be read: {type(exc).__name__}: {exc}")
                readable = False
                break
            certs.append((f"cabundle[{i}]", cert))
        if readable:
            first = hashlib.sha256(doc.cabundle[0]).hexdigest()
            root_ok = first == root.sha256
            if not root_ok:
                which = "the pinned AWS Nitro root" if root.pinned else f"the root {root.source}"
                failures.append(f"the chain starts at cabundle[0] ({_name(certs[0][1])}, SHA-256 "
                                f"{first[:16]}…), not {which} (SHA-256 {root.sha256[:16]}…)")
    if leaf is not None and certs and len(certs) == len(doc.cabundle or ()):
        certs.append(("certificate", leaf))
        links = []
        for i in range(1, len(certs)):
            below = len(certs) - 1 - i  # CA certificates under certs[i-1], not counting the leaf
            problem = _check_link(certs[i][1], certs[i - 1][1], certs[i][0], certs[i - 1][0],
                                  below)
            if problem:
                links.append(problem)
        failures.extend(links)
        chain_ok = not links
    elif leaf is not None and not certs:
        certs.append(("certificate", leaf))

    summaries = []
    times_ok = bool(certs)
    for i, (where, cert) in enumerate(certs):
        nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
        valid = nb <= at <= na
        role = "leaf" if where == "certificate" else ("root" if i == 0 else "intermediate")
        if not valid:
            times_ok = False
            failures.append(f"at the document's time {_fmt(at)}, {where} ({_name(cert)}) is not "
                            f"valid (valid from {_fmt(nb)} to {_fmt(na)})")
        summaries.append(CertificateSummary(
            role, where, _name(cert), _issuer(cert), nb, na,
            hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
            valid))
    expired = leaf is not None and now > leaf.not_valid_after_utc
    return Verification(
        algorithm="ES384" if doc.algorithm == ES384 else _algorithm_name(doc.algorithm),
        signature_ok=signature_ok, root_ok=root_ok, chain_ok=chain_ok, times_ok=times_ok,
        failures=tuple(failures), chain=tuple(summaries), root=root, document_time=at,
        checked_now=now, leaf_expired_now=expired,
    )
