"""An `Outcome` as text (terminal), Markdown (CI job summary) and JSON (schema eifdiff-attest/1).

Module ids, user data, nonces and certificate names come from the document, so from whoever made
it: every text is escaped for its medium by `eifdiff.escape` (`terminal`, `markdown`), the same
scheme as every other output. JSON is written ASCII-only.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from eifdiff.attest.document import AttestationDocument
from eifdiff.attest.explain import Explanation, PcrRow
from eifdiff.attest.outcome import SCHEMA, Outcome
from eifdiff.attest.verify import Verification
from eifdiff.escape import markdown, terminal

SHOWN_PCRS = (0, 1, 2, 3, 4, 8)
PREVIEW_BYTES = 16
PREVIEW_CHARS = 48


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text_preview(value: bytes) -> str | None:
    """The start of `value` as text, when it is UTF-8 (escaped by the caller)."""
    try:
        text = value[: PREVIEW_CHARS * 4].decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        try:  # a cut multi-byte character at the end is not a reason to give up
            text = value[: PREVIEW_CHARS * 4 - 3].decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            return None
    if not text or sum(c.isprintable() for c in text) < 0.9 * len(text):
        return None
    return text[:PREVIEW_CHARS]


def blob(value: bytes | None) -> dict[str, Any] | None:
    """Size, digest and previews of an optional byte string of the document."""
    if value is None:
        return None
    return {"size": len(value), "sha256": hashlib.sha256(value).hexdigest(),
            "hex_preview": value[:PREVIEW_BYTES].hex(), "text_preview": _text_preview(value)}


def blob_text(value: bytes | None) -> str:
    b = blob(value)
    if b is None:
        return "absent (null)"
    if not b["size"]:
        return "0 bytes"
    more = "…" if b["size"] > PREVIEW_BYTES else ""
    line = f"{b['size']} bytes, hex {b['hex_preview']}{more}"
    if b["text_preview"] is not None:
        cut = "…" if len(value or b"") > len(b["text_preview"]) else ""
        line += f", text \"{terminal(b['text_preview'])}\"{cut}"
    return line


def shown_pcrs(doc: AttestationDocument) -> list[int]:
    """PCR0-4 and PCR8, and any other PCR that is not zero."""
    return [i for i in doc.pcrs if i in SHOWN_PCRS or any(doc.pcrs[i])]


# --- JSON ---------------------------------------------------------------------------------------
def document_json(doc: AttestationDocument) -> dict[str, Any]:
    return {
        "source": doc.source, "encoding": doc.encoding, "size": len(doc.cose),
        "tagged": doc.tagged, "algorithm": doc.algorithm, "module_id": doc.module_id,
        "timestamp_ms": doc.timestamp, "time": _iso(doc.time), "digest": doc.digest,
        "debug_mode": doc.debug_mode,
        "pcrs": {f"PCR{i}": v.hex() for i, v in doc.pcrs.items()},
        "public_key": blob(doc.public_key), "user_data": blob(doc.user_data),
        "nonce": blob(doc.nonce),
    }


def verification_json(v: Verification) -> dict[str, Any]:
    return {
        "verified": v.verified, "reason": v.reason, "failures": list(v.failures),
        "algorithm": v.algorithm, "signature": v.signature_ok, "root_matches": v.root_ok,
        "chain_links": v.chain_ok, "valid_at_document_time": v.times_ok,
        "document_time": _iso(v.document_time), "leaf_expired_now": v.leaf_expired_now,
        "root": {"subject": v.root.subject, "sha256": v.root.sha256, "source": v.root.source,
                 "pinned": v.root.pinned},
        "chain": [{"role": c.role, "where": c.where, "subject": c.subject, "issuer": c.issuer,
                   "not_before": _iso(c.not_before), "not_after": _iso(c.not_after),
                   "sha256": c.sha256, "valid_at_document_time": c.valid_at_document_time}
                  for c in v.chain],
    }


def comparison_json(e: Explanation) -> dict[str, Any]:
    return {
        "matches": e.matches, "debug_mode": e.debug_mode, "differing": list(e.differing),
        "summary": e.summary,
        "rows": [{"pcr": r.pcr, "expected": r.expected, "image": r.image, "equal": r.equal,
                  "sections": list(r.sections), "meaning": r.meaning} for r in e.rows],
    }


def outcome_json(o: Outcome) -> dict[str, Any]:
    """The whole outcome, schema `eifdiff-attest/1` (documented in the README)."""
    img = o.image
    return {
        "schema": SCHEMA, "command": o.command, "verdict": o.verdict, "exit_code": o.exit_code,
        "expected": {"kind": o.expectation.kind, "source": o.expectation.source,
                     "pcrs": dict(o.expectation.pcrs)},
        "document": document_json(o.document) if o.document is not None else None,
        "verification": verification_json(o.verification) if o.verification else None,
        "image": None if img is None else {
            "path": img.path, "signed": img.signed, "signer": img.signer, "pcrs": img.pcrs,
            "pcr_inputs": {k: list(v) for k, v in img.feeding.items()}},
        "comparison": comparison_json(o.explanation) if o.explanation else None,
    }


def outcome_json_text(o: Outcome) -> str:
    return json.dumps(outcome_json(o), indent=2, ensure_ascii=True) + "\n"


# --- text ---------------------------------------------------------------------------------------
def _short(value: str | None, n: int = 16) -> str:
    if value is None:
        return "-"
    return value[:n] + "…" if len(value) > n else value


def verification_lines(v: Verification) -> list[str]:
    root = ("the pinned AWS Nitro root" if v.root.pinned else f"the root {terminal(v.root.source)}")
    lines = []
    if v.verified:
        n = sum(c.role == "intermediate" for c in v.chain)
        lines.append(f"  signature  {v.algorithm}, verifies with the leaf certificate")
        lines.append(f"  chain      {root} (SHA-256 {v.root.sha256[:16]}…) -> {n} intermediate"
                     f"{'s' if n != 1 else ''} -> leaf, each valid at the document's time")
    else:
        lines.append(f"  VERIFICATION FAILED: {terminal(v.reason or '')}")
        lines.extend(f"    also: {terminal(f)}" for f in v.failures[1:])
        lines.append(f"  checked against {root} (SHA-256 {v.root.sha256[:16]}…)")
    leaf = next((c for c in v.chain if c.role == "leaf"), None)
    if leaf is not None:
        since = (f"; expired {_iso(leaf.not_after)}, after the document was made (documents are "
                 "checked at their own time)" if v.leaf_expired_now else "")
        lines.append(f"  leaf       {terminal(leaf.subject)}, valid {_iso(leaf.not_before)} to "
                     f"{_iso(leaf.not_after)}{since}")
    return lines


def document_lines(doc: AttestationDocument) -> list[str]:
    kind = {"cbor": "raw CBOR", "base64": "base64", "hex": "hex"}[doc.encoding]
    lines = [
        f"  module     {terminal(doc.module_id)}",
        f"  time       {_iso(doc.time)} (timestamp {doc.timestamp} ms)",
        f"  digest     {terminal(doc.digest)}, {kind}, {len(doc.cose)} bytes"
        f"{', tagged' if doc.tagged else ''}",
    ]
    for i in shown_pcrs(doc):
        lines.append(f"  PCR{i:<7} {doc.pcrs[i].hex()}")
    for name in ("public_key", "user_data", "nonce"):
        lines.append(f"  {name:<11}{blob_text(getattr(doc, name))}")
    return lines


def _row_text(r: PcrRow) -> str:
    equal = {True: "yes", False: "NO", None: "-"}[r.equal]
    return f"  {r.pcr:<5} {_short(r.expected):<17} {_short(r.image):<17} {equal:<5} {r.meaning}"


def comparison_lines(o: Outcome) -> list[str]:
    img, e = o.image, o.explanation
    assert img is not None and e is not None
    signed = f"signed by {terminal(img.signer or '?')}" if img.signed else "unsigned"
    what = "document" if o.document is not None else "expected"
    lines = [f"image {terminal(img.path)} ({signed})",
             f"  {'PCR':<5} {what:<17} {'image':<17} {'equal':<5} meaning"]
    lines.extend(_row_text(r) for r in e.rows)
    return lines


def outcome_text(o: Outcome) -> str:
    exp = o.expectation
    head = {"attestation": "attestation document"}.get(exp.kind, f"expected PCRs ({exp.kind})")
    lines = [f"{terminal(exp.source)}: {head}; verdict {o.verdict} (exit {o.exit_code})"]
    if o.document is not None:
        lines.extend(document_lines(o.document))
    if o.verification is not None:
        lines.extend(verification_lines(o.verification))
    if o.debug_mode:
        lines.append("  DEBUG MODE: " + o.explanation.summary.removeprefix("debug mode: ")
                     if o.explanation else "  DEBUG MODE: PCR0, PCR1 and PCR2 are zero: the "
                     "enclave ran in debug mode; the document attests nothing about the image")
    if o.explanation is not None:
        lines.extend(comparison_lines(o))
        if not o.debug_mode:
            lines.extend(f"{r.pcr} {'equal' if r.equal else 'differs'}: {r.meaning}"
                         for r in o.explanation.compared)
    return "\n".join(lines)


# --- Markdown -----------------------------------------------------------------------------------
def outcome_markdown(o: Outcome) -> str:
    icon = {"match": "✅", "verified": "✅", "mismatch": "❌", "debug-mode": "⚠️",
            "unverified": "⛔"}[o.verdict]
    exp = o.expectation
    lines = [f"## {icon} eifdiff {o.command}: {o.verdict}", "",
             f"Expected PCRs from {markdown(exp.source)} ({markdown(exp.kind)})"
             + (f" against image {markdown(o.image.path)}" if o.image else "") + ".", ""]
    if o.document is not None:
        d = o.document
        lines.append(f"Document: module {markdown(d.module_id)}, time {_iso(d.time)}.")
    if o.verification is not None:
        v = o.verification
        lines.append("Verification: " + ("signature, chain to the "
                     + ("pinned AWS Nitro root" if v.root.pinned else "given root")
                     + " and validity at the document's time all hold."
                     if v.verified else f"**failed**: {markdown(v.reason or '')}"))
    if o.debug_mode:
        lines.append("**Debug mode**: PCR0, PCR1 and PCR2 are zero; the enclave ran in debug "
                     "mode and attests nothing about its image.")
    if o.explanation is not None:
        lines += ["", "| PCR | expected | image | equal | meaning |", "|---|---|---|---|---|"]
        for r in o.explanation.rows:
            equal = {True: "yes", False: "**no**", None: "-"}[r.equal]
            lines.append(f"| {r.pcr} | `{_short(r.expected, 24)}` | `{_short(r.image, 24)}` "
                         f"| {equal} | {markdown(r.meaning)} |")
    lines.append("")
    return "\n".join(lines)
