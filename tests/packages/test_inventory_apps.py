"""Application packages in an EIF built here: npm lockfiles and pip's install records."""

from __future__ import annotations

import json
from pathlib import Path

from eifdiff.formats.cpio import CpioMember, write_archive
from eifdiff.load import load
from eifdiff.packages import PackageChange, package_changes
from eifdiff.packages.inventory import inventory
from tests.packages.test_inventory import make_eif

SITE = "rootfs/opt/app/lib"


def ramdisk(urllib3: str, left_pad: str) -> bytes:
    lock = {"lockfileVersion": 3, "packages": {
        "": {"name": "web"}, "node_modules/left-pad": {"version": left_pad}}}
    info = f"{SITE}/urllib3-{urllib3}.dist-info"
    return write_archive([
        CpioMember("rootfs/srv/web/package-lock.json", data=json.dumps(lock).encode()),
        CpioMember("rootfs/srv/web/node_modules/.package-lock.json",
                   data=json.dumps(lock).encode()),
        CpioMember("rootfs/srv/web/node_modules/left-pad/package-lock.json",
                   data=b'{"packages": {"node_modules/x": {"version": "9"}}}'),
        CpioMember(f"{info}/METADATA", data=f"Name: urllib3\nVersion: {urllib3}\n".encode()),
        CpioMember(f"{info}/INSTALLER", data=b"pip\n"),
        CpioMember(f"{info}/RECORD", data=b"urllib3/__init__.py,sha256=x,1\n"),
    ])


def test_npm_and_pip_records_in_an_image(tmp_path: Path) -> None:
    pkgs = []
    for name, versions in (("a", ("2.2.1", "1.3.0")), ("b", ("2.2.2", "1.3.1"))):
        with load(make_eif(tmp_path / f"{name}.eif", [ramdisk(*versions)])) as img:
            pkgs.append(inventory(img))
    a = pkgs[0]
    npm = [p for p in a if p.ecosystem == "npm"]
    assert {(p.name, p.version, p.extra["lockfile"]) for p in npm} == {
        ("left-pad", "1.3.0", "project"), ("left-pad", "1.3.0", "hidden")}
    (py,) = [p for p in a if p.ecosystem == "python"]
    assert py.extra["installer"] == "pip"
    assert package_changes(*pkgs) == [
        PackageChange("npm", "left-pad", "1.3.0", "1.3.1", "ramdisk[1]"),
        PackageChange("python", "urllib3", "2.2.1", "2.2.2", "ramdisk[1]"),
    ]
