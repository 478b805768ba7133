"""Write an EIF from a kernel, a cmdline, ramdisks and metadata, as the reference builder does.

Section order is kernel, cmdline, metadata, ramdisks, then the signature when a key is given;
the header, CRC and metadata bytes match the reference builder's output for the same inputs.
Inputs given as paths are memory-mapped and streamed in windows whose pages are dropped once
written, so building a large image needs little memory.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from eifdiff.errors import EifdiffError
from eifdiff.formats.eif import CRC_OFFSET, SectionType, build_header, section_header
from eifdiff.formats.metadata import CUSTOM_METADATA_MAX, Metadata, encode_metadata
from eifdiff.mapped import WINDOW, MappedFile
from eifdiff.measure import MEASURED, extend, measure_chunks

if TYPE_CHECKING:  # signing libraries load only when an image is signed
    from cryptography.hazmat.primitives.asymmetric import ec

Blob = bytes | Path

# The reference builder's defaults, so that its command lines reproduce its output here.
DEFAULT_VERSION = "1.0"
DEFAULT_BUILD_TOOL = "eif_build"
DEFAULT_BUILD_TOOL_VERSION = "0.3.1"
DEFAULT_OS = "OS"
DEFAULT_KERNEL = "kernel"


@dataclass(frozen=True)
class Signer:
    """A local signing identity: the certificate PEM bytes as given, and its EC private key."""

    certificate_pem: bytes
    key: ec.EllipticCurvePrivateKey
    deterministic: bool = False

    @classmethod
    def from_files(cls, certificate: str | os.PathLike[str], key: str | os.PathLike[str]) -> Signer:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        from eifdiff.formats import signature as sig

        cert_pem = _read_small(certificate, "signing certificate", 1 << 20)
        sig.load_certificate(cert_pem, where=os.fspath(certificate))
        try:
            private = serialization.load_pem_private_key(
                _read_small(key, "private key", 1 << 20), password=None
            )
        except (ValueError, TypeError) as exc:
            raise EifdiffError(f"{os.fspath(key)}: not an unencrypted PEM private key: {exc}") \
                from None
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise EifdiffError(f"{os.fspath(key)}: only EC keys (P-256, P-384, P-521) can sign")
        return cls(cert_pem, private)


def _read_small(path: str | os.PathLike[str], what: str, limit: int) -> bytes:
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > limit:
            raise EifdiffError(f"{p}: {what} of {size} bytes is larger than {limit}")
        return p.read_bytes()
    except OSError as exc:
        raise EifdiffError(f"{p}: cannot read {what}: {exc.strerror}") from None


def now_rfc3339() -> str:
    """The build time: SOURCE_DATE_EPOCH when set (reproducible builds), else the clock."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC).isoformat()
    return datetime.now(UTC).isoformat()


def default_metadata(
    kernel: str | os.PathLike[str], *, name: str | None = None, version: str | None = None,
    build_time: str | None = None, build_tool: str | None = None,
    build_tool_version: str | None = None, img_os: str | None = None,
    img_kernel: str | None = None, custom: object = None,
) -> Metadata:
    """Metadata filled the way the reference builder fills it, except that `version` is honoured."""
    return Metadata(
        image_name=name if name is not None else Path(kernel).name,
        image_version=version if version is not None else DEFAULT_VERSION,
        build_time=build_time if build_time is not None else now_rfc3339(),
        build_tool=build_tool if build_tool is not None else DEFAULT_BUILD_TOOL,
        build_tool_version=(build_tool_version if build_tool_version is not None
                            else DEFAULT_BUILD_TOOL_VERSION),
        operating_system=img_os if img_os is not None else DEFAULT_OS,
        kernel_version=img_kernel if img_kernel is not None else DEFAULT_KERNEL,
        custom_metadata=custom,
    )


def read_custom_metadata(path: str | os.PathLike[str]) -> object:
    import json

    raw = _read_small(path, "custom metadata", CUSTOM_METADATA_MAX)
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EifdiffError(f"{os.fspath(path)}: custom metadata is not JSON: {exc}") from None


@dataclass(frozen=True)
class BuildResult:
    path: str
    size: int
    pcrs: dict[str, str]


def _chunks(blob: bytes | memoryview) -> Iterator[memoryview]:
    view = memoryview(blob)
    for pos in range(0, len(view), WINDOW):
        yield view[pos : pos + WINDOW]


@dataclass(frozen=True)
class Part:
    """Section data to write: bytes in memory, a mapped file streamed with bounded resident
    memory, or a stream of chunks of known size (made anew on each call of `chunks`)."""

    size: int
    data: bytes = b""
    mapped: MappedFile | None = None
    stream: Callable[[], Iterable[bytes | memoryview]] | None = None

    @classmethod
    def of_bytes(cls, data: bytes) -> Part:
        return cls(len(data), data=data)

    @classmethod
    def of_stream(cls, stream: Callable[[], Iterable[bytes | memoryview]]) -> Part:
        """A part whose size is found by running the stream once (cheap when it yields views)."""
        return cls(sum(len(c) for c in stream()), stream=stream)

    def chunks(self) -> Iterator[bytes | memoryview]:
        if self.mapped is not None:
            yield from self.mapped.windows(0, self.size)
        elif self.stream is not None:
            for chunk in self.stream():
                yield from _chunks(chunk) if len(chunk) > WINDOW else (chunk,)
        else:
            yield from _chunks(self.data)


def write_sections(out: Path, sections: Sequence[tuple[SectionType, Part]], arch: str) -> int:
    """Write header and sections contiguously, then the CRC; return the file size."""
    header = build_header([(k, part.size) for k, part in sections], arch=arch).pack()
    crc = zlib.crc32(header[:CRC_OFFSET])
    try:
        with open(out, "wb") as f:
            f.write(header)
            for kind, part in sections:
                sh = section_header(kind, part.size)
                crc = zlib.crc32(sh, crc)
                f.write(sh)
                written = 0
                for chunk in part.chunks():
                    crc = zlib.crc32(chunk, crc)
                    f.write(chunk)
                    written += len(chunk)
                if written != part.size:
                    raise EifdiffError(f"{out}: {kind.label} changed size while being written")
            f.seek(CRC_OFFSET)
            f.write(struct.pack(">I", crc))
            return f.seek(0, os.SEEK_END)
    except OSError as exc:
        raise EifdiffError(f"{out}: cannot write: {exc.strerror}") from None


def measure_parts(sections: Sequence[tuple[SectionType, Part]]) -> dict[str, str]:
    """PCR0/1/2 of sections in file order, hashing each byte once per chain: PCR1 is a copy of
    PCR0's hasher at the end of the first ramdisk when nothing but ramdisks follows it."""
    measured = [(k, p) for k, p in sections if k in MEASURED]
    first = next(i for i, (k, _) in enumerate(measured) if k is SectionType.RAMDISK)
    if any(k is not SectionType.RAMDISK for k, _ in measured[first + 1 :]):
        return _measure_plainly(measured)
    image, later = hashlib.sha384(), hashlib.sha384()
    boot = image
    for i, (_, part) in enumerate(measured):
        for chunk in part.chunks():
            image.update(chunk)
            if i > first:
                later.update(chunk)
        if i == first:
            boot = image.copy()
    return {"PCR0": extend(image.digest()).hex(), "PCR1": extend(boot.digest()).hex(),
            "PCR2": extend(later.digest()).hex()}


def _measure_plainly(measured: list[tuple[SectionType, Part]]) -> dict[str, str]:
    rds = [p for k, p in measured if k is SectionType.RAMDISK]
    boot = [p for k, p in measured if k is not SectionType.RAMDISK or p is rds[0]]

    def pcr(parts: list[Part]) -> str:
        return measure_chunks(c for p in parts for c in p.chunks()).hex()

    return {"PCR0": pcr([p for _, p in measured]), "PCR1": pcr(boot), "PCR2": pcr(rds[1:])}


def build_eif(
    output: str | os.PathLike[str], *, kernel: Blob, cmdline: bytes, ramdisks: Sequence[Blob],
    metadata: Metadata, arch: str = "x86_64", signer: Signer | None = None,
) -> BuildResult:
    """Write the EIF to `output` and return its PCRs."""
    if not ramdisks:
        raise EifdiffError("an EIF needs at least one ramdisk")
    if b"\0" in cmdline:
        raise EifdiffError("the kernel command line contains a NUL byte")
    if arch not in ("x86_64", "aarch64"):
        raise EifdiffError(f"unknown architecture {arch!r} (x86_64 or aarch64)")
    with ExitStack() as stack:

        def part(blob: Blob) -> Part:
            if isinstance(blob, Path):
                mapped = stack.enter_context(MappedFile.open(blob))
                return Part(mapped.size, mapped=mapped)
            return Part.of_bytes(bytes(blob))

        sections: list[tuple[SectionType, Part]] = [
            (SectionType.KERNEL, part(kernel)), (SectionType.CMDLINE, Part.of_bytes(cmdline)),
            (SectionType.METADATA, Part.of_bytes(encode_metadata(metadata))),
            *((SectionType.RAMDISK, part(r)) for r in ramdisks),
        ]
        pcrs = measure_parts(sections)
        if signer is not None:
            from eifdiff.formats import signature as sig

            cose = sig.sign_pcr0(bytes.fromhex(pcrs["PCR0"]), signer.key,
                                 deterministic=signer.deterministic)
            section = sig.encode_signature_section(
                [sig.PcrSignature(signer.certificate_pem, cose.encode())]
            )
            sections.append((SectionType.SIGNATURE, Part.of_bytes(section)))
            cert = sig.load_certificate(signer.certificate_pem)
            pcrs["PCR8"] = measure_chunks([sig.certificate_der(cert)]).hex()
        out = Path(output)
        size = write_sections(out, sections, arch)
    return BuildResult(str(out), size, pcrs)
