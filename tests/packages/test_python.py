"""Python distributions: dist-info METADATA/RECORD and egg-info."""

from __future__ import annotations

from eifdiff.packages import python
from tests.packages.helpers import YAML_METADATA, YAML_RECORD

SITE = "usr/lib/python3.11/site-packages"


def test_dist_info() -> None:
    files = {f"{SITE}/PyYAML-6.0.1.dist-info/METADATA": YAML_METADATA,
             f"{SITE}/PyYAML-6.0.1.dist-info/RECORD": YAML_RECORD}
    (p,) = python.read(files, root="rootfs/", ramdisk="ramdisk[1]")
    assert (p.ecosystem, p.name, p.version) == ("python", "PyYAML", "6.0.1")
    assert p.source == f"rootfs/{SITE}/PyYAML-6.0.1.dist-info/METADATA"
    assert p.extra == {"site": f"rootfs/{SITE}", "format": "dist-info"}
    assert p.files is not None
    assert "rootfs/usr/bin/yaml-tool" in p.files  # ../../../bin resolved to the root's usr/bin
    assert f"rootfs/{SITE}/yaml/__init__.py" in p.files
    assert "rootfs/usr/etc/yaml,conf" in p.files  # a quoted CSV field
    assert not any("passwd" in f for f in p.files)  # climbs above the root: dropped
    assert len(p.files) == 11


def test_metadata_without_record_and_egg_info() -> None:
    files = {
        f"{SITE}/six-1.16.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: six\n"
                                                 b"Version: 1.16.0\n",
        "usr/lib/python3/dist-packages/crcmod-1.7.egg-info": b"Metadata-Version: 1.1\n"
                                                             b"Name: crcmod\nVersion: 1.7\n",
        "usr/lib/python3/dist-packages/foo.egg-info/PKG-INFO": b"Name: foo\nVersion: 2\n",
        "usr/lib/python3/dist-packages/foo.egg-info/installed-files.txt":
            b"../foo/__init__.py\n../../../../bin/foo\nPKG-INFO\n",
    }
    pkgs = {p.name: p for p in python.read(files)}
    assert pkgs["six"].files is None and pkgs["six"].version == "1.16.0"
    assert pkgs["crcmod"].files is None and pkgs["crcmod"].extra["format"] == "egg-info"
    assert pkgs["foo"].files == ("usr/lib/python3/dist-packages/foo/__init__.py",
                                 "usr/bin/foo",
                                 "usr/lib/python3/dist-packages/foo.egg-info/PKG-INFO")


def test_garbage_metadata() -> None:
    for junk in (b"", b"\xff\xfe" * 500, b"Name: x\n", b"Version: 1\n", b"Name:\nVersion:\n",
                 b"\n\nName: x\nVersion: 1\n"):
        assert python.parse_metadata(junk) is None
    assert python.parse_record(b'"unterminated,\n\0\0', "s") is not None
    assert python.read({f"{SITE}/x-1.dist-info/RECORD": b"a,b,c"}) == []  # no METADATA


def test_installer_and_direct_url() -> None:
    info = f"{SITE}/urllib3-2.2.2.dist-info"
    files = {
        f"{info}/METADATA": b"Name: urllib3\nVersion: 2.2.2\n",
        f"{info}/INSTALLER": b"pip\n",
        f"{info}/direct_url.json": b'{"url": "https://github.com/x/y.git", "vcs_info": '
                                   b'{"vcs": "git", "commit_id": "abc123"}}',
    }
    (p,) = python.read(files)
    assert p.extra["installer"] == "pip"
    assert p.extra["direct_url"] == "https://github.com/x/y.git" and p.extra["vcs"] == "abc123"
    assert python.wanted(f"{info}/INSTALLER") and python.wanted(f"{info}/direct_url.json")


def test_direct_url_kinds_and_damage() -> None:
    arch = python.parse_direct_url(b'{"url": "file:///w.whl", "archive_info": '
                                   b'{"hash": "sha256=00"}}')
    assert arch == python.DirectUrl("file:///w.whl", "archive", "sha256=00")
    local = python.parse_direct_url(b'{"url": "file:///src", "dir_info": {"editable": true}}')
    assert local == python.DirectUrl("file:///src", "dir", "editable")
    assert python.parse_direct_url(b"{bad") is None
    assert python.parse_direct_url(b'{"url": 3}') is None


def test_record_entries() -> None:
    rows = python.record_entries(b"pkg/a.py,sha256=AAA,12\npkg/__pycache__/a.pyc,,\n\n"
                                 b'"pkg/b,c.py",sha256=BBB,x\n')
    assert rows == (python.RecordEntry("pkg/a.py", "sha256=AAA", 12),
                    python.RecordEntry("pkg/__pycache__/a.pyc", "", None),
                    python.RecordEntry("pkg/b,c.py", "sha256=BBB", None))


def test_dependency_drift_reads_as_a_version_change() -> None:
    from eifdiff.packages.inventory import package_changes
    from eifdiff.packages.model import PackageChange

    def site(version: str) -> dict[str, bytes]:
        return {f"{SITE}/urllib3-{version}.dist-info/METADATA":
                f"Name: urllib3\nVersion: {version}\n".encode()}

    assert package_changes(python.read(site("2.2.1")), python.read(site("2.2.2"))) == [
        PackageChange("python", "urllib3", "2.2.1", "2.2.2", "")]
