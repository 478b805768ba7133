"""rpm: header blobs and the SQLite rpmdb, built here without rpm tools."""

from __future__ import annotations

import struct
from pathlib import Path

from eifdiff.packages import rpm
from tests.packages.helpers import rpm_header, rpm_package, rpmdb_sqlite

XZ = rpm_package("xz", "5.6.0", "1.fc40", ["/usr/bin/xz", "/usr/bin/unxz",
                                            "/usr/share/doc/xz/README"])
LIBS = rpm_package("xz-libs", "5.6.0", "1.fc40", ["/usr/lib64/liblzma.so.5.6.0"], epoch=1)
BASH = rpm_package("bash", "5.2.26", "3.fc40", [])


def test_header_blob() -> None:
    h = rpm.parse_header(XZ)
    assert h[rpm.NAME] == "xz" and h[rpm.VERSION] == "5.6.0" and h[rpm.RELEASE] == "1.fc40"
    assert h[rpm.DIRNAMES] == ("/usr/bin/", "/usr/share/doc/xz/")
    assert h[rpm.DIRINDEXES] == (0, 0, 1)
    p = rpm.package(XZ, source="s", root="rootfs/")
    assert p is not None and p.version == "5.6.0-1.fc40" and p.extra["arch"] == "x86_64"
    assert p.files == ("rootfs/usr/bin/xz", "rootfs/usr/bin/unxz",
                       "rootfs/usr/share/doc/xz/README")
    libs = rpm.package(LIBS, source="s")
    assert libs is not None and libs.version == "1:5.6.0-1.fc40"
    assert rpm.package(b"\x8e\xad\xe8\x01\0\0\0\0" + BASH, source="s").name == "bash"


def test_rpmdb_sqlite(tmp_path: Path) -> None:
    data = rpmdb_sqlite(tmp_path / "rpmdb.sqlite", [XZ, LIBS, BASH, b"not a header"])
    for rel in rpm.DATABASES:
        pkgs = rpm.read({rel: data}, root="rootfs/", ramdisk="ramdisk[1]")
        assert [(p.name, p.version) for p in pkgs] == [
            ("xz", "5.6.0-1.fc40"), ("xz-libs", "1:5.6.0-1.fc40"), ("bash", "5.2.26-3.fc40")]
        assert pkgs[0].source == "rootfs/" + rel and pkgs[0].ramdisk == "ramdisk[1]"
        assert pkgs[2].files == ()


def test_truncated_and_lying_blobs_give_fewer_packages() -> None:
    for n in range(len(XZ)):
        assert rpm.package(XZ[:n], source="s") is None  # il/dl no longer fit
    huge = struct.pack(">II", 0xFFFFFFF, 0xFFFFFFF) + XZ[8:]
    assert rpm.parse_header(huge) == {}
    # an entry whose offset or count runs past the store is skipped, the rest is kept
    bad = rpm_header([(rpm.NAME, rpm.STRING, "n"), (rpm.VERSION, rpm.STRING, "1"),
                      (rpm.DIRINDEXES, rpm.INT32, [0])])
    entry = 8 + 16 * 2
    patched = bad[:entry] + struct.pack(">IIII", rpm.DIRINDEXES, rpm.INT32, 0, 10**6) + \
        bad[entry + 16:]
    h = rpm.parse_header(patched)
    assert rpm.DIRINDEXES not in h and h[rpm.NAME] == "n"
    unterminated = rpm_header([(rpm.NAME, rpm.STRING, "n")])[:-1] + b"x"
    assert rpm.parse_header(unterminated) == {}


def test_not_a_database() -> None:
    assert rpm.read({}) == []
    assert rpm.read({rpm.DATABASES[0]: b"SQLite format 3\0garbage" * 10}) == []
    assert rpm.blobs(b"") == []
