"""`eifdiff describe`: one image's measurements and metadata, shaped as nitro-cli describe-eif.

`describe_json` has nitro-cli's keys in nitro-cli's order, plus an `eifdiff` key with what
nitro-cli does not show (section table, architecture, kernel version string, anomalies).
"""

from __future__ import annotations

from typing import Any

from eifdiff.escape import terminal
from eifdiff.image import EifImage
from eifdiff.measure import sections_feeding

HASH_ALGORITHM = "Sha384 { ... }"  # what released nitro-cli versions print


def _metadata_block(image: EifImage) -> dict[str, Any]:
    md = image.metadata
    assert md is not None
    block: dict[str, Any] = dict(md.build_metadata())
    block["DockerInfo"] = md.docker_info
    custom = md.custom_metadata
    if isinstance(custom, dict):
        block.update(sorted(custom.items()))
    elif custom is not None:
        block["CustomMetadata"] = custom  # nitro-cli cannot flatten a non-object and fails here
    return block


def eifdiff_block(image: EifImage) -> dict[str, Any]:
    """What eifdiff adds: the container as laid out, the kernel, and what looked wrong."""
    lay = image.layout
    kv = image.kernel_version
    out: dict[str, Any] = {
        "FileSize": lay.file_size,
        "Architecture": lay.header.arch,
        "HeaderFlags": lay.header.flags,
        "StoredCRC": f"0x{lay.header.crc32:08x}",
        "ComputedCRC": f"0x{image.digests.crc32:08x}",
        "Sections": [
            {
                "index": s.index, "type": s.type.reference_name, "name": s.name,
                "offset": s.offset, "data_offset": s.data_offset, "size": s.size,
                "flags": s.flags,
            }
            for s in lay.sections
        ],
        "TrailingBytes": lay.trailing,
        "PcrInputs": {k: list(v) for k, v in sections_feeding(lay).items()},
        "KernelFormat": image.kernel_format,
        "KernelVersion": None if kv is None else {
            "text": kv.text, "source": kv.source, "release": kv.release,
            "build_host": kv.build_host, "build_number": kv.build_number,
            "build_date": kv.build_date,
        },
        "Anomalies": [
            {"path": a.path, "offset": a.offset, "message": a.message} for a in image.anomalies
        ],
    }
    if image.signature is not None:
        s = image.signature
        out["Signature"] = {
            "Algorithm": s.algorithm, "CoseVerifies": s.cose_verifies,
            "PayloadMatchesPCR0": s.payload_matches_pcr0, "RegisterIndex": s.register_index,
            "RegisterValue": s.register_value, "Entries": s.entries,
        }
    return out


def describe_json(image: EifImage) -> dict[str, Any]:
    """The describe document: nitro-cli's shape first, then the `eifdiff` key."""
    out: dict[str, Any] = {
        "EifVersion": image.layout.header.version,
        "Measurements": {"HashAlgorithm": HASH_ALGORITHM, **image.pcrs},
        "IsSigned": image.is_signed,
    }
    if image.is_signed:
        out["SigningCertificate"] = image.signature.certificate if image.signature else None
    out["CheckCRC"] = image.crc_ok
    if image.is_signed:
        out["SignatureCheck"] = image.signature.check if image.signature else False
    if image.metadata is not None:
        out["ImageName"] = image.metadata.image_name
        out["ImageVersion"] = image.metadata.image_version
        out["Metadata"] = _metadata_block(image)
    out["eifdiff"] = eifdiff_block(image)
    return out


def describe_text(image: EifImage) -> str:
    """A readable summary for the terminal."""
    lay = image.layout
    lines = [f"{image.path}: EIF version {lay.header.version}, {lay.header.arch}, "
             f"{lay.file_size} bytes, {len(lay.sections)} sections"]
    for name, value in image.pcrs.items():
        lines.append(f"  {name}  {value}")
    crc = "ok" if image.crc_ok else (f"MISMATCH (stored 0x{lay.header.crc32:08x}, "
                                     f"computed 0x{image.digests.crc32:08x})")
    lines.append(f"  CRC-32 {crc}")
    if image.signature is not None:
        s = image.signature
        issuer = ", ".join(f"{k}={v}" for k, v in s.certificate["IssuerName"].items())
        lines.append(f"  signed: {s.algorithm} by {issuer}; signature "
                     f"{'verifies' if s.cose_verifies else 'does NOT verify'}, payload "
                     f"{'matches' if s.payload_matches_pcr0 else 'does NOT match'} PCR0")
    elif image.is_signed:
        lines.append("  signed: signature section could not be read (see anomalies)")
    md = image.metadata
    if md is not None:
        lines.append(f"  image {md.image_name!r} version {md.image_version!r}, built "
                     f"{md.build_time} by {md.build_tool} {md.build_tool_version}")
        lines.append(f"  metadata OS {md.operating_system!r}, kernel {md.kernel_version!r}")
        if md.custom_metadata is not None:
            lines.append(f"  custom metadata: {md.custom_metadata}")
    if image.kernel_version is not None:
        lines.append(f"  kernel ({image.kernel_format}): {image.kernel_version.text}")
    else:
        lines.append(f"  kernel ({image.kernel_format}): no version string found")
    lines.append("  sections:")
    feeds = sections_feeding(lay)
    for s in lay.sections:
        pcrs = ",".join(k for k, v in feeds.items() if s.name in v) or "-"
        lines.append(f"    [{s.index}] {s.name:<12} offset {s.offset:>10}  size {s.size:>10}"
                     f"  feeds {pcrs}")
    for a in image.anomalies:
        lines.append(f"  anomaly: {a}")
    return "\n".join(terminal(line) for line in lines)
