"""dpkg: status stanzas, info lists, md5sums, distroless status.d."""

from __future__ import annotations

from eifdiff.packages import dpkg
from tests.packages.helpers import (
    DISTROLESS_LIBC6,
    DISTROLESS_LIBC6_MD5SUMS,
    DPKG_STATUS,
    LIBLZMA5_MD5SUMS,
    LIBSSL3_LIST,
    XZ_UTILS_LIST,
)


def _by_name(pkgs: list) -> dict:
    return {p.name: p for p in pkgs}


def test_status_keeps_installed_packages_only() -> None:
    pkgs = _by_name(dpkg.parse_status(DPKG_STATUS, source="var/lib/dpkg/status"))
    assert sorted(pkgs) == ["liblzma5", "libssl3", "tzdata", "xz-utils"]  # adduser: config-files
    ssl = pkgs["libssl3"]
    assert (ssl.ecosystem, ssl.version, ssl.source) == ("dpkg", "3.0.19-1~deb12u2",
                                                        "var/lib/dpkg/status")
    assert ssl.extra == {"arch": "amd64", "source": "openssl", "multi_arch": "same"}
    assert pkgs["xz-utils"].extra["source"] == "xz-utils"  # no Source: the package itself
    assert pkgs["tzdata"].version == "2024a-0+deb12u1"  # held packages are installed


def test_source_with_version_in_parentheses() -> None:
    stanza = (b"Package: libfoo1\nStatus: install ok installed\nArchitecture: arm64\n"
              b"Source: foo (1.2-3)\nVersion: 1.2-3+b1\n")
    (p,) = dpkg.parse_status(stanza, source="s")
    assert p.extra["source"] == "foo" and p.extra["source_version"] == "1.2-3"


def test_read_attaches_lists_under_the_root() -> None:
    files = {
        "var/lib/dpkg/status": DPKG_STATUS,
        "var/lib/dpkg/info/xz-utils.list": XZ_UTILS_LIST,
        "var/lib/dpkg/info/libssl3:amd64.list": LIBSSL3_LIST,  # Multi-Arch: same
        "var/lib/dpkg/info/liblzma5:amd64.md5sums": LIBLZMA5_MD5SUMS,  # no .list: md5sums
    }
    pkgs = _by_name(dpkg.read(files, root="rootfs/", ramdisk="ramdisk[1]"))
    xz = pkgs["xz-utils"]
    assert xz.source == "rootfs/var/lib/dpkg/status" and xz.ramdisk == "ramdisk[1]"
    assert "rootfs/usr/bin/xz" in xz.files
    assert "rootfs/" not in xz.files and "rootfs/." not in xz.files  # `/.` is the root itself
    assert "rootfs/usr/lib/x86_64-linux-gnu/libssl.so.3" in pkgs["libssl3"].files
    assert pkgs["liblzma5"].files == ("rootfs/usr/lib/x86_64-linux-gnu/liblzma.so.5.6.1",
                                      "rootfs/usr/share/doc/liblzma5/copyright")
    assert pkgs["tzdata"].files is None  # no list at all: unknown, not empty


def test_distroless_status_d() -> None:
    files = {"var/lib/dpkg/status.d/libc6": DISTROLESS_LIBC6,
             "var/lib/dpkg/status.d/libc6.md5sums": DISTROLESS_LIBC6_MD5SUMS}
    (p,) = dpkg.read(files, root="rootfs/")
    assert (p.name, p.version, p.source) == ("libc6", "2.36-9+deb12u4",
                                             "rootfs/var/lib/dpkg/status.d/libc6")
    assert p.files == ("rootfs/lib/x86_64-linux-gnu/libc.so.6",)


def test_list_paths_cannot_leave_the_root() -> None:
    assert dpkg.parse_list(b"/../../etc/passwd\n/usr/./bin//xz\n\n/.\n", "r/") == (
        "r/etc/passwd", "r/usr/bin/xz")


def test_garbage_gives_no_exception() -> None:
    for junk in (b"", b"\0\xff\xfe" * 1000, b"Package\nVersion:\n\n", b"Package: x\n",
                 bytes(range(256)) * 20, b"Version: 1\nStatus: install ok installed\n"):
        assert dpkg.parse_status(junk, source="s") == []
        dpkg.parse_list(junk)
        dpkg.parse_md5sums(junk)
    assert dpkg.read({}) == []
    assert dpkg.read({"var/lib/dpkg/info/x.list": b"/x"}) == []  # lists without a status


def test_crlf_and_truncated_status() -> None:
    crlf = DPKG_STATUS.replace(b"\n", b"\r\n")
    assert len(dpkg.parse_status(crlf, source="s")) == 4
    cut = DPKG_STATUS[: DPKG_STATUS.index(b"Package: xz-utils") + 40]
    assert sorted(p.name for p in dpkg.parse_status(cut, source="s")) == ["liblzma5", "libssl3"]
