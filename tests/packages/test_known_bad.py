"""The known-bad versions list: its data file, version matching, custom lists."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from eifdiff.packages import Package, known_bad, upstream_version, warnings


@pytest.mark.parametrize(("version", "ecosystem", "upstream"), [
    ("5.6.1-1", "dpkg", "5.6.1"), ("5.6.0-0.2", "dpkg", "5.6.0"), ("1:5.6.1-1", "dpkg", "5.6.1"),
    ("5.6.0-0.1", "dpkg", "5.6.0"), ("5.6.1+really5.4.5-1", "dpkg", "5.6.1+really5.4.5"),
    ("1.2-3-4", "dpkg", "1.2-3"), ("2024a", "dpkg", "2024a"), ("5.6.1-r1", "apk", "5.6.1"),
    ("5.6.1_git2024-r0", "apk", "5.6.1_git2024"), ("5.6.0-1.fc40", "rpm", "5.6.0"),
    ("1:5.6.0-1.fc40", "rpm", "5.6.0"), ("v1.2.3", "go", "1.2.3"), ("6.0.1", "python", "6.0.1"),
])
def test_upstream_version(version: str, ecosystem: str, upstream: str) -> None:
    assert upstream_version(version, ecosystem) == upstream


def test_bundled_file_follows_its_schema() -> None:
    raw = resources.files("eifdiff.packages").joinpath("known_bad.json").read_text("utf-8")
    doc = json.loads(raw)
    assert doc["schema"] == "eifdiff-known-bad/1" and doc["note"]
    entries = known_bad.load()
    assert {e["ecosystem"] for e in entries} == {"dpkg", "apk", "rpm"}
    for e in entries:
        assert e["source"].startswith("https://") and e["advisory"] == "CVE-2024-3094"
        assert set(e["versions"]) == {"5.6.0", "5.6.1"}
    names = {(e["ecosystem"], n) for e in entries for n in e["names"]}
    assert {("dpkg", "xz-utils"), ("dpkg", "liblzma5"), ("dpkg", "liblzma-dev"), ("apk", "xz"),
            ("apk", "xz-libs"), ("rpm", "xz"), ("rpm", "xz-libs")} <= names


def test_matches_and_non_matches() -> None:
    def pkg(eco: str, name: str, version: str) -> Package:
        return Package(eco, name, version, "src", "ramdisk[1]")

    bad = [pkg("dpkg", "xz-utils", "5.6.0-0.1"), pkg("dpkg", "liblzma5", "1:5.6.1-1"),
           pkg("apk", "xz", "5.6.1-r0"), pkg("rpm", "xz-libs", "5.6.0-2.fc40")]
    good = [pkg("dpkg", "xz-utils", "5.6.1+really5.4.5-1"), pkg("dpkg", "xz-utils", "5.4.1-1"),
            pkg("dpkg", "xz", "5.6.1-1"), pkg("python", "xz-utils", "5.6.1"),
            pkg("rpm", "xz", "5.6.10-1"), pkg("apk", "xz-libs", "5.6.1a-r0")]
    found = warnings(bad + good)
    assert sorted((w.ecosystem, w.name) for w in found) == sorted(
        (p.ecosystem, p.name) for p in bad)
    assert all(w.advisory == "CVE-2024-3094" and w.ramdisk == "ramdisk[1]" for w in found)
    assert warnings(bad * 2) == found  # one warning per package and advisory


def test_custom_list(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"schema": "eifdiff-known-bad/1", "entries": [
        {"advisory": "X-1", "ecosystem": "python", "names": ["PyYAML"], "versions": ["6.0.1"],
         "message": "do not ship", "source": "https://example.org/x-1"}]}))
    entries = known_bad.load(path)
    (w,) = warnings([Package("python", "PyYAML", "6.0.1", "s")], entries)
    assert w.to_dict() == {"ecosystem": "python", "name": "PyYAML", "version": "6.0.1",
                           "advisory": "X-1", "ramdisk": "",
                           "message": "PyYAML 6.0.1: do not ship (https://example.org/x-1)"}
    path.write_text(json.dumps({"schema": "other", "entries": []}))
    with pytest.raises(ValueError, match="not a eifdiff-known-bad/1"):
        known_bad.load(path)
    path.write_text(json.dumps({"schema": "eifdiff-known-bad/1", "entries": [{"names": []}]}))
    with pytest.raises(ValueError, match="source"):
        known_bad.load(path)
