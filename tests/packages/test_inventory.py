"""The inventory of an EIF built here, owners of entries, package changes and warnings."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from eifdiff.build import build_eif
from eifdiff.formats.cpio import S_IFDIR, CpioMember, write_archive
from eifdiff.load import load
from eifdiff.packages import (
    Package,
    PackageChange,
    owner_index,
    owner_of,
    package_changes,
    warnings,
)
from eifdiff.packages.inventory import inventory
from tests.helpers import small_metadata
from tests.packages.helpers import (
    APK_INSTALLED,
    DPKG_STATUS,
    GO_BUILDINFO_SECTION,
    LIBSSL3_LIST,
    XZ_UTILS_LIST,
    YAML_METADATA,
    YAML_RECORD,
    rpm_package,
    rpmdb_sqlite,
    tiny_elf,
)

SITE = "rootfs/usr/lib/python3.11/site-packages"
FIXED_XZ = b"5.6.1+really5.4.5-1"  # Debian's fix: the upstream part is not 5.6.1


def _dirs(*names: str) -> list[CpioMember]:
    return [CpioMember(n, mode=S_IFDIR | 0o755, nlink=2) for n in names]


def customer(*, xz_version: bytes = b"5.6.1-1", libssl: bool = True,
             extra: tuple[CpioMember, ...] = ()) -> bytes:
    status = DPKG_STATUS.replace(b"Version: 5.6.1-1", b"Version: " + xz_version)
    if not libssl:
        start = status.index(b"Package: libssl3")
        status = status[:start] + status[status.index(b"\n\n", start) + 2:]
    members = [
        CpioMember("cmd", data=b"/usr/bin/app\0"), CpioMember("env", data=b"PATH=/bin\0"),
        *_dirs("rootfs", "rootfs/usr", "rootfs/usr/bin", "rootfs/var", "rootfs/var/lib"),
        CpioMember("rootfs/var/lib/dpkg/status", data=status),
        CpioMember("rootfs/var/lib/dpkg/info/xz-utils.list", data=XZ_UTILS_LIST),
        CpioMember("rootfs/var/lib/dpkg/info/xz-utils.md5sums", data=b"00  usr/bin/xz\n"),
        CpioMember("rootfs/usr/bin/xz", data=b"#!xz " + xz_version),
        CpioMember("rootfs/usr/share/doc/xz-utils/changelog.Debian.gz", data=b"\x1f\x8b"),
        CpioMember("rootfs/lib/apk/db/installed", data=APK_INSTALLED),
        CpioMember(f"{SITE}/PyYAML-6.0.1.dist-info/METADATA", data=YAML_METADATA),
        CpioMember(f"{SITE}/PyYAML-6.0.1.dist-info/RECORD", data=YAML_RECORD),
        CpioMember(f"{SITE}/yaml/__init__.py", data=b"# yaml"),
        CpioMember(f"{SITE}/yaml/__pycache__/composer.cpython-311.pyc", data=b"pyc"),
        CpioMember(f"{SITE}/yaml/_generated.py", data=b"# not in RECORD"),
        CpioMember("rootfs/usr/local/bin/app", data=tiny_elf(GO_BUILDINFO_SECTION)),
        CpioMember("rootfs/usr/bin/not-go", data=tiny_elf(b"\0" * 64, section=".text")),
        *extra,
    ]
    if libssl:
        members += [
            CpioMember("rootfs/var/lib/dpkg/info/libssl3:amd64.list", data=LIBSSL3_LIST),
            CpioMember("rootfs/usr/lib/x86_64-linux-gnu/libssl.so.3", data=b"\x7fELF..."),
        ]
    return write_archive(members)


def fedora(tmp: Path) -> bytes:
    """A gzip-compressed ramdisk holding an rpm root under `fedora/`."""
    db = rpmdb_sqlite(tmp / "rpmdb.sqlite", [
        rpm_package("xz-libs", "5.6.0", "1.fc40", ["/usr/lib64/liblzma.so.5.6.0"]),
        rpm_package("bash", "5.2.26", "3.fc40", ["/usr/bin/bash"]),
    ])
    archive = write_archive([
        CpioMember("fedora/usr/lib/sysimage/rpm/rpmdb.sqlite", data=db),
        CpioMember("fedora/usr/bin/bash", data=b"bash"),
    ])
    return gzip.compress(archive, mtime=0)


def make_eif(path: Path, ramdisks: list[bytes]) -> Path:
    boot = write_archive([CpioMember("init", data=b"\x7fELF init"),
                          CpioMember("nsm.ko", data=b"\x7fELF module")])
    build_eif(path, kernel=b"K" * 4096, cmdline=b"console=ttyS0", ramdisks=[boot, *ramdisks],
              metadata=small_metadata("packages"))
    return path


@pytest.fixture(scope="module")
def image_a(tmp_path_factory: pytest.TempPathFactory) -> list[Package]:
    tmp = tmp_path_factory.mktemp("a")
    with load(make_eif(tmp / "a.eif", [customer(), fedora(tmp)])) as img:
        return inventory(img)


def _row(p: Package) -> tuple[str, str, str, str]:
    return (p.ramdisk, p.ecosystem, p.name, p.version)


def test_inventory_finds_every_ecosystem(image_a: list[Package]) -> None:
    assert [_row(p) for p in image_a] == [
        ("ramdisk[1]", "apk", "musl", "1.2.4-r2"),
        ("ramdisk[1]", "apk", "xz-libs", "5.6.1-r1"),
        ("ramdisk[1]", "dpkg", "liblzma5", "5.6.1-1"),
        ("ramdisk[1]", "dpkg", "libssl3", "3.0.19-1~deb12u2"),
        ("ramdisk[1]", "dpkg", "tzdata", "2024a-0+deb12u1"),
        ("ramdisk[1]", "dpkg", "xz-utils", "5.6.1-1"),
        ("ramdisk[1]", "go", "example.com/app", "(devel)"),
        ("ramdisk[1]", "go", "example.com/greet", "v1.2.3"),
        ("ramdisk[1]", "go", "example.com/other", "v0.1.0"),
        ("ramdisk[1]", "go", "stdlib", "go1.19.8"),
        ("ramdisk[1]", "python", "PyYAML", "6.0.1"),
        ("ramdisk[2]", "rpm", "bash", "5.2.26-3.fc40"),
        ("ramdisk[2]", "rpm", "xz-libs", "5.6.0-1.fc40"),
    ]
    xz = next(p for p in image_a if p.name == "xz-utils")
    assert xz.source == "rootfs/var/lib/dpkg/status"
    assert "rootfs/usr/bin/xz" in xz.files
    bash = next(p for p in image_a if p.name == "bash")
    assert bash.source == "fedora/usr/lib/sysimage/rpm/rpmdb.sqlite"
    assert bash.files == ("fedora/usr/bin/bash",)


def test_owners(image_a: list[Package]) -> None:
    index = owner_index(image_a, ramdisk="ramdisk[1]")
    assert index["rootfs/usr/bin/xz"].name == "xz-utils"
    assert index["rootfs/usr/lib/x86_64-linux-gnu/libssl.so.3"].name == "libssl3"
    assert index["rootfs/usr/lib/liblzma.so.5.6.1"].ecosystem == "apk"
    assert index["rootfs/usr/local/bin/app"].name == "example.com/app"
    assert "rootfs/usr" not in index  # claimed by several packages: no single owner
    assert "fedora/usr/bin/bash" not in index  # another ramdisk
    assert owner_index(image_a)["fedora/usr/bin/bash"].name == "bash"

    def owner(name: str) -> str | None:
        p = owner_of(name, index, image_a)
        return None if p is None else f"{p.ecosystem}:{p.name}"

    assert owner("rootfs/usr/bin/xz") == "dpkg:xz-utils"
    assert owner("rootfs/usr/share/doc/xz-utils/changelog.Debian.gz") == "dpkg:xz-utils"
    assert owner("rootfs/var/lib/dpkg/info/xz-utils.md5sums") == "dpkg:xz-utils"
    assert owner("rootfs/var/lib/dpkg/info/libssl3:amd64.list") == "dpkg:libssl3"
    assert owner(f"{SITE}/yaml/__pycache__/composer.cpython-311.pyc") == "python:PyYAML"
    assert owner(f"{SITE}/yaml/_generated.py") == "python:PyYAML"  # under a RECORD module
    assert owner(f"{SITE}/PyYAML-6.0.1.dist-info/RECORD") == "python:PyYAML"
    assert owner("rootfs/usr/share/doc/nothing/README") is None
    assert owner("rootfs/etc/hostname") is None
    assert owner(f"{SITE}/unknown/__init__.py") is None
    assert owner(f"{SITE}/__pycache__/six.cpython-311.pyc") is None  # no six.py anywhere


def test_known_bad_warnings(image_a: list[Package]) -> None:
    found = [(w.ramdisk, w.ecosystem, w.name, w.version, w.advisory)
             for w in warnings(image_a)]
    assert found == [
        ("ramdisk[1]", "apk", "xz-libs", "5.6.1-r1", "CVE-2024-3094"),
        ("ramdisk[1]", "dpkg", "liblzma5", "5.6.1-1", "CVE-2024-3094"),
        ("ramdisk[1]", "dpkg", "xz-utils", "5.6.1-1", "CVE-2024-3094"),
        ("ramdisk[2]", "rpm", "xz-libs", "5.6.0-1.fc40", "CVE-2024-3094"),
    ]
    xz = next(w for w in warnings(image_a) if w.name == "xz-utils")
    assert "backdoor" in xz.message and "security-tracker.debian.org" in xz.message


def test_package_changes_between_two_images(tmp_path: Path, image_a: list[Package]) -> None:
    dist = CpioMember(f"{SITE}/six-1.16.0.dist-info/METADATA",
                      data=b"Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n")
    with load(make_eif(tmp_path / "b.eif", [customer(xz_version=FIXED_XZ, libssl=False,
                                                      extra=(dist,)), fedora(tmp_path)])) as img:
        b = inventory(img)
    assert package_changes(image_a, b) == [
        PackageChange("dpkg", "liblzma5", "5.6.1-1", FIXED_XZ.decode(), "ramdisk[1]"),
        PackageChange("dpkg", "libssl3", "3.0.19-1~deb12u2", None, "ramdisk[1]"),
        PackageChange("dpkg", "xz-utils", "5.6.1-1", FIXED_XZ.decode(), "ramdisk[1]"),
        PackageChange("python", "six", None, "1.16.0", "ramdisk[1]"),
    ]
    assert [c.kind for c in package_changes(image_a, b)] == [
        "changed", "removed", "changed", "added"]
    assert package_changes(b, b) == []
    assert not [w for w in warnings(b) if w.ecosystem == "dpkg"]  # +really5.4.5 is fixed


def test_several_installs_of_one_name() -> None:
    a = [Package("go", "golang.org/x/sys", "v0.1.0", "bin/a", "r"),
         Package("go", "golang.org/x/sys", "v0.1.0", "bin/b", "r")]
    b = [*a[:1], Package("go", "golang.org/x/sys", "v0.2.0", "bin/b", "r")]
    assert package_changes(a, b) == [
        PackageChange("go", "golang.org/x/sys", "v0.1.0", "v0.1.0, v0.2.0", "r")]


def test_inventory_with_a_real_go_binary(tmp_path: Path,
                                         go_binaries: dict[str, bytes]) -> None:
    ramdisk = write_archive([CpioMember("rootfs/app", data=go_binaries["app"], mode=0o100755)])
    with load(make_eif(tmp_path / "go.eif", [ramdisk])) as img:
        pkgs = inventory(img)
    assert [(p.name, p.version) for p in pkgs][:2] == [("example.com/app", "(devel)"),
                                                       ("example.com/greet", "v1.2.3")]
    assert pkgs[2].name == "stdlib" and pkgs[2].version.startswith("go1.")
    assert owner_of("rootfs/app", owner_index(pkgs), pkgs).name == "example.com/app"


def test_damaged_databases_do_not_stop_the_inventory(tmp_path: Path) -> None:
    ramdisk = write_archive([
        CpioMember("rootfs/var/lib/dpkg/status", data=b"\xff\0garbage" * 100),
        CpioMember("rootfs/var/lib/dpkg/info/x.list", data=b"\xff" * 10),
        CpioMember("rootfs/lib/apk/db/installed", data=b"P:\n\0\0"),
        CpioMember("rootfs/var/lib/rpm/rpmdb.sqlite", data=b"SQLite format 3\0" + b"\0" * 200),
        CpioMember(f"{SITE}/x-1.dist-info/METADATA", data=b"\0\0\0"),
        CpioMember("rootfs/usr/bin/cut-elf", data=tiny_elf(GO_BUILDINFO_SECTION)[:300]),
        CpioMember("rootfs/usr/bin/empty", data=b""),
    ])
    with load(make_eif(tmp_path / "bad.eif", [ramdisk])) as img:
        assert inventory(img) == []
