"""Expected PCRs (from an attestation document, nitro-cli's JSON or flags) against an image's, and
what each equal or differing PCR means in terms of the image's sections.

PCR0 measures the kernel, the cmdline and every ramdisk; PCR1 the kernel, the cmdline and the
first (bootstrap) ramdisk; PCR2 the later (application) ramdisks; PCR8 the signing certificate
(48 zero bytes for an unsigned image). PCR3 (the parent's IAM role) and PCR4 (the parent
instance) do not come from the image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from eifdiff.image import EifImage
from eifdiff.measure import ZERO_PCR, sections_feeding

IMAGE_PCRS = ("PCR0", "PCR1", "PCR2", "PCR8")
ZERO_HEX = ZERO_PCR.hex()
NOT_FROM_IMAGE = {
    "PCR3": "the parent instance's IAM role",
    "PCR4": "the parent instance's ID",
}
DEBUG_MEANING = ("the enclave ran in debug mode (nitro-cli run-enclave --debug-mode): PCR0, PCR1 "
                 "and PCR2 read as zeros, so the document attests nothing about the image and "
                 "the enclave's console was readable from the parent; a key policy must never "
                 "accept these zeros")
DEBUG_ROW = "zero in debug mode: says nothing about the image"


@dataclass(frozen=True)
class ImagePcrs:
    """What an image measures: PCR0-2, PCR8 (zeros when unsigned) and the sections of each."""

    path: str
    pcrs: dict[str, str] = field(hash=False)
    signed: bool
    feeding: dict[str, tuple[str, ...]] = field(hash=False)
    signer: str | None  # the signing certificate's issuer, when signed

    @classmethod
    def of(cls, image: EifImage) -> ImagePcrs:
        pcrs = dict(image.pcrs)
        pcrs.setdefault("PCR8", ZERO_HEX)
        signer = None
        if image.signature is not None:
            signer = ", ".join(f"{k}={v}" for k, v in
                               image.signature.certificate["IssuerName"].items())
        feeding = sections_feeding(image.layout)
        feeding.setdefault("PCR8", ())
        return cls(image.path, pcrs, image.is_signed, feeding, signer)


@dataclass(frozen=True)
class PcrRow:
    """One PCR: the expected value, the image's, whether they are equal, and what that means."""

    pcr: str
    expected: str | None
    image: str | None
    equal: bool | None  # None when not compared (absent on a side, or not from the image)
    sections: tuple[str, ...]
    meaning: str


@dataclass(frozen=True)
class Explanation:
    rows: tuple[PcrRow, ...]
    debug_mode: bool

    @property
    def compared(self) -> tuple[PcrRow, ...]:
        return tuple(r for r in self.rows if r.equal is not None)

    @property
    def matches(self) -> bool:
        """Every compared PCR is equal (and at least one was compared) and not debug mode."""
        rows = self.compared
        return bool(rows) and all(r.equal for r in rows) and not self.debug_mode

    @property
    def differing(self) -> tuple[str, ...]:
        return tuple(r.pcr for r in self.compared if not r.equal)

    @property
    def summary(self) -> str:
        """One sentence per compared PCR, e.g. `PCR1 equal: same kernel, ...; PCR2 differs: ...`."""
        if self.debug_mode:
            return f"debug mode: {DEBUG_MEANING}"
        parts = [f"{r.pcr} {'equal' if r.equal else 'differs'}: {r.meaning}"
                 for r in self.compared]
        return "; ".join(parts) if parts else "no PCR compared"


def _names(sections: tuple[str, ...]) -> str:
    return ", ".join(sections) if sections else "no section"


def _meaning(pcr: str, equal: bool, expected: str, image: ImagePcrs) -> str:
    secs = image.feeding.get(pcr, ())
    if pcr == "PCR0":
        return (f"same image: kernel, cmdline and every ramdisk ({_names(secs)})" if equal else
                f"the measured image differs ({_names(secs)}); PCR1 and PCR2 say which part")
    if pcr == "PCR1":
        return (f"same kernel, cmdline and bootstrap ramdisk ({_names(secs)})" if equal else
                f"the kernel, the cmdline or the bootstrap ramdisk differs ({_names(secs)})")
    if pcr == "PCR2":
        if not secs:
            return ("the image has no application ramdisk" if equal else
                    "the image has no application ramdisk, the enclave's image had one")
        return (f"same application ramdisk ({_names(secs)})" if equal else
                f"the application ramdisk differs ({_names(secs)}): the enclave's own files")
    # PCR8
    if equal:
        return ("neither is signed" if not image.signed else
                "signed with the same certificate (the signature section's certificate)")
    if expected == ZERO_HEX:
        return "this image is signed, the enclave's image was not"
    if not image.signed:
        return "the enclave's image was signed, this one is not"
    return "signed with another certificate (PCR8 measures the signing certificate)"


def explain(expected: Mapping[str, str], image: ImagePcrs, *, debug_mode: bool = False
            ) -> Explanation:
    """Rows for PCR0-2 and PCR8 (those `expected` names), then PCR3/PCR4 when given, which no
    image determines."""
    rows = []
    for pcr in IMAGE_PCRS:
        want = expected.get(pcr)
        have = image.pcrs.get(pcr)
        secs = image.feeding.get(pcr, ())
        if want is None:
            rows.append(PcrRow(pcr, None, have, None, secs, "not given, not compared"))
            continue
        equal = want == have
        meaning = (DEBUG_ROW if debug_mode and pcr in ("PCR0", "PCR1", "PCR2")
                   else _meaning(pcr, equal, want, image))
        rows.append(PcrRow(pcr, want, have, equal, secs, meaning))
    for pcr, what in NOT_FROM_IMAGE.items():
        if pcr in expected:
            rows.append(PcrRow(pcr, expected[pcr], None, None, (),
                               f"{what}; not measured from the image"))
    return Explanation(tuple(rows), debug_mode)
