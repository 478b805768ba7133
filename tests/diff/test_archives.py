"""Member-level differences of nested archives (eifdiff/diff/archives.py): a jar built twice by
the real `jar` tool, wheels and tarballs rebuilt with other timestamps, order, modes."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from eifdiff.diff.archives import MemberChange, compare_archives
from eifdiff.formats.archive import read_archive
from tests.formats.test_archive import make_tar, make_zip


def _read(data: bytes) -> object:
    arc = read_archive(data)
    assert arc is not None and arc.anomalies == ()
    return arc


def test_jar_rebuilt_with_new_mtimes(tmp_path: Path) -> None:
    javac, jar = shutil.which("javac"), shutil.which("jar")
    if javac is None or jar is None:
        pytest.skip("javac and jar (a JDK) are not installed")
    src = tmp_path / "src/com/x/A.java"
    src.parent.mkdir(parents=True)
    src.write_text("package com.x;\npublic class A { public static void main(String[] a) {} }\n")
    classes = tmp_path / "classes"
    subprocess.run([javac, "-d", str(classes), str(src)], check=True, timeout=300)
    jars = []
    for when in (1700000000, 1710000000):
        for p in [*classes.rglob("*"), classes]:
            os.utime(p, (when, when))
        out = tmp_path / f"{when}.jar"
        subprocess.run([jar, "cf", str(out), "-C", str(classes), "."], check=True,
                       timeout=300, env={**os.environ, "TZ": "UTC"})
        jars.append(out.read_bytes())
    a, b = _read(jars[0]), _read(jars[1])
    changes = compare_archives(a, b)  # type: ignore[arg-type]
    by_member = {c.member: c for c in changes if c.member.startswith("com/")}
    assert set(by_member) == {"com/", "com/x/", "com/x/A.class"}
    for c in by_member.values():
        assert (c.field, c.a, c.b, c.category) == ("mtime", 1700000000, 1710000000,
                                                   "timestamp")
    # the manifest's time is the build's own clock: a timestamp row or none, never content
    assert {c.category for c in changes} <= {"timestamp"}
    cls = a.member("com/x/A.class")  # type: ignore[attr-defined]
    assert by_member["com/x/A.class"].offset_a == cls.offset


def test_wheel_rebuilt_with_other_timestamps_and_order() -> None:
    files = {"pkg/__init__.py": b"", "pkg/m.py": b"X = 1\n", "pkg-1.0.dist-info/RECORD": b""}
    a = make_zip(files, (2024, 1, 1, 0, 0, 0))
    b = make_zip(dict(reversed(files.items())), (2024, 6, 1, 12, 0, 0))
    changes = compare_archives(_read(a), _read(b))  # type: ignore[arg-type]
    order = [c for c in changes if c.category == "ordering"]
    assert order == [MemberChange("pkg/__init__.py", "member order",
                                  "pkg/__init__.py, pkg/m.py, pkg-1.0.dist-info/RECORD",
                                  "pkg-1.0.dist-info/RECORD, pkg/m.py, pkg/__init__.py",
                                  "ordering", 0, order[0].offset_b)]
    times = [c for c in changes if c.field == "mtime"]
    assert len(times) == 3 and all(c.category == "timestamp" for c in times)
    assert {c.category for c in changes} == {"ordering", "timestamp"}


def test_modes_extra_fields_compression_and_content() -> None:
    a = make_zip({"x": b"a" * 1000, "y": b"same", "z": b"old"}, mode=0o644)
    b_buf = make_zip({"x": b"a" * 1000, "y": b"same", "z": b"new!"}, mode=0o755,
                     method=zipfile.ZIP_STORED)
    changes = compare_archives(_read(a), _read(b_buf))  # type: ignore[arg-type]
    got = {(c.member, c.field): (c.a, c.b, c.category) for c in changes}
    assert got[("x", "mode")] == ("0o644", "0o755", "permissions")
    assert got[("x", "method")] == (8, 0, "compression")
    assert got[("z", "content")] == ("3 bytes", "4 bytes", "content")
    assert ("y", "content") not in got


def test_tar_gz_members_and_wrapper() -> None:
    a = gzip.compress(make_tar({"a": b"1", "b": b"2"}, mtime=100), mtime=5)
    b = gzip.compress(make_tar({"a": b"1", "b": b"2", "c": b"3"}, mtime=200), mtime=6)
    changes = compare_archives(_read(a), _read(b))  # type: ignore[arg-type]
    got = [(c.member, c.field, c.a, c.b, c.category) for c in changes]
    assert got == [("", "gzip mtime", 5, 6, "timestamp"),
                   ("c", "member", None, "1 bytes", "added"),
                   ("a", "mtime", 100, 200, "timestamp"),
                   ("b", "mtime", 100, 200, "timestamp")]


def test_identical_archives_have_no_changes() -> None:
    data = make_zip({"a": b"abc"})
    assert compare_archives(_read(data), _read(data)) == ()  # type: ignore[arg-type]
