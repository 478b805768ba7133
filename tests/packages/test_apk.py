"""apk: lib/apk/db/installed."""

from __future__ import annotations

from eifdiff.packages import apk
from tests.packages.helpers import APK_INSTALLED


def test_installed_blocks_and_files() -> None:
    musl, xz = apk.read({"lib/apk/db/installed": APK_INSTALLED}, root="rootfs/",
                        ramdisk="ramdisk[1]")
    assert (musl.name, musl.version, musl.source) == ("musl", "1.2.4-r2",
                                                      "rootfs/lib/apk/db/installed")
    assert musl.files == ("rootfs/lib", "rootfs/lib/ld-musl-x86_64.so.1",
                          "rootfs/lib/libc.musl-x86_64.so.1")
    assert (xz.name, xz.version, xz.extra) == ("xz-libs", "5.6.1-r1",
                                               {"arch": "x86_64", "origin": "xz"})
    assert xz.files == ("rootfs/usr", "rootfs/usr/lib", "rootfs/usr/lib/liblzma.so.5",
                        "rootfs/usr/lib/liblzma.so.5.6.1")


def test_missing_and_garbage() -> None:
    assert apk.read({}) == []
    for junk in (b"", b"\xff" * 999, b"P:\nV:\n", b"V:1.0\n\nP:x\n", b"R:../../etc/x\n"):
        assert apk.parse_installed(junk, source="s") == []
    (p,) = apk.parse_installed(b"P:a\nV:1-r0\nF:../../x\nR:../y\nR:z", source="s", root="r/")
    assert p.files == ("r/x", "r/y", "r/x/z")  # `..` stays inside the root
