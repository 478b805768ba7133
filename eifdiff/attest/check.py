"""What an image is expected to measure: nitro-cli's `build-enclave`, `describe-eif` or
`describe-enclaves` JSON, a plain PCR map, PCR flags, or an attestation document.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eifdiff.attest.document import (
    MAX_FILE,
    AttestationDocument,
    decode_document,
    decode_text,
    read_bounded,
)
from eifdiff.errors import FormatError

_PCR_KEY = re.compile(r"(?:pcr)?(\d{1,2})", re.IGNORECASE)
_SHA384_HEX = re.compile(r"[0-9a-fA-F]{96}")


@dataclass(frozen=True)
class Expectation:
    """Expected PCR values (`PCRn` -> lowercase hex) and where they came from."""

    kind: str  # attestation, build-enclave, describe-eif, describe-enclaves, pcr-map, flags
    source: str
    pcrs: dict[str, str] = field(hash=False)
    document: AttestationDocument | None = None

    @property
    def debug_mode(self) -> bool:
        return all(self.pcrs.get(p) == "0" * 96 for p in ("PCR0", "PCR1", "PCR2"))


def pcr_name(key: str, where: str) -> str:
    """`PCR0`, `pcr0` or `0` as `PCR0`; anything else is refused."""
    m = _PCR_KEY.fullmatch(key.strip())
    if not m or int(m.group(1)) > 31:
        raise FormatError(f"{where}: {key!r} is not a PCR name (PCR0..PCR31)")
    return f"PCR{int(m.group(1))}"


def pcr_value(value: Any, name: str, where: str) -> str:
    """A 48-byte SHA-384 PCR as 96 lowercase hex digits."""
    if not isinstance(value, str) or not _SHA384_HEX.fullmatch(value.strip()):
        shown = value if isinstance(value, str) else type(value).__name__
        raise FormatError(f"{where}: {name} is {str(shown)[:40]!r}, expected 96 hex digits "
                          "(a SHA-384 PCR)")
    return value.strip().lower()


def pcrs_from_map(values: Mapping[str, Any], where: str, *, strict: bool) -> dict[str, str]:
    """PCR entries of a JSON object; other keys are refused when `strict`, skipped otherwise
    (nitro-cli's `HashAlgorithm` is always skipped)."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if key == "HashAlgorithm" or (not strict and not _PCR_KEY.fullmatch(key.strip())):
            continue
        name = pcr_name(key, where)
        if name in out:
            raise FormatError(f"{where}: {name} given twice")
        out[name] = pcr_value(value, name, where)
    if not out:
        raise FormatError(f"{where}: no PCR values found")
    return dict(sorted(out.items(), key=lambda kv: int(kv[0][3:])))


def _from_json(doc: Any, source: str) -> Expectation:
    if isinstance(doc, list):
        if len(doc) != 1 or not isinstance(doc[0], dict) or "Measurements" not in doc[0]:
            raise FormatError(f"{source}: a JSON array must hold exactly one enclave "
                              "(nitro-cli describe-enclaves) with Measurements")
        return Expectation("describe-enclaves", source,
                           _measurements(doc[0]["Measurements"], source))
    if not isinstance(doc, dict):
        raise FormatError(f"{source}: JSON {type(doc).__name__}, expected an object")
    if "Measurements" in doc:
        kind = "describe-eif" if "EifVersion" in doc else "build-enclave"
        return Expectation(kind, source, _measurements(doc["Measurements"], source))
    return Expectation("pcr-map", source, pcrs_from_map(doc, source, strict=True))


def _measurements(value: Any, source: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise FormatError(f"{source}: Measurements is not a JSON object")
    return pcrs_from_map(value, f"{source}: Measurements", strict=False)


def document_pcrs(doc: AttestationDocument) -> dict[str, str]:
    return {f"PCR{i}": v.hex() for i, v in doc.pcrs.items()}


def read_expectation(path: str | os.PathLike[str]) -> Expectation:
    """The expected PCRs in the file at `path`: JSON when it starts with `{` or `[`, an
    attestation document (CBOR, base64 or hex) otherwise."""
    source = os.fspath(path)
    data = read_bounded(source, MAX_FILE, "an expectation file")
    if data.lstrip()[:1] in (b"{", b"["):
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise FormatError(f"{source}: not valid JSON: {str(exc)[:120]}") from None
        return _from_json(doc, source)
    raw, encoding = decode_text(data, source)
    document = decode_document(raw, source, encoding)
    return Expectation("attestation", source, document_pcrs(document), document)


def expectation_from_flags(values: Mapping[str, str | None]) -> Expectation:
    """PCRs given on the command line (`{"PCR0": hex, ...}`, None for unset)."""
    given = {k: v for k, v in values.items() if v is not None}
    if not given:
        raise FormatError("check: give --expect FILE or at least one of --pcr0, --pcr1, --pcr2, "
                          "--pcr8")
    return Expectation("flags", "command line", pcrs_from_map(given, "command line", strict=True))
