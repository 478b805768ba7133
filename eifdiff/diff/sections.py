"""Differences in the small sections: metadata (unmeasured), signature (PCR8), kernel, cmdline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from eifdiff import rules as R
from eifdiff.diff.rows import Where
from eifdiff.diff.spans import equal, first_difference, last_difference
from eifdiff.diff.vmlinux import image_rows, same_compiler, vmlinux_rows
from eifdiff.formats.bzimage import KernelImage
from eifdiff.formats.eif import Section
from eifdiff.formats.kernel import KernelVersion
from eifdiff.formats.metadata import Metadata
from eifdiff.image import SignatureInfo
from eifdiff.records import Divergence

_TIME_FIELDS = {"BuildTime": R.BUILD_TIME, "Created": R.DOCKER_TIME, "LastTagTime": R.DOCKER_TIME}
METADATA = Where("metadata")
SIGNATURE = Where("signature")


def _flatten(prefix: str, v: Any) -> dict[str, Any]:
    if isinstance(v, dict):
        out: dict[str, Any] = {}
        for k, x in v.items():
            out.update(_flatten(f"{prefix}.{k}", x))
        return out or {prefix: {}}
    return {prefix: v}


def _locate(raw: bytes, key: str, v: Any) -> int | None:
    needle = f'"{key}":{json.dumps(v, ensure_ascii=False, separators=(",", ":"))}'.encode()
    at = raw.find(needle)
    return at + len(key) + 3 if at >= 0 else None


def diff_metadata(
    sa: Section, raw_a: bytes, ma: Metadata | None, sb: Section, raw_b: bytes, mb: Metadata | None
) -> Iterator[Divergence]:
    """Field by field; BuildTime and Docker creation times are timestamps, the rest metadata."""
    if raw_a == raw_b:
        return
    if ma is None or mb is None:
        yield METADATA.row(R.META, R.METADATA_BYTES, f"{len(raw_a)} bytes", f"{len(raw_b)} bytes",
                           offset_a=sa.data_offset, offset_b=sb.data_offset)
        return
    fields_a = {**{k: v for k, v in zip(
        ("ImageName", "ImageVersion"), (ma.image_name, ma.image_version), strict=True)},
        **ma.build_metadata(), **_flatten("DockerInfo", ma.docker_info),
        **_flatten("CustomMetadata", ma.custom_metadata)}
    fields_b = {**{k: v for k, v in zip(
        ("ImageName", "ImageVersion"), (mb.image_name, mb.image_version), strict=True)},
        **mb.build_metadata(), **_flatten("DockerInfo", mb.docker_info),
        **_flatten("CustomMetadata", mb.custom_metadata)}
    missing = object()
    for key in dict.fromkeys([*fields_a, *fields_b]):
        va, vb = fields_a.get(key, missing), fields_b.get(key, missing)
        if va == vb:
            continue
        leaf = key.rsplit(".", 1)[-1]
        field = _TIME_FIELDS.get(leaf, R.METADATA_VALUE)
        oa = _locate(raw_a, leaf, va) if va is not missing else None
        ob = _locate(raw_b, leaf, vb) if vb is not missing else None
        shown_a = None if va is missing else (va if isinstance(va, str) else json.dumps(va))
        shown_b = None if vb is missing else (vb if isinstance(vb, str) else json.dumps(vb))
        yield METADATA.row(R.META, field, shown_a, shown_b, part=key,
                           offset_a=None if oa is None else sa.data_offset + oa,
                           offset_b=None if ob is None else sb.data_offset + ob,
                           length=len(json.dumps(va, ensure_ascii=False).encode())
                           if oa is not None else None)


def _cert_label(s: SignatureInfo) -> str:
    issuer = ", ".join(f"{k}={v}" for k, v in s.certificate["IssuerName"].items())
    return f"{issuer}; PCR8 {s.pcr8}"


def diff_signature(
    sa: Section | None, raw_a: bytes, ia: SignatureInfo | None,
    sb: Section | None, raw_b: bytes, ib: SignatureInfo | None,
) -> Iterator[Divergence]:
    """Certificate (moves PCR8), algorithm, signed PCR0 (follows PCR0), signature bytes."""
    if raw_a == raw_b or sa is None or sb is None:
        return  # a signature on one side only is a section-level added/removed row
    oa, ob = sa.data_offset, sb.data_offset
    if ia is None or ib is None:
        yield SIGNATURE.row(R.SIG, R.SIGNATURE_BYTES, f"{len(raw_a)} bytes",
                            f"{len(raw_b)} bytes", offset_a=oa, offset_b=ob)
        return
    if ia.certificate_pem != ib.certificate_pem:
        yield SIGNATURE.row(R.SIG, R.CERTIFICATE, _cert_label(ia), _cert_label(ib),
                            pcrs=("PCR8",) if ia.pcr8 != ib.pcr8 else (), offset_a=oa,
                            offset_b=ob)
    if ia.algorithm != ib.algorithm:
        yield SIGNATURE.row(R.SIG, R.ALGORITHM, ia.algorithm, ib.algorithm, offset_a=oa,
                            offset_b=ob)
    if ia.register_value != ib.register_value:
        yield SIGNATURE.row(R.SIG, R.SIGNED_PCR0, ia.register_value, ib.register_value,
                            offset_a=oa, offset_b=ob)
    yield SIGNATURE.row(R.SIG, R.SIGNATURE, f"{len(raw_a)} bytes", f"{len(raw_b)} bytes",
                        offset_a=oa, offset_b=ob, length=len(raw_a))


def diff_kernel(
    sa: Section, data_a: memoryview, va: KernelVersion | None,
    sb: Section, data_b: memoryview, vb: KernelVersion | None, pcrs: tuple[str, ...],
    ka: KernelImage | None = None, kb: KernelImage | None = None,
) -> Iterator[Divergence]:
    """The version string split into release, build host, build number, date, flags and
    distribution version; with both kernels read (`ka`, `kb`), what differs inside the vmlinux
    (`eifdiff.diff.vmlinux`); then whether anything else differs."""
    if equal(data_a, data_b):
        return
    explained_a = explained_b = None
    kernel = Where("kernel", pcrs)
    if va is not None and vb is not None and va.text != vb.text:
        oa, ob = sa.data_offset + va.offset, sb.data_offset + vb.offset
        parts = (("release", R.RELEASE), ("build_host", R.BUILD_HOST),
                 ("build_number", R.BUILD_NUMBER), ("build_date", R.BUILD_DATE),
                 ("distro_version", R.DISTRO_VERSION), ("flags", R.BUILD_FLAGS))
        found = False
        for attr, field in parts:
            x, y = getattr(va, attr), getattr(vb, attr)
            if x != y:
                found = True
                row = kernel.row(R.KERNEL, field, x, y, offset_a=oa + va.text.find(x) if x else oa,
                                 offset_b=ob + vb.text.find(y) if y else ob, length=len(x))
                yield same_compiler(row, ka, kb) if field == R.RELEASE else row
        if not found:
            yield kernel.row(R.KERNEL, R.VERSION_STRING, va.text, vb.text, offset_a=oa,
                             offset_b=ob, length=len(va.text))
        # a longer string on one side overwrites what follows the shorter one's NUL
        span = (min(va.offset, vb.offset),
                max(va.offset + len(va.text), vb.offset + len(vb.text)) + 1)
        explained_a = explained_b = span
    if ka is not None and kb is not None:
        yield from vmlinux_rows(kernel, ka, kb, with_version=va is None or vb is None)
        rows = image_rows(kernel, sa, data_a, ka, sb, data_b, kb, explained_a)
        if rows is not None:
            yield from rows
            return
    first = first_difference(data_a, data_b)
    last_a, last_b = last_difference(data_a, data_b)
    inside = (
        explained_a is not None and explained_b is not None and first is not None
        and explained_a[0] <= first and last_a < explained_a[1] and last_b < explained_b[1]
    )
    if not inside:
        yield kernel.row(R.KERNEL, R.IMAGE_BYTES, f"{len(data_a)} bytes",
                         f"{len(data_b)} bytes",
                         offset_a=None if first is None else sa.data_offset + first,
                         offset_b=None if first is None else sb.data_offset + first,
                         length=len(data_a))


def diff_cmdline(
    sa: Section, text_a: str, sb: Section, text_b: str, pcrs: tuple[str, ...]
) -> Iterator[Divergence]:
    """Token by token: changed `key=value`, tokens on one side only, or only their order."""
    if text_a == text_b:
        return
    ta, tb = text_a.split(), text_b.split()

    def key(t: str) -> str:
        return t.split("=", 1)[0]

    here = Where("cmdline", pcrs)
    ka = {key(t): t for t in ta}
    kb = {key(t): t for t in tb}
    found = False
    for k in dict.fromkeys([*ka, *kb]):
        x, y = ka.get(k), kb.get(k)
        if x != y:
            found = True
            yield here.row(R.CMDLINE, R.TOKEN, x, y, part=k,
                           offset_a=sa.data_offset + text_a.find(x) if x else None,
                           offset_b=sb.data_offset + text_b.find(y) if y else None,
                           length=len(x) if x else None)
    if not found:
        field = R.TOKEN_ORDER if sorted(ta) == sorted(tb) else R.WHITESPACE
        yield here.row(R.CMDLINE, field, text_a, text_b, offset_a=sa.data_offset,
                       offset_b=sb.data_offset, length=len(text_a))
