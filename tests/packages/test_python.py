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
