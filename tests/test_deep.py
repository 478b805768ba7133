"""`--deep`: diffoscope's view of each divergent file pair, attached to the report under the
entry's path, bounded in count and time."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from eifdiff import deep
from eifdiff.compare import compare_files
from eifdiff.deep import DeepOptions, diffoscope_command, entry_keys, run_diffoscope
from eifdiff.report.model import Report, report_doc
from eifdiff.report.text import report_text
from tests.builders import BOOT_CPIO, changed, cpio, customer_members, make_eif
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
APP = "ramdisk[1]:rootfs/bin/app"
DIR_A = "/tmp/eifdiff-build/a/src"
DIR_B = "/tmp/eifdiff-build/bb-longer/src"


def _pair(name: str) -> tuple[Path, Path]:
    return SAMPLES / name / "a.eif", SAMPLES / name / "b.eif"


@pytest.fixture(scope="module")
def deep_report() -> Report:
    assert diffoscope_command() is not None, "diffoscope is not installed in the venv"
    return compare_files(*_pair("elf-build-path"), deep=DeepOptions())


def test_deep_elf_build_path(deep_report: Report) -> None:
    doc = report_doc(deep_report)
    assert list(doc["deep"]) == [APP]
    text = doc["deep"][APP]
    assert DIR_A in text and DIR_B in text
    assert text.startswith("--- a/rootfs/bin/app\n+++ b/rootfs/bin/app")
    assert "eifdiff-deep-" not in text  # temporary folders replaced by the entry's name


def test_deep_in_text_report(deep_report: Report) -> None:
    text = report_text(deep_report)
    assert f"\ndiffoscope {APP}:\n" in text
    section = text.split(f"diffoscope {APP}:", 1)[1]
    assert "  --- a/rootfs/bin/app" in section


def test_deep_cli_text(tmp_path: Path) -> None:
    proc = run_cli(*_pair("elf-build-path"), "--deep")
    assert proc.returncode == 1, proc.stderr
    assert f"diffoscope {APP}:" in proc.stdout
    assert "readelf" in proc.stdout


def test_deep_only_for_content_differences() -> None:
    """Header-only differences (mtimes) have nothing for diffoscope to compare."""
    report = compare_files(*_pair("cpio-mtime"), deep=DeepOptions())
    assert report.deep == {} and "deep" not in report_doc(report)


def test_entry_keys(deep_report: Report) -> None:
    assert entry_keys(deep_report.divergences) == [("ramdisk[1]", "rootfs/bin/app", 0)]
    mtime = compare_files(*_pair("cpio-mtime")).divergences
    assert entry_keys(mtime) == []


def test_deep_bounds(tmp_path: Path) -> None:
    ms = customer_members()
    ms_b = changed(changed(ms, "cmd", data=b"/bin/other\n"), "env", data=b"PATH=/bin\n")
    a = make_eif(tmp_path / "a.eif", ramdisks=[BOOT_CPIO, cpio(ms)])
    b = make_eif(tmp_path / "b.eif", ramdisks=[BOOT_CPIO, cpio(ms_b)])
    report = compare_files(a, b, deep=DeepOptions(max_files=1))
    assert list(report.deep) == ["ramdisk[1]:cmd", "(more)"]
    assert "1 more entries" in report.deep["(more)"]
    assert "/bin/other" in report.deep["ramdisk[1]:cmd"]
    cut = compare_files(a, b, deep=DeepOptions(max_files=1, max_chars=20))
    assert len(cut.deep["ramdisk[1]:cmd"]) < 80 and "cut at 20 characters" in \
        cut.deep["ramdisk[1]:cmd"]


def test_diffoscope_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(deep, "diffoscope_command", lambda: None)
    assert "not installed" in run_diffoscope(str(tmp_path / "x"), str(tmp_path / "y"), 5)


def test_diffoscope_timeout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    slow = tmp_path / "slow-diffoscope"
    slow.write_text("#!/bin/sh\nexec sleep 10\n")
    slow.chmod(slow.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(deep, "diffoscope_command", lambda: str(slow))
    assert run_diffoscope("x", "y", 0.3) == "diffoscope did not finish within 0.3 s"


def test_diffoscope_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bad = tmp_path / "bad-diffoscope"
    bad.write_text("#!/bin/sh\necho boom >&2\nexit 2\n")
    bad.chmod(bad.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(deep, "diffoscope_command", lambda: str(bad))
    assert run_diffoscope("x", "y", 5) == "diffoscope failed (exit 2): boom"
