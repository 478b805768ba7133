"""One run of `eifdiff attest` or `eifdiff check`: what was expected, whether the document
verified, how the image compares, the verdict and its exit code.

| verdict | meaning | exit |
|---|---|---|
| `verified` | the document verifies (no image given) | 0 |
| `match` | verified (or no document) and every compared PCR is equal | 0 |
| `debug-mode` | verified, but PCR0-2 are zero: the enclave ran in debug mode | 1 |
| `mismatch` | verified (or no document), but a compared PCR differs | 1 |
| `unverified` | signature, chain, root or validity at the document's time failed | 3 |
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from eifdiff.attest.check import Expectation, document_pcrs
from eifdiff.attest.document import AttestationDocument, read_document
from eifdiff.attest.explain import IMAGE_PCRS, Explanation, ImagePcrs, explain
from eifdiff.attest.verify import Root, Verification, verify_document
from eifdiff.errors import FormatError

EXIT_OK, EXIT_MISMATCH, EXIT_TROUBLE, EXIT_UNVERIFIED = 0, 1, 2, 3
SCHEMA = "eifdiff-attest/1"


@dataclass(frozen=True)
class Outcome:
    command: str  # "attest" or "check"
    expectation: Expectation
    verification: Verification | None  # None when nothing was signed (JSON, flags)
    image: ImagePcrs | None
    explanation: Explanation | None

    @property
    def document(self) -> AttestationDocument | None:
        return self.expectation.document

    @property
    def debug_mode(self) -> bool:
        return self.expectation.debug_mode

    @property
    def verdict(self) -> str:
        if self.verification is not None and not self.verification.verified:
            return "unverified"
        if self.debug_mode:
            return "debug-mode"
        if self.explanation is None:
            return "verified"
        return "match" if self.explanation.matches else "mismatch"

    @property
    def exit_code(self) -> int:
        return {"unverified": EXIT_UNVERIFIED, "debug-mode": EXIT_MISMATCH,
                "mismatch": EXIT_MISMATCH}.get(self.verdict, EXIT_OK)


def _image(path: str | os.PathLike[str]) -> ImagePcrs:
    from eifdiff.image import open_image

    return ImagePcrs.of(open_image(path))


def outcome_for(command: str, expectation: Expectation, image: ImagePcrs | None,
                root: Root | None = None) -> Outcome:
    """Verify the expectation's document (if any) and compare with the image (if any)."""
    if image is not None and not set(expectation.pcrs) & set(IMAGE_PCRS):
        raise FormatError(f"{expectation.source}: none of {', '.join(IMAGE_PCRS)} is given, "
                          "nothing an image measures to compare")
    verification = (verify_document(expectation.document, root)
                    if expectation.document is not None else None)
    explanation = (explain(expectation.pcrs, image, debug_mode=expectation.debug_mode)
                   if image is not None else None)
    return Outcome(command, expectation, verification, image, explanation)


def attest(document: str | os.PathLike[str], eif: str | os.PathLike[str] | None = None,
           root: Root | None = None) -> Outcome:
    """`eifdiff attest DOC [IMAGE]`: read and verify the document, compare it with the image."""
    doc = read_document(document)
    expectation = Expectation("attestation", os.fspath(document), document_pcrs(doc), doc)
    return outcome_for("attest", expectation, _image(eif) if eif is not None else None, root)


def check(eif: str | os.PathLike[str], expectation: Expectation,
          root: Root | None = None) -> Outcome:
    """`eifdiff check IMAGE --expect ...`: the image against what it is expected to measure."""
    return outcome_for("check", expectation, _image(eif), root)
