"""A Nitro attestation document: a COSE_Sign1 (CBOR) whose payload is the NSM's signed claims.

The file may hold the raw CBOR, base64 or hex (detected). Decoding is bounded: the file and the
decoded document have size limits, and the CBOR is walked once before cbor2 decodes it, so a
truncated item, a length past the end, nesting past `MAX_DEPTH`, an indefinite length or an
unexpected tag is refused with the offset, before anything is allocated from a claimed size.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import cbor2

from eifdiff.errors import FormatError

MAX_FILE = 16 << 20  # bytes read from the file (hex doubles the document, base64 adds a third)
MAX_DOCUMENT = 4 << 20  # the decoded CBOR; real documents are 3 to 10 KiB
MAX_DEPTH = 16
MAX_ITEMS = 100_000
COSE_SIGN1_TAG = 18
ES384 = -35
PCR_SIZES = (32, 48, 64)
MAX_PCR_INDEX = 31
MAX_CABUNDLE = 32  # AWS's chains hold 4; each certificate costs a signature check

_HEX = re.compile(rb"[0-9a-fA-F]+")
_BASE64 = re.compile(rb"[A-Za-z0-9+/_-]+={0,2}")
_WHITESPACE = re.compile(rb"\s+")


@dataclass(frozen=True)
class AttestationDocument:
    """The envelope and the claims of one attestation document, as read (nothing verified)."""

    source: str
    encoding: str  # "cbor", "base64" or "hex": how the file held it
    cose: bytes  # the COSE_Sign1 bytes
    tagged: bool  # carried CBOR tag 18
    protected: bytes
    unprotected: Any
    payload: bytes
    signature: bytes
    module_id: str
    digest: str
    timestamp: int  # milliseconds since the epoch, as the NSM writes it
    pcrs: dict[int, bytes] = field(hash=False)
    certificate: bytes  # DER of the leaf
    cabundle: tuple[bytes, ...] | None  # DER, root first; None when the document has none
    public_key: bytes | None
    user_data: bytes | None
    nonce: bytes | None

    @property
    def algorithm(self) -> int | None:
        """The COSE algorithm id of the protected header (-35 is ES384), None when absent."""
        try:
            header = cbor2.loads(self.protected) if self.protected else {}
        except Exception:  # the protected header was walked with the rest; this is belt and braces
            return None
        alg = header.get(1) if isinstance(header, dict) else None
        return alg if isinstance(alg, int) else None

    @property
    def time(self) -> datetime:
        """The document's timestamp (clamped to datetime's range)."""
        seconds = min(self.timestamp / 1000, 253402300799)
        return datetime.fromtimestamp(seconds, UTC)

    def pcr_hex(self, index: int) -> str | None:
        value = self.pcrs.get(index)
        return None if value is None else value.hex()

    @property
    def debug_mode(self) -> bool:
        """PCR0, PCR1 and PCR2 are all zero: the enclave ran in debug mode."""
        return all(i in self.pcrs and not any(self.pcrs[i]) for i in (0, 1, 2))


def _head(data: bytes, pos: int, where: str) -> tuple[int, int, int, int]:
    """(major type, additional info, argument, position after the head) of the item at `pos`."""
    if pos >= len(data):
        raise FormatError(f"{where}: CBOR ends at offset {len(data)} where an item was expected "
                          "(truncated)")
    initial = data[pos]
    major, info = initial >> 5, initial & 31
    if info < 24:
        return major, info, info, pos + 1
    if info <= 27:
        n = 1 << (info - 24)
        if pos + 1 + n > len(data):
            raise FormatError(f"{where}: CBOR item head at offset {pos} is cut short (truncated)")
        return major, info, int.from_bytes(data[pos + 1 : pos + 1 + n], "big"), pos + 1 + n
    if info == 31:
        raise FormatError(f"{where}: indefinite-length CBOR item at offset {pos} (attestation "
                          "documents use definite lengths)")
    raise FormatError(f"{where}: reserved CBOR additional information {info} at offset {pos}")


def scan_cbor(data: bytes, where: str, *, top_tag: int | None = None) -> int:
    """Walk the first CBOR item of `data` without decoding it; return where it ends.

    Refuses (FormatError, with the offset) truncation, a string longer than what is left, nesting
    deeper than `MAX_DEPTH`, more than `MAX_ITEMS` items, indefinite lengths, and any tag except
    `top_tag` on the outermost item. Work is bounded by the length of `data`.
    """
    pos, items = 0, 0
    remaining: list[int] = []  # items still expected by each open array or map
    while True:
        start = pos
        major, info, arg, pos = _head(data, pos, where)
        items += 1
        if items > MAX_ITEMS:
            raise FormatError(f"{where}: more than {MAX_ITEMS} CBOR items")
        if major == 6:
            if start != 0 or arg != top_tag:
                expected = f" (expected COSE_Sign1, tag {top_tag})" if start == 0 and top_tag \
                    else ""
                raise FormatError(f"{where}: unexpected CBOR tag {arg} at offset {start}{expected}")
            continue  # the tag wraps the next item
        if major in (2, 3):
            if arg > len(data) - pos:
                kind = "byte" if major == 2 else "text"
                raise FormatError(f"{where}: {kind} string of {arg} bytes at offset {start} runs "
                                  f"past the end of the {len(data)}-byte document (truncated)")
            pos += arg
        elif major in (4, 5):
            count = arg * (2 if major == 5 else 1)
            if count:
                if len(remaining) >= MAX_DEPTH:
                    raise FormatError(f"{where}: CBOR nested deeper than {MAX_DEPTH} levels at "
                                      f"offset {start}")
                if count > len(data) - pos:  # each item takes at least one byte
                    raise FormatError(f"{where}: CBOR {'map' if major == 5 else 'array'} at offset "
                                      f"{start} declares {arg} entries but the document ends "
                                      f"at offset {len(data)} (truncated)")
                remaining.append(count)
                continue
        elif major == 7 and info == 31:
            raise FormatError(f"{where}: unexpected CBOR break at offset {start}")
        # one item is complete: close every container it completes
        while remaining:
            remaining[-1] -= 1
            if remaining[-1]:
                break
            remaining.pop()
        if not remaining:
            return pos


def decode_text(data: bytes, source: str) -> tuple[bytes, str]:
    """The document's bytes and how the file held them: hex, base64, or raw CBOR."""
    compact = _WHITESPACE.sub(b"", data)
    if not compact:
        raise FormatError(f"{source}: empty file, not an attestation document")
    if _HEX.fullmatch(compact) and len(compact) % 2 == 0:
        return bytes.fromhex(compact.decode("ascii")), "hex"
    if _BASE64.fullmatch(compact) and data[:1] not in (b"\x84", b"\xd2"):
        standard = compact.translate(bytes.maketrans(b"-_", b"+/"))
        standard += b"=" * (-len(standard) % 4)
        try:
            return base64.b64decode(standard, validate=True), "base64"
        except (binascii.Error, ValueError):
            raise FormatError(f"{source}: looks like base64 but does not decode") from None
    return bytes(data), "cbor"


def read_document_bytes(path: str | os.PathLike[str]) -> tuple[bytes, str]:
    """Read at most `MAX_FILE` bytes of `path` and decode the text encoding, if any."""
    source = os.fspath(path)
    return decode_text(read_bounded(source, MAX_FILE, "an attestation document"), source)


def read_bounded(path: str | os.PathLike[str], limit: int, what: str) -> bytes:
    """The bytes of the file at `path`, refused (one-line `FormatError`) when it cannot be
    read or holds more than `limit` bytes; never reads more than `limit` + 1."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise FormatError(f"{source}: {size} bytes is beyond the {limit}-byte limit "
                                  f"for {what}")
            data = f.read(limit + 1)
    except OSError as exc:
        raise FormatError(f"{source}: cannot read: {exc.strerror}") from None
    if len(data) > limit:
        raise FormatError(f"{source}: beyond the {limit}-byte limit for {what}")
    return data


def _loads(data: bytes, where: str, *, top_tag: int | None = None) -> Any:
    end = scan_cbor(data, where, top_tag=top_tag)
    if end != len(data):
        raise FormatError(f"{where}: {len(data) - end} bytes after the CBOR item that ends at "
                          f"offset {end}")
    try:
        return cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError,
            MemoryError) as exc:
        raise FormatError(f"{where}: malformed CBOR: {exc}") from None


def _bytes_or_none(payload: dict[str, Any], key: str, where: str) -> bytes | None:
    value = payload.get(key)
    if value is not None and not isinstance(value, bytes):
        raise FormatError(f"{where}: {key} is {type(value).__name__}, expected bytes or null")
    return value


def _pcrs(value: Any, where: str) -> dict[int, bytes]:
    if not isinstance(value, dict) or not value:
        raise FormatError(f"{where}: pcrs is not a non-empty map")
    out: dict[int, bytes] = {}
    for index, digest in value.items():
        if not isinstance(index, int) or isinstance(index, bool) or \
                not 0 <= index <= MAX_PCR_INDEX:
            raise FormatError(f"{where}: PCR index {index!r} is not an integer 0..{MAX_PCR_INDEX}")
        if not isinstance(digest, bytes) or len(digest) not in PCR_SIZES:
            size = len(digest) if isinstance(digest, bytes) else type(digest).__name__
            raise FormatError(f"{where}: PCR{index} is {size}, expected 48 bytes")
        out[index] = digest
    return dict(sorted(out.items()))


def decode_document(data: bytes, source: str = "document", encoding: str = "cbor"
                    ) -> AttestationDocument:
    """Check and decode the COSE_Sign1 envelope and its payload; raise `FormatError` (one line,
    naming `source` and the offset) when it is not an attestation document."""
    if len(data) > MAX_DOCUMENT:
        raise FormatError(f"{source}: the document is {len(data)} bytes, beyond the "
                          f"{MAX_DOCUMENT}-byte limit")
    top = _loads(data, f"{source}: COSE_Sign1", top_tag=COSE_SIGN1_TAG)
    tagged = isinstance(top, cbor2.CBORTag)
    if tagged:
        top = top.value
    if not isinstance(top, (list, tuple)):
        raise FormatError(f"{source}: COSE_Sign1 is a CBOR {type(top).__name__}, expected an "
                          "array of four items")
    if len(top) != 4:
        raise FormatError(f"{source}: COSE_Sign1 is an array of {len(top)} items, expected 4")
    protected, unprotected, payload, signature = top
    for name, value in (("protected header", protected), ("payload", payload),
                        ("signature", signature)):
        if not isinstance(value, bytes):
            raise FormatError(f"{source}: COSE_Sign1 {name} is {type(value).__name__}, "
                              "expected bytes")
    if protected:
        header = _loads(protected, f"{source}: protected header")
        if not isinstance(header, dict):
            raise FormatError(f"{source}: protected header is not a CBOR map")
    if unprotected is not None and not isinstance(unprotected, Mapping):
        raise FormatError(f"{source}: unprotected header is not a CBOR map")
    where = f"{source}: payload"
    claims = _loads(payload, where)
    if not isinstance(claims, dict):
        raise FormatError(f"{where}: not a CBOR map")
    for key, kind in (("module_id", str), ("digest", str), ("timestamp", int),
                      ("certificate", bytes)):
        value = claims.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            got = "absent" if value is None else type(value).__name__
            raise FormatError(f"{where}: {key} is {got}, expected {kind.__name__}")
    if claims["timestamp"] < 0:
        raise FormatError(f"{where}: timestamp {claims['timestamp']} is negative")
    if claims["digest"] != "SHA384":
        raise FormatError(f"{where}: digest {claims['digest']!r} is not SHA384 (the only "
                          "digest Nitro documents use)")
    cabundle = claims.get("cabundle")
    if cabundle is not None:
        if not isinstance(cabundle, list) or not all(isinstance(c, bytes) for c in cabundle):
            raise FormatError(f"{where}: cabundle is not an array of byte strings")
        if len(cabundle) > MAX_CABUNDLE:
            raise FormatError(f"{where}: cabundle holds {len(cabundle)} certificates, more than "
                              f"{MAX_CABUNDLE}")
        cabundle = tuple(cabundle)
    return AttestationDocument(
        source=source, encoding=encoding, cose=data, tagged=tagged, protected=protected,
        unprotected=unprotected, payload=payload, signature=signature,
        module_id=claims["module_id"], digest=claims["digest"], timestamp=claims["timestamp"],
        pcrs=_pcrs(claims.get("pcrs"), where), certificate=claims["certificate"],
        cabundle=cabundle, public_key=_bytes_or_none(claims, "public_key", where),
        user_data=_bytes_or_none(claims, "user_data", where),
        nonce=_bytes_or_none(claims, "nonce", where),
    )


def read_document(path: str | os.PathLike[str]) -> AttestationDocument:
    """Read, detect the encoding of, and decode the attestation document at `path`."""
    data, encoding = read_document_bytes(path)
    return decode_document(data, os.fspath(path), encoding)
