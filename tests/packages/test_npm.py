"""npm lockfiles (eifdiff/packages/npm.py): versions 1 to 3 and the hidden lockfile."""

from __future__ import annotations

import json

from eifdiff.packages import npm
from eifdiff.packages.inventory import package_changes
from eifdiff.packages.model import PackageChange

V3 = {
    "name": "app", "version": "1.0.0", "lockfileVersion": 3,
    "packages": {
        "": {"name": "app", "version": "1.0.0", "dependencies": {"urllib": "^2"}},
        "node_modules/left-pad": {"version": "1.3.0", "resolved": "https://r/left-pad.tgz"},
        "node_modules/@scope/util": {"version": "2.2.1", "dev": True},
        "node_modules/left-pad/node_modules/tiny": {"version": "0.1.0"},
        "node_modules/alias": {"name": "real-name", "version": "3.0.0"},
        "packages/ws": {"version": "0.0.1"},
        "node_modules/ws": {"resolved": "packages/ws", "link": True},
    },
}
V1 = {
    "name": "old", "lockfileVersion": 1,
    "dependencies": {
        "a": {"version": "1.0.0", "dependencies": {"b": {"version": "2.0.0"}}},
        "local": {"version": "file:../local"},
    },
}


def test_v3_lockfile() -> None:
    files = {"srv/app/package-lock.json": json.dumps(V3).encode()}
    pkgs = npm.read(files, root="rootfs/", ramdisk="ramdisk[1]")
    got = sorted((p.name, p.version, p.extra["path"], p.extra["dev"]) for p in pkgs)
    assert got == [
        ("@scope/util", "2.2.1", "rootfs/srv/app/node_modules/@scope/util", True),
        ("left-pad", "1.3.0", "rootfs/srv/app/node_modules/left-pad", False),
        ("real-name", "3.0.0", "rootfs/srv/app/node_modules/alias", False),
        ("tiny", "0.1.0", "rootfs/srv/app/node_modules/left-pad/node_modules/tiny", False),
    ]
    assert {p.source for p in pkgs} == {"rootfs/srv/app/package-lock.json"}
    assert {p.ecosystem for p in pkgs} == {"npm"}


def test_hidden_lockfile_locations_are_under_the_project() -> None:
    files = {"app/node_modules/.package-lock.json": json.dumps(V3).encode()}
    pkgs = npm.read(files)
    assert {p.extra["lockfile"] for p in pkgs} == {"hidden"}
    assert "app/node_modules/left-pad" in {p.extra["path"] for p in pkgs}


def test_v1_lockfile_nests_dependencies() -> None:
    got = npm.parse_lock(json.dumps(V1).encode())
    assert sorted(got) == [("node_modules/a", "a", "1.0.0", False),
                           ("node_modules/a/node_modules/b", "b", "2.0.0", False)]


def test_only_project_lockfiles_are_read() -> None:
    assert npm.is_lock("package-lock.json") and npm.is_lock("a/package-lock.json")
    assert npm.is_lock("a/node_modules/.package-lock.json")
    assert not npm.is_lock("a/node_modules/x/package-lock.json")
    assert not npm.is_lock("a/my-package-lock.json")


def test_damage_gives_nothing() -> None:
    assert npm.parse_lock(b"{not json") == []
    assert npm.parse_lock(b"[1, 2]") == []
    assert npm.parse_lock(b"[" * 100000) == []  # too deep for the parser: nothing, no crash
    deep: dict[str, object] = {"version": "1"}
    for _ in range(200):
        deep = {"version": "1", "dependencies": {"x": deep}}
    assert len(npm.parse_lock(json.dumps({"dependencies": {"x": deep}}).encode())) == \
        npm.MAX_DEPTH


def test_dependency_drift_reads_as_a_version_change() -> None:
    newer = json.loads(json.dumps(V3))
    newer["packages"]["node_modules/@scope/util"]["version"] = "2.2.2"
    a = npm.read({"package-lock.json": json.dumps(V3).encode()}, ramdisk="r")
    b = npm.read({"package-lock.json": json.dumps(newer).encode()}, ramdisk="r")
    assert package_changes(a, b) == [PackageChange("npm", "@scope/util", "2.2.1", "2.2.2", "r")]


def test_files_under_node_modules_belong_to_their_package() -> None:
    from eifdiff.packages.inventory import owner_index, owner_of

    pkgs = npm.read({"srv/package-lock.json": json.dumps(V3).encode()}, root="rootfs/")
    index = owner_index(pkgs)
    for name, owner in (
            ("rootfs/srv/node_modules/left-pad/index.js", "left-pad"),
            ("rootfs/srv/node_modules/@scope/util/lib/a.js", "@scope/util"),
            ("rootfs/srv/node_modules/left-pad/node_modules/tiny/t.js", "tiny"),
            ("rootfs/srv/node_modules/alias/x.js", "real-name"),
            ("rootfs/srv/node_modules/.package-lock.json", None),
            ("rootfs/other/node_modules/left-pad/index.js", None)):
        got = owner_of(name, index, pkgs)
        assert (got.name if got else None) == owner, name
