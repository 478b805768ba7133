"""Open an EIF: check its container, measure it, and decode metadata, signature and kernel.

This is the single entry point later stages use. A damaged container raises `FormatError`;
damage inside a valid container (metadata, signature) becomes an `Anomaly` on the image.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eifdiff.errors import Anomaly, FormatError
from eifdiff.formats.eif import EifLayout, Section, SectionType, parse_layout
from eifdiff.formats.kernel import KernelVersion, find_version, kernel_format
from eifdiff.formats.metadata import Metadata, decode_metadata
from eifdiff.mapped import MappedFile
from eifdiff.measure import Digests, pcr8, start_measure


@dataclass(frozen=True)
class SignatureInfo:
    """What the signature section says and whether it holds up."""

    certificate_pem: bytes
    certificate: dict[str, Any]
    pcr8: str
    algorithm: str
    register_index: int | None
    register_value: str | None
    payload_matches_pcr0: bool
    cose_verifies: bool
    entries: int
    certificate_whole: bool = True

    @property
    def check(self) -> bool:
        """The reference reader's SignatureCheck: the COSE signature verifies with the
        certificate's key and signs PCR0 (register 0) as recomputed from the file."""
        return self.cose_verifies and self.payload_matches_pcr0 and self.certificate_whole


@dataclass(frozen=True)
class EifImage:
    """One opened EIF: layout, measurements and decoded sections (no section data is kept)."""

    path: str
    layout: EifLayout
    digests: Digests
    metadata: Metadata | None
    signature: SignatureInfo | None
    kernel_format: str
    kernel_version: KernelVersion | None
    anomalies: tuple[Anomaly, ...]

    @property
    def size(self) -> int:
        return self.layout.file_size

    @property
    def crc_ok(self) -> bool:
        return self.layout.header.crc32 == self.digests.crc32

    @property
    def is_signed(self) -> bool:
        return self.layout.one(SectionType.SIGNATURE) is not None

    @property
    def pcrs(self) -> dict[str, str]:
        """PCR0, PCR1, PCR2 and, when signed, PCR8, as lowercase hex."""
        out = self.digests.hex()
        if self.signature is not None:
            out["PCR8"] = self.signature.pcr8
        return out


def _data(view: memoryview, s: Section) -> memoryview:
    return view[s.data_offset : s.end]


def _read_signature(
    view: memoryview, s: Section, pcr0: bytes, anomalies: list[Anomaly]
) -> SignatureInfo | None:
    from eifdiff.formats import signature as sig  # cryptography and cbor2 load only when signed

    where = f"signature section at offset {s.data_offset}"
    try:
        entries = sig.decode_signature_section(_data(view, s), where=where)
        first = entries[0]
        cert = sig.load_certificate(first.certificate_pem, where=where)
        cose = sig.decode_cose(first.cose_bytes, where=where)
    except FormatError as exc:
        anomalies.append(Anomaly("signature", str(exc), s.data_offset))
        return None
    try:
        payload = sig.decode_payload(cose, where=where)
    except FormatError as exc:
        anomalies.append(Anomaly("signature", str(exc), s.data_offset))
        payload = None
    extra = sig.trailing_bytes(_data(view, s))
    if extra:
        anomalies.append(Anomaly("signature", f"{extra} bytes after the signature section's CBOR "
                                 "(the reference reader refuses them)", s.data_offset))
    if len(entries) > 1:
        anomalies.append(Anomaly("signature", f"{len(entries)} signature entries; only the first "
                                 "is used", s.data_offset))
    matches = payload is not None and payload.register_index == 0 and \
        payload.register_value == pcr0
    try:
        info, der = sig.certificate_info(cert), sig.certificate_der(cert)
    except Exception as exc:  # a certificate damaged in ways its parser only finds late
        anomalies.append(Anomaly("signature", f"{where}: signing certificate cannot be read: "
                                 f"{type(exc).__name__}: {exc}", s.data_offset))
        return None
    whole = "unreadable" not in info["IssuerName"] and info["Algorithm"] != "unreadable"
    if not whole:
        anomalies.append(Anomaly("signature", f"{where}: parts of the signing certificate cannot "
                                 "be read (issuer or algorithm); it is not trusted",
                                 s.data_offset))
    return SignatureInfo(
        certificate_pem=first.certificate_pem,
        certificate=info,
        pcr8=pcr8(der).hex(),
        algorithm=cose.algorithm_name,
        register_index=payload.register_index if payload else None,
        register_value=payload.register_value.hex() if payload else None,
        payload_matches_pcr0=matches,
        cose_verifies=sig.verify_cose(cose, cert),
        entries=len(entries),
        certificate_whole=whole,
    )


@dataclass(frozen=True)
class PendingImage:
    """A checked layout whose measurement runs in the background."""

    mapped: MappedFile
    layout: EifLayout
    digests: Callable[[], Digests]


UNMEASURED = Digests(b"", b"", b"", 0, None)


def start_image(mapped: MappedFile, *, sha256: bool = False, background: bool = True,
                measure: bool = True) -> PendingImage:
    """Check the container and start measuring it (and hashing the file when `sha256`);
    `background` when the caller has other work meanwhile (see `start_measure`). Without
    `measure` nothing is hashed: for a caller that wants only the rows of a comparison (the
    PCRs, CRC check and signature check of such an image mean nothing)."""
    layout = parse_layout(mapped.view, mapped.path)
    if not measure:
        return PendingImage(mapped, layout, lambda: UNMEASURED)
    return PendingImage(mapped, layout,
                        start_measure(mapped, layout, sha256=sha256, background=background))


def finish_image(pending: PendingImage) -> EifImage:
    """Wait for the measurement and decode metadata, signature and kernel version."""
    mapped, layout = pending.mapped, pending.layout
    anomalies = list(layout.anomalies)
    view = mapped.view
    metadata = None
    md = layout.one(SectionType.METADATA)
    if md is not None:
        try:
            metadata = decode_metadata(_data(view, md), offset=md.data_offset)
        except FormatError as exc:
            anomalies.append(Anomaly("metadata", exc.detail, md.data_offset))
    kernel = layout.one(SectionType.KERNEL)
    assert kernel is not None  # parse_layout guarantees exactly one
    kdata = _data(view, kernel)
    version = find_version(kdata)
    digests = pending.digests()
    signature = None
    ss = layout.one(SectionType.SIGNATURE)
    if ss is not None:
        signature = _read_signature(view, ss, digests.pcr0, anomalies)
    return EifImage(
        path=mapped.path, layout=layout, digests=digests, metadata=metadata, signature=signature,
        kernel_format=kernel_format(kdata), kernel_version=version, anomalies=tuple(anomalies),
    )


def read_image(mapped: MappedFile, *, sha256: bool = False) -> EifImage:
    """Check, measure and decode a mapped EIF (and hash the whole file when `sha256`)."""
    return finish_image(start_image(mapped, sha256=sha256, background=False))


def open_image(path: str | os.PathLike[str]) -> EifImage:
    """Open, check, measure and decode the EIF at `path`."""
    with MappedFile.open(path) as mapped:
        return read_image(mapped)
