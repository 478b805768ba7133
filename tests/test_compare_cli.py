"""`eifdiff A B`: verdicts and exit codes, trouble as one line on stderr, the JSON report against
the goldens, and the Markdown and HTML files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eifdiff.compare import compare_files, exit_code
from tests.builders import make_eif
from tests.helpers import run_cli
from tests.test_golden import golden_path, stable_part

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def _pair(name: str) -> tuple[Path, Path]:
    return SAMPLES / name / "a.eif", SAMPLES / name / "b.eif"


def assert_trouble(proc, *, names: str | Path | None = None, quiet: bool = True) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    if quiet:
        assert proc.stdout == ""
    if names is not None:
        assert str(names) in lines[0], lines[0]


# --- verdicts and exit codes ----------------------------------------------------------------


@pytest.mark.parametrize(("pair", "verdict", "code", "code_pcr"), [
    ("identical", "identical", 0, 0),
    ("build-time", "pcr-equivalent", 1, 0),
    ("cpio-mtime", "different", 1, 1),
    ("signature", "different", 1, 1),
])
def test_verdicts_and_exit_codes(pair: str, verdict: str, code: int, code_pcr: int) -> None:
    a, b = _pair(pair)
    proc = run_cli(a, b)
    assert proc.returncode == code, proc.stderr
    assert proc.stdout.startswith(f"verdict: {verdict}:")
    assert proc.stderr == "" or "Traceback" not in proc.stderr
    if code != code_pcr or pair == "cpio-mtime":
        assert run_cli(a, b, "--fail-on", "pcr").returncode == code_pcr
    report = compare_files(a, b)
    assert report.verdict == verdict
    assert (exit_code(report), exit_code(report, fail_on="pcr")) == (code, code_pcr)


def test_same_file_twice() -> None:
    a = SAMPLES / "cpio-mode" / "b.eif"
    proc = run_cli(a, a, "--json")
    assert proc.returncode == 0
    doc = json.loads(proc.stdout)
    assert doc["verdict"] == "identical" and doc["divergences"] == []


def test_text_report_lists_causes_and_hints() -> None:
    proc = run_cli(*_pair("kernel-host"))
    out = proc.stdout
    assert "PCR1  NO" in out and "PCR2  yes" in out
    assert "[build-host rc1] kernel  build host: builder@host-a -> ci-runner@build-host-b7" in out
    assert "root causes:" in out and "KBUILD_BUILD_HOST" in out
    assert out.startswith("verdict: different: 1 root cause (")


@pytest.mark.parametrize("pair", ["cpio-order", "gzip-header", "signature"])
def test_cli_json_matches_golden(pair: str) -> None:
    proc = run_cli(*_pair(pair), "--json")
    assert proc.returncode == 1, proc.stderr
    got = stable_part(json.loads(proc.stdout), pair)
    assert got == json.loads(golden_path(pair).read_text(encoding="utf-8"))


# --- trouble --------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.eif"
    assert_trouble(run_cli(missing, SAMPLES / "identical" / "a.eif"), names=missing)
    assert_trouble(run_cli(SAMPLES / "identical" / "a.eif", missing), names=missing)


def test_not_an_eif(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("this is not an enclave image\n" * 40)
    assert_trouble(run_cli(text, SAMPLES / "identical" / "a.eif"), names=text)
    empty = tmp_path / "empty.eif"
    empty.write_bytes(b"")
    assert_trouble(run_cli(SAMPLES / "identical" / "a.eif", empty), names=empty)


@pytest.mark.parametrize("keep", [100, 600, 105_927])
def test_truncated_eif(tmp_path: Path, keep: int) -> None:
    cut = tmp_path / f"cut-{keep}.eif"
    cut.write_bytes((SAMPLES / "identical" / "a.eif").read_bytes()[:keep])
    assert_trouble(run_cli(SAMPLES / "identical" / "a.eif", cut, "--json"), names=cut)


def test_directory_and_usage(tmp_path: Path) -> None:
    assert_trouble(run_cli(tmp_path, SAMPLES / "identical" / "a.eif"))
    assert_trouble(run_cli(SAMPLES / "identical" / "a.eif"))  # one file only
    assert_trouble(run_cli(*_pair("identical"), "--fail-on", "never"))


def test_unwritable_report_file(tmp_path: Path) -> None:
    target = tmp_path / "no-such-dir" / "r.md"
    # the report is printed first; the file that cannot be written is then trouble
    assert_trouble(run_cli(*_pair("cpio-mtime"), "--markdown", target), names=target,
                   quiet=False)


# --- Markdown and HTML files ----------------------------------------------------------------


def test_markdown_and_html_files(tmp_path: Path) -> None:
    md, html = tmp_path / "report.md", tmp_path / "report.html"
    proc = run_cli(*_pair("elf-build-path"), "--markdown", md, "--html", html)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("verdict: different")
    text = md.read_text(encoding="utf-8")
    assert "different" in text and "build-path" in text and "PCR2" in text
    assert "ramdisk[1]:rootfs/bin/app" in text
    page = html.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html")
    assert "different" in page and "build-path" in page and "</html>" in page.lower()


def test_markdown_and_html_functions() -> None:
    from eifdiff.report.html import report_html
    from eifdiff.report.markdown import report_markdown

    report = compare_files(*_pair("build-time"))
    md = report_markdown(report)
    assert "pcr-equivalent" in md and "BuildTime" in md
    page = report_html(report)
    assert "pcr-equivalent" in page and "BuildTime" in page
    same = compare_files(*_pair("identical"))
    assert "identical" in report_markdown(same) and "identical" in report_html(same)


def test_markdown_with_json_output(tmp_path: Path) -> None:
    md = tmp_path / "summary.md"
    proc = run_cli(*_pair("build-time"), "--json", "--markdown", md, "--fail-on", "pcr")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["verdict"] == "pcr-equivalent"
    assert md.is_file() and md.stat().st_size > 100


def test_report_for_built_pair(tmp_path: Path) -> None:
    """A pair built here, compared by the CLI: the JSON rows carry hints and PCRs."""
    a = make_eif(tmp_path / "a.eif")
    b = make_eif(tmp_path / "b.eif", cmdline=b"console=ttyS0 panic=1")
    proc = run_cli(a, b, "--json")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["a"]["path"] == str(a)
    rows = [d for d in doc["divergences"] if d["category"] == "cmdline"]
    assert rows and all(d["pcrs"] == ["PCR0", "PCR1"] and d["hint"] for d in rows)
