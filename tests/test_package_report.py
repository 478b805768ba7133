"""The diff report on a pair whose packages moved: exactly the changed packages, owners of the
divergent files, the known-bad warning, in every report format."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eifdiff.compare import compare_files
from eifdiff.report.html import report_html
from eifdiff.report.markdown import report_markdown
from eifdiff.report.text import report_text

PAIR = Path(__file__).resolve().parents[1] / "samples" / "packages"


@pytest.fixture(scope="module")
def report():
    return compare_files(PAIR / "a.eif", PAIR / "b.eif")


def test_exactly_the_changed_packages_are_listed(report) -> None:
    changes = {(c.ecosystem, c.name, c.a, c.b) for c in report.package_changes}
    assert changes == {
        ("dpkg", "xz-utils", "5.4.1-0.2", "5.6.1-1"),
        ("dpkg", "libssl3", "3.0.11-1~deb12u2", "3.0.13-1~deb12u1"),
        ("python", "requests", "2.31.0", "2.32.3"),
    }  # the apk packages (musl, busybox) and base-files are unchanged, so not listed


def test_divergent_files_name_their_package(report) -> None:
    owners = {d.path: d.package for d in report.divergences if d.layer == "cpio-entry"}
    assert owners["ramdisk[1]:rootfs/usr/bin/xz"] == "xz-utils"
    assert owners["ramdisk[1]:rootfs/usr/lib/x86_64-linux-gnu/libssl.so.3"] == "libssl3"
    assert owners["ramdisk[1]:rootfs/usr/lib/python3/dist-packages/requests/__init__.py"] \
        == "requests"


def test_content_rows_of_changed_packages_say_so(report) -> None:
    xz = next(d for d in report.divergences if d.path == "ramdisk[1]:rootfs/usr/bin/xz")
    assert "xz-utils" in xz.hint and "5.6.1-1" in xz.hint


def test_known_bad_xz_warns_for_the_side_that_has_it(report) -> None:
    assert [(w.side, w.name, w.version, w.advisory) for w in report.warnings] == [
        ("b", "xz-utils", "5.6.1-1", "CVE-2024-3094")]


def test_every_format_shows_packages_and_the_warning(report) -> None:
    text, md, page = report_text(report), report_markdown(report), report_html(report)
    for out in (text, md, page):
        assert "xz-utils" in out and "CVE-2024-3094" in out and "libssl3" in out
    assert "divergent files by package" in text
    assert "### Divergent files by package" in md
    assert "<h2>Divergent files by package</h2>" in page


def test_cli_json_and_inventory() -> None:
    cli = [sys.executable, "-m", "eifdiff"]
    out = subprocess.run([*cli, str(PAIR / "a.eif"), str(PAIR / "b.eif"), "--json"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    assert {c["name"] for c in doc["package_changes"]} == {"xz-utils", "libssl3", "requests"}
    assert doc["warnings"][0]["name"] == "xz-utils"
    inv = subprocess.run([*cli, "inventory", "--json", str(PAIR / "b.eif")],
                         capture_output=True, text=True, check=True)
    packages = {(p["ecosystem"], p["name"], p["version"]) for p in json.loads(inv.stdout)
                ["packages"]}
    assert packages == {("apk", "busybox", "1.36.1-r5"), ("apk", "musl", "1.2.4-r2"),
                        ("dpkg", "base-files", "12.4+deb12u5"),
                        ("dpkg", "libssl3", "3.0.13-1~deb12u1"), ("dpkg", "xz-utils", "5.6.1-1"),
                        ("python", "requests", "2.32.3")}
    text = subprocess.run([*cli, "inventory", str(PAIR / "a.eif")], capture_output=True,
                          text=True, check=True).stdout
    assert "WARNING" not in text and "xz-utils" in text and "5.4.1-0.2" in text
