"""`eifdiff describe`: one image's measurements and metadata, shaped as nitro-cli describe-eif.

`describe_json` has nitro-cli's keys in nitro-cli's order, plus an `eifdiff` key with what
nitro-cli does not show (section table, architecture, kernel version string, anomalies) and,
given the enclave layer (`eifdiff.enclave`), the kernel read down to its vmlinux, the `init` and
modules with the nitro-cli blobs they are, and the consistency warnings.
"""

from __future__ import annotations

from typing import Any

from eifdiff.blobs import KnownBlob
from eifdiff.enclave import EnclaveLayer
from eifdiff.escape import terminal
from eifdiff.formats.kernel import KernelVersion
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


def _blob(b: KnownBlob | None) -> dict[str, Any] | None:
    if b is None:
        return None
    return {"label": b.label, "kind": b.kind, "arch": b.arch, "path": b.path, "date": b.date,
            "commit": b.commit, "releases": list(b.releases), "sha256": b.sha256,
            "git_blob": b.git_blob}


def _banner(kv: KernelVersion | None) -> dict[str, Any] | None:
    if kv is None:
        return None
    return {"text": kv.text, "source": kv.source, "release": kv.release,
            "builder": kv.build_host, "compiler": kv.compiler, "linker": kv.linker,
            "build_number": kv.build_number, "flags": kv.flags,
            "distro_version": kv.distro_version, "build_date": kv.build_date}


def layer_block(layer: EnclaveLayer) -> dict[str, Any]:
    """The enclave layer (PCR1) as JSON: kernel, boot parts, known blobs, warnings."""
    k = layer.kernel
    kernel: dict[str, Any] | None = None
    if k is None:
        kernel = {"error": layer.kernel_error}
    else:
        kernel = {
            "format": k.format, "arch": k.arch, "compression": k.compression,
            "payload_offset": k.payload_offset, "payload_size": k.payload_size,
            "boot_protocol": k.setup.protocol if k.setup else None,
            "vmlinux_size": len(k.vmlinux), "vmlinux_build_id": k.build_id,
            "banner": _banner(k.banner),
            "toolchain": [{"role": t.role, "tool": t.tool, "version": t.version,
                           "release": t.release} for t in (k.elf.toolchain if k.elf else ())],
            "config": None if k.config is None else {
                "offset": k.config.offset, "release": k.config.release,
                "options": len(k.config.options)},
            "initramfs": None if k.initramfs is None else {
                "offset": k.initramfs.offset, "size": len(k.initramfs.data),
                "names": list(k.initramfs.names)},
        }
    parts = []
    for p in layer.parts:
        f = p.elf
        parts.append({
            "path": p.path, "role": p.role, "sha256": p.sha256, "arch": p.arch,
            "build_id": f.build_id if f else None,
            "compiler": sorted({t.release for t in f.compilers}) if f else [],
            "vermagic": p.vermagic,
            "srcversion": f.module.get("srcversion") if f and f.module else None,
            "blob": _blob(p.blob), "error": p.error,
        })
    return {
        "Kernel": kernel, "KernelBlob": _blob(layer.kernel_blob),
        "CmdlineBlob": _blob(layer.cmdline_blob), "BootParts": parts,
        "Warnings": [{"kind": w.kind, "path": w.path, "found": w.found,
                      "expected": w.expected, "message": w.message} for w in layer.warnings],
    }


def eifdiff_block(image: EifImage, layer: EnclaveLayer | None = None) -> dict[str, Any]:
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
            {"path": a.path, "offset": a.offset, "message": a.message}
            for a in (*image.anomalies, *(layer.anomalies if layer else ()))
        ],
    }
    if layer is not None:
        out.update(layer_block(layer))
    if image.signature is not None:
        s = image.signature
        out["Signature"] = {
            "Algorithm": s.algorithm, "CoseVerifies": s.cose_verifies,
            "PayloadMatchesPCR0": s.payload_matches_pcr0, "RegisterIndex": s.register_index,
            "RegisterValue": s.register_value, "Entries": s.entries,
        }
    return out


def describe_json(image: EifImage, layer: EnclaveLayer | None = None) -> dict[str, Any]:
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
    out["eifdiff"] = eifdiff_block(image, layer)
    return out


def layer_lines(layer: EnclaveLayer) -> list[str]:
    """The enclave layer for the terminal, indented under the image."""
    lines = []
    k = layer.kernel
    if k is None:
        lines.append(f"  vmlinux: not read ({terminal(layer.kernel_error or '')})")
    else:
        lines.append(f"  vmlinux: {k.format} {k.arch}, payload {k.compression or 'none'}"
                     + (f" at offset {k.payload_offset}, {k.payload_size} bytes"
                        if k.payload_offset is not None else "")
                     + f", {len(k.vmlinux)} bytes decompressed, build-id {k.build_id or '-'}")
        b = k.banner
        if b is not None:
            lines.append(f"    release {terminal(b.release)}, built by {terminal(b.build_host)} "
                         f"{terminal(b.build_number)} {terminal(b.distro_version)} "
                         f"on {terminal(b.build_date) or '?'}")
            if b.compiler:
                lines.append(f"    compiler {terminal(b.compiler)}"
                             + (f"; linker {terminal(b.linker)}" if b.linker else ""))
        if k.config is not None:
            lines.append(f"    embedded config: {len(k.config.options)} options")
        if k.initramfs is not None:
            lines.append(f"    built-in initramfs: {len(k.initramfs.names)} entries, "
                         f"{len(k.initramfs.data)} bytes")
    for role, blob in (("kernel", layer.kernel_blob), ("cmdline", layer.cmdline_blob)):
        if blob is not None:
            lines.append(f"  {role} is {blob.label}")
    for p in layer.parts:
        what = p.blob.label if p.blob is not None else "not a known nitro-cli blob"
        if p.error:
            what += f" (ELF not read: {terminal(p.error)})"
        vm = f", vermagic {terminal(p.vermagic)!r}" if p.vermagic else ""
        lines.append(f"  {terminal(p.path)}: {p.arch or 'not ELF'}{vm}; {what}")
    for w in layer.warnings:
        lines.append(f"  WARNING {terminal(str(w))}")
    return lines


def describe_text(image: EifImage, layer: EnclaveLayer | None = None) -> str:
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
        sig = image.signature
        issuer = ", ".join(f"{k}={v}" for k, v in sig.certificate["IssuerName"].items())
        lines.append(f"  signed: {sig.algorithm} by {issuer}; signature "
                     f"{'verifies' if sig.cose_verifies else 'does NOT verify'}, payload "
                     f"{'matches' if sig.payload_matches_pcr0 else 'does NOT match'} PCR0")
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
        lines.append(f"  kernel ({image.kernel_format}): {terminal(image.kernel_version.text)}")
    else:
        lines.append(f"  kernel ({image.kernel_format}): no version string found")
    if layer is not None:
        lines += layer_lines(layer)
    lines.append("  sections:")
    feeds = sections_feeding(lay)
    for s in lay.sections:
        pcrs = ",".join(k for k, v in feeds.items() if s.name in v) or "-"
        lines.append(f"    [{s.index}] {s.name:<12} offset {s.offset:>10}  size {s.size:>10}"
                     f"  feeds {pcrs}")
    for a in (*image.anomalies, *(layer.anomalies if layer else ())):
        lines.append(f"  anomaly: {a}")
    return "\n".join(terminal(line) for line in lines)
