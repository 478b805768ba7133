"""Attestation documents back to the build: `eifdiff attest` and `eifdiff check`.

`attest(doc, eif=None, root=None)` reads and verifies a Nitro attestation document and compares it
with an image; `check(eif, expectation)` compares an image with expected PCRs. Both return an
`Outcome` (verdict, exit code, and every detail); `eifdiff.attest.frames` shows it as DataFrames.
"""

from eifdiff.attest.check import Expectation, expectation_from_flags, read_expectation
from eifdiff.attest.document import AttestationDocument, read_document
from eifdiff.attest.outcome import Outcome, attest, check
from eifdiff.attest.verify import Root, Verification, aws_root, load_root, verify_document

__all__ = [
    "AttestationDocument", "Expectation", "Outcome", "Root", "Verification", "attest", "aws_root",
    "check", "expectation_from_flags", "load_root", "read_document", "read_expectation",
    "verify_document",
]
