"""eifdiff.compare: verdicts, PCR table and exit codes on the conformance vectors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from eifdiff.compare import (
    PCR_NAMES,
    compare_files,
    exit_code,
    pcr_equal,
)
from eifdiff.errors import EifdiffError, FormatError


def _v(vectors_dir: Path, name: str) -> Path:
    return vectors_dir / "eif" / f"{name}.eif"


def test_identical(vectors_dir: Path) -> None:
    p = _v(vectors_dir, "02-nitro-two-ramdisks")
    report = compare_files(p, _v(vectors_dir, "08-build-time-a"))  # same bytes, two names
    assert report.verdict == "identical" and report.divergences == ()
    assert report.a.sha256 == hashlib.sha256(p.read_bytes()).hexdigest() == report.b.sha256
    assert report.pcr_equal == {"PCR0": True, "PCR1": True, "PCR2": True}
    assert exit_code(report) == 0 and exit_code(report, fail_on="pcr") == 0


def test_pcr_equivalent_build_times(vectors_dir: Path) -> None:
    report = compare_files(_v(vectors_dir, "08-build-time-a"), _v(vectors_dir, "09-build-time-b"))
    assert report.verdict == "pcr-equivalent"
    assert all(report.pcr_equal.values())
    assert report.divergences, "bytes differ, so something must be listed"
    assert {d.layer for d in report.causes} <= {"metadata", "eif-header", "section"}
    assert not any(d.pcrs for d in report.causes)
    assert exit_code(report) == 1 and exit_code(report, fail_on="pcr") == 0


def test_pcr_equivalent_arch_flag(vectors_dir: Path) -> None:
    report = compare_files(_v(vectors_dir, "02-nitro-two-ramdisks"),
                           _v(vectors_dir, "03-aarch64-flag"))
    assert report.verdict == "pcr-equivalent"
    assert (report.a.arch, report.b.arch) == ("x86_64", "aarch64")
    assert exit_code(report, fail_on="pcr") == 0


def test_different(vectors_dir: Path) -> None:
    report = compare_files(_v(vectors_dir, "02-nitro-two-ramdisks"),
                           _v(vectors_dir, "06-three-ramdisks"))
    assert report.verdict == "different"
    assert report.pcr_equal == {"PCR0": False, "PCR1": True, "PCR2": False}
    assert exit_code(report) == 1 and exit_code(report, fail_on="pcr") == 1
    assert report.summary()["causes"] == len(report.causes) > 0


def test_signed_vs_unsigned(vectors_dir: Path) -> None:
    report = compare_files(_v(vectors_dir, "02-nitro-two-ramdisks"), _v(vectors_dir, "04-signed"))
    assert report.verdict == "different"
    assert report.pcr_equal == {"PCR0": True, "PCR1": True, "PCR2": True, "PCR8": False}
    assert "PCR8" in report.b.pcrs and "PCR8" not in report.a.pcrs
    assert exit_code(report, fail_on="pcr") == 1


def test_summaries(vectors_dir: Path) -> None:
    report = compare_files(_v(vectors_dir, "01-minimal-one-ramdisk"),
                           _v(vectors_dir, "04-signed"))
    assert report.a.size == 120764 and report.b.size == 142541
    assert [s.name for s in report.b.sections] == [
        "kernel", "cmdline", "metadata", "ramdisk[0]", "ramdisk[1]", "signature"]
    assert report.b.pcr_inputs["PCR8"] == ("signature",)
    assert report.a.pcr_inputs["PCR2"] == ()


def test_pcr_equal_table() -> None:
    assert PCR_NAMES == ("PCR0", "PCR1", "PCR2", "PCR8")
    a = {"PCR0": "x", "PCR1": "y", "PCR2": "z"}
    assert pcr_equal(a, dict(a)) == {"PCR0": True, "PCR1": True, "PCR2": True}
    assert pcr_equal(a, {**a, "PCR8": "s"}) == {"PCR0": True, "PCR1": True, "PCR2": True,
                                               "PCR8": False}
    assert pcr_equal(a, {**a, "PCR1": "w"})["PCR1"] is False


def test_damaged_or_missing_side_raises(vectors_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "cut.eif"
    bad.write_bytes(_v(vectors_dir, "01-minimal-one-ramdisk").read_bytes()[:1000])
    with pytest.raises(FormatError) as info:
        compare_files(_v(vectors_dir, "01-minimal-one-ramdisk"), bad)
    assert str(info.value).startswith(str(bad)) and "offset" in str(info.value)
    with pytest.raises(EifdiffError):
        compare_files(tmp_path / "missing.eif", bad)
