"""`--deep` on two kernels: diffoscope compares the vmlinux files decompressed from them."""

from __future__ import annotations

from pathlib import Path

from eifdiff.compare import compare_files
from eifdiff.deep import KERNEL_KEY, DeepOptions, diffoscope_command
from eifdiff.formats.cpio import CpioMember, write_archive
from eifdiff.formats.eif import SectionType, write_eif
from eifdiff.formats.metadata import encode_metadata
from eifdiff.report.model import report_doc
from tests.formats.test_bzimage import make_kernel
from tests.helpers import small_metadata


def _eif(path: Path, kernel: bytes) -> Path:
    path.write_bytes(write_eif([
        (SectionType.KERNEL, kernel), (SectionType.CMDLINE, b"console=ttyS0"),
        (SectionType.METADATA, encode_metadata(small_metadata())),
        (SectionType.RAMDISK, write_archive([CpioMember("init", b"#!/bin/sh\n")])),
        (SectionType.RAMDISK, write_archive([CpioMember("rootfs/x", b"x")]))]))
    return path


def test_deep_compares_the_vmlinux_files(tmp_path: Path) -> None:
    assert diffoscope_command() is not None, "diffoscope is not installed in the venv"
    mk = make_kernel()
    a = _eif(tmp_path / "a.eif", mk.make_bzimage(mk.make_vmlinux(builder="builder@host-a"),
                                                 compression="gzip"))
    b = _eif(tmp_path / "b.eif", mk.make_bzimage(mk.make_vmlinux(builder="builder@host-b"),
                                                 compression="xz"))
    deep = report_doc(compare_files(a, b, deep=DeepOptions()))["deep"]
    assert list(deep) == [KERNEL_KEY]
    text = deep[KERNEL_KEY]
    assert text.startswith("--- a/vmlinux\n+++ b/vmlinux")
    assert "host-a" in text and "host-b" in text
    assert "eifdiff-deep-" not in text


def test_no_vmlinux_diff_when_kernels_cannot_be_read(tmp_path: Path) -> None:
    a = _eif(tmp_path / "a.eif", b"KERNEL-A" * 100)
    b = _eif(tmp_path / "b.eif", b"KERNEL-B" * 100)
    doc = report_doc(compare_files(a, b, deep=DeepOptions()))
    assert KERNEL_KEY not in doc.get("deep", {})
    assert any(d["layer"] == "kernel" for d in doc["divergences"])
