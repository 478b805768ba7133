"""A document's PCRs against an image's: which PCRs differ and what each means by section."""

from __future__ import annotations

from eifdiff.attest.check import document_pcrs
from eifdiff.attest.document import decode_document
from eifdiff.attest.explain import ZERO_HEX, ImagePcrs, explain
from eifdiff.image import open_image
from tests.attest.chain import SAMPLES, DocumentSpec, image_pcrs


def _image(pair: str, side: str) -> ImagePcrs:
    return ImagePcrs.of(open_image(SAMPLES / pair / f"{side}.eif"))


def _expected(pair: str, side: str = "a", **changes) -> dict[str, str]:
    spec = DocumentSpec(pcrs=image_pcrs(SAMPLES / pair / f"{side}.eif")).with_(**changes)
    return document_pcrs(decode_document(spec.build()))


def _rows(e) -> dict[str, tuple[bool | None, str]]:
    return {r.pcr: (r.equal, r.meaning) for r in e.rows}


def test_image_pcrs_and_sections() -> None:
    img = _image("cpio-mtime", "a")
    assert img.pcrs["PCR8"] == ZERO_HEX and not img.signed and img.signer is None
    assert img.feeding == {"PCR0": ("kernel", "cmdline", "ramdisk[0]", "ramdisk[1]"),
                           "PCR1": ("kernel", "cmdline", "ramdisk[0]"),
                           "PCR2": ("ramdisk[1]",), "PCR8": ()}
    signed = _image("signature", "a")
    assert signed.signed and signed.feeding["PCR8"] == ("signature",) and signed.signer


def test_same_image_matches() -> None:
    e = explain(_expected("cpio-mtime"), _image("cpio-mtime", "a"))
    assert e.matches and e.differing == ()
    rows = _rows(e)
    assert rows["PCR1"] == (True, "same kernel, cmdline and bootstrap ramdisk (kernel, cmdline, "
                                  "ramdisk[0])")
    assert rows["PCR2"] == (True, "same application ramdisk (ramdisk[1])")
    assert rows["PCR8"] == (True, "neither is signed")
    assert rows["PCR3"][0] is None and "IAM role" in rows["PCR3"][1]
    assert rows["PCR4"][0] is None and "not measured from the image" in rows["PCR4"][1]


def test_application_ramdisk_difference_is_named() -> None:
    e = explain(_expected("cpio-mtime", "a"), _image("cpio-mtime", "b"))
    assert not e.matches and e.differing == ("PCR0", "PCR2")
    assert e.summary == (
        "PCR0 differs: the measured image differs (kernel, cmdline, ramdisk[0], ramdisk[1]); "
        "PCR1 and PCR2 say which part; "
        "PCR1 equal: same kernel, cmdline and bootstrap ramdisk (kernel, cmdline, ramdisk[0]); "
        "PCR2 differs: the application ramdisk differs (ramdisk[1]): the enclave's own files; "
        "PCR8 equal: neither is signed")


def test_kernel_difference_is_named() -> None:
    e = explain(_expected("kernel-host", "a"), _image("kernel-host", "b"))
    assert e.differing == ("PCR0", "PCR1")
    assert _rows(e)["PCR1"] == (False, "the kernel, the cmdline or the bootstrap ramdisk differs "
                                       "(kernel, cmdline, ramdisk[0])")
    assert _rows(e)["PCR2"][0] is True


def test_pcr8_meanings() -> None:
    signed_a, signed_b = _image("signature", "a"), _image("signature", "b")
    e = explain(_expected("signature", "a"), signed_b)
    assert e.differing == ("PCR8",)
    assert _rows(e)["PCR8"] == (False, "signed with another certificate (PCR8 measures the "
                                       "signing certificate)")
    assert _rows(explain(_expected("signature", "a"), signed_a))["PCR8"] == (
        True, "signed with the same certificate (the signature section's certificate)")
    # the enclave's image was signed, this one is not; and the other way round
    unsigned = _image("identical", "a")
    assert _rows(explain(_expected("signature", "a"), unsigned))["PCR8"] == (
        False, "the enclave's image was signed, this one is not")
    assert _rows(explain(_expected("identical", "a"), signed_a))["PCR8"] == (
        False, "this image is signed, the enclave's image was not")


def test_debug_mode_explained() -> None:
    zeros = {f"PCR{i}": ZERO_HEX for i in (0, 1, 2, 8)}
    e = explain(zeros, _image("identical", "a"), debug_mode=True)
    assert e.debug_mode and not e.matches
    assert e.summary.startswith("debug mode: the enclave ran in debug mode")
    assert "attests nothing about the image" in e.summary
    assert _rows(e)["PCR0"] == (False, "zero in debug mode: says nothing about the image")


def test_only_given_pcrs_are_compared() -> None:
    img = _image("cpio-mtime", "a")
    e = explain({"PCR1": img.pcrs["PCR1"]}, img)
    assert e.matches and [r.pcr for r in e.compared] == ["PCR1"]
    assert _rows(e)["PCR0"] == (None, "not given, not compared")
