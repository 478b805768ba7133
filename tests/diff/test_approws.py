"""Application builds explained in whole EIF comparisons (eifdiff/diff/approws.py, called from
the content explainer): a Go program built in two directories, the same pip packages installed
twice with --target, a jar rebuilt with new member mtimes, a Go build stamped from two commits,
an npm lockfile that drifted. Built with the real toolchains of this machine."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import subprocess
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from eifdiff.formats.cpio import S_IFDIR, CpioMember
from eifdiff.report.model import Report
from tests.builders import BOOT_CPIO, compare_pair, cpio, customer_members, make_eif
from tests.diff.test_elfpaths import go_build
from tests.diff.test_pycode import make_wheel, pip_target
from tests.helpers import run_measured


def _pair(tmp: Path, a: Iterable[tuple[str, bytes | None, int]],
          b: Iterable[tuple[str, bytes | None, int]]) -> Report:
    ra = cpio(customer_members(extra=list(a)))
    rb = cpio(customer_members(extra=list(b)))
    return compare_pair(tmp, {"ramdisks": [BOOT_CPIO, ra]}, {"ramdisks": [BOOT_CPIO, rb]})


def _rows(report: Report, entry: str) -> list[tuple[str | None, str, str]]:
    return [(d.part, d.field, d.category) for d in report.divergences if d.entry == entry]


def test_go_program_built_in_two_directories(tmp_path: Path) -> None:
    a = go_build(tmp_path, "src/app")
    b = go_build(tmp_path, "work/longer-dir/app")
    report = _pair(tmp_path / "eif", [("rootfs/bin/hello", a, 0o755)],
                   [("rootfs/bin/hello", b, 0o755)])
    rows = [d for d in report.divergences if d.entry == "rootfs/bin/hello"]
    assert not [d for d in report.divergences if d.category == "content"], _rows(
        report, "rootfs/bin/hello")
    paths = [d for d in rows if d.category == "build-path"]
    assert {d.part for d in paths} == {".gopclntab", ".debug_line"}
    for d in paths:
        assert d.field == "go build path" and "-trimpath" in d.hint
        assert (d.a, d.b) == (f"{tmp_path}/src", f"{tmp_path}/work/longer-dir")
    (bid,) = [d for d in rows if d.field == "go build ID"]
    assert bid.category == "derived" and bid.a != bid.b and "/" in str(bid.a)
    assert {d.category for d in rows} == {"build-path", "derived"}
    assert {d.category for d in report.divergences if d.is_cause} == {"build-path"}
    # one root cause names both directories; the derived rows of the file point at it
    (rc,) = [r for r in report.root_causes if r.kind == "build-path"]
    assert rc.facts == {"dir_a": f"{tmp_path}/src", "dir_b": f"{tmp_path}/work/longer-dir"}
    assert rc.title == f"Built in {tmp_path}/src in a and {tmp_path}/work/longer-dir in b"
    assert {d.because for d in rows if not d.is_cause} == {rc.id}


def test_pip_target_twice(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    pip_target(wheel, tmp_path / "t1")
    time.sleep(1.05 - time.time() % 1)  # the next second: another source mtime
    pip_target(wheel, tmp_path / "t2")

    def spec(root: Path) -> list[tuple[str, bytes | None, int]]:
        out: list[tuple[str, bytes | None, int]] = [("rootfs/opt", None, 0o755),
                                                    ("rootfs/opt/app", None, 0o755)]
        for p in sorted(root.rglob("*")):
            name = f"rootfs/opt/app/{p.relative_to(root)}"
            out.append((name, None if p.is_dir() else p.read_bytes(), 0o755 if p.is_dir()
                        else 0o644))
        return out

    report = _pair(tmp_path / "eif", spec(tmp_path / "t1"), spec(tmp_path / "t2"))
    assert not [d for d in report.divergences if d.category == "content"]
    pycs = {d.entry for d in report.divergences if (d.entry or "").endswith(".pyc")}
    assert len(pycs) == 2
    for entry in pycs:
        rows = {d.field: d for d in report.divergences if d.entry == entry}
        assert set(rows) == {"pyc source mtime", "pyc compiled in"}
        assert rows["pyc source mtime"].category == "timestamp"
        moved = rows["pyc compiled in"]
        assert moved.category == "build-path" and moved.part == "co_filename"
        assert str(moved.a).startswith("/tmp/pip-target-")
        assert str(moved.a).endswith("/lib/python") and str(moved.b).endswith("/lib/python")
        assert "compileall -d" in moved.hint
    assert {d.entry for d in report.divergences if d.is_cause} == pycs
    # both .pyc of one install join one root cause: the temporary folder pip compiled in
    (rc,) = [r for r in report.root_causes if r.kind == "build-path"]
    assert str(rc.facts["dir_a"]).startswith("/tmp/pip-target-") and rc.entries == 2


def test_jar_rebuilt_with_new_member_mtimes(tmp_path: Path) -> None:
    javac, jar = shutil.which("javac"), shutil.which("jar")
    if javac is None or jar is None:
        pytest.skip("javac and jar (a JDK) are not installed")
    src = tmp_path / "A.java"
    src.write_text("public class A { public static void main(String[] a) {} }\n")
    classes = tmp_path / "classes"
    subprocess.run([javac, "-d", str(classes), str(src)], check=True, timeout=300)
    (tmp_path / "manifest.txt").write_text("Created-By: eifdiff tests\n")
    jars = []
    for when in (1700000000, 1710000000):
        for p in [*classes.rglob("*"), classes, tmp_path / "manifest.txt"]:
            os.utime(p, (when, when))
        out = tmp_path / f"{when}.jar"
        subprocess.run([jar, "cfm", str(out), str(tmp_path / "manifest.txt"), "-C", str(classes),
                        "."], check=True, timeout=300, env={**os.environ, "TZ": "UTC"})
        jars.append(out.read_bytes())
    entry = "rootfs/opt/app.jar"
    report = _pair(tmp_path / "eif", [("rootfs/opt", None, 0o755), (entry, jars[0], 0o644)],
                   [("rootfs/opt", None, 0o755), (entry, jars[1], 0o644)])
    rows = [d for d in report.divergences if d.entry == entry]
    times = {d.part: d for d in rows if d.field == "jar member mtime"}
    assert "A.class" in times
    assert times["A.class"].category == "timestamp"
    assert (times["A.class"].a, times["A.class"].b) == (1700000000, 1710000000)
    assert "outputTimestamp" in times["A.class"].hint
    assert times["A.class"].offset_a is not None
    assert {d.category for d in rows} == {"timestamp"}


def test_go_build_stamped_from_two_commits(tmp_path: Path) -> None:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    repo = tmp_path / "repo" / "app"
    first = go_build(tmp_path / "repo", "app")  # creates the module, not yet a repository
    bins = []
    for i, date in enumerate(("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z")):
        if i == 0:
            subprocess.run([git, "init", "-q", str(repo)], check=True, env=env)
        (repo / "notes.txt").write_text(f"commit {i}\n")
        subprocess.run([git, "-C", str(repo), "add", "-A"], check=True, env=env)
        subprocess.run([git, "-C", str(repo), "commit", "-qm", f"c{i}", "--date", date],
                       check=True, env={**env, "GIT_COMMITTER_DATE": date})
        go = shutil.which("go")
        assert go is not None
        subprocess.run([go, "build", "-o", "hello", "."], cwd=repo, check=True,
                       capture_output=True, timeout=600,
                       env={**env, "GOFLAGS": "", "GOCACHE": str(tmp_path / "gocache"),
                            "GOPATH": str(tmp_path / "gopath"), "GOPROXY": "off",
                            "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"})
        bins.append((repo / "hello").read_bytes())
    assert first != bins[0]
    report = _pair(tmp_path / "eif", [("rootfs/bin/hello", bins[0], 0o755)],
                   [("rootfs/bin/hello", bins[1], 0o755)])
    rows = {(d.part, d.field): d for d in report.divergences if d.entry == "rootfs/bin/hello"}
    assert rows[("vcs.time", "go vcs.time")].a == "2024-01-01T00:00:00Z"
    assert rows[("vcs.time", "go vcs.time")].category == "timestamp"
    assert "-buildvcs=false" in rows[("vcs.time", "go vcs.time")].hint
    assert rows[("vcs.revision", "go vcs stamp")].category == "content"
    assert rows[(".go.buildinfo", "go build info")].category == "derived"
    assert rows[(".note.go.buildid", "go build ID")].category == "derived"
    assert {k[1] for k, d in rows.items() if d.category == "content"} == {"go vcs stamp"}


def test_npm_lockfile_drift(tmp_path: Path) -> None:
    def lock(version: str) -> bytes:
        return json.dumps({"lockfileVersion": 3, "packages": {
            "": {"name": "web"}, "node_modules/left-pad": {"version": version},
            "node_modules/same": {"version": "1.0.0"}}}, indent=2).encode()

    def tree(version: str) -> list[tuple[str, bytes | None, int]]:
        return [("rootfs/srv", None, 0o755), (entry, lock(version), 0o644),
                ("rootfs/srv/node_modules", None, 0o755),
                ("rootfs/srv/node_modules/left-pad", None, 0o755),
                (code, f"module.exports = '{version}'\n".encode(), 0o644)]

    entry = "rootfs/srv/package-lock.json"
    code = "rootfs/srv/node_modules/left-pad/index.js"
    report = _pair(tmp_path, tree("1.3.0"), tree("1.3.1"))
    (row,) = [d for d in report.divergences if d.entry == code and d.is_cause]
    assert row.category == "content" and row.package == "left-pad"
    assert "went from 1.3.0 to 1.3.1" in row.hint
    rows = [(d.part, d.field, d.a, d.b, d.category) for d in report.divergences
            if d.entry == entry]
    assert rows == [("node_modules/left-pad", "locked version", "left-pad 1.3.0",
                     "left-pad 1.3.1", "content")]
    # the package view reads the same drift from the lockfile (and `same` did not change)
    assert [(c.ecosystem, c.name, c.a, c.b) for c in report.package_changes] == [
        ("npm", "left-pad", "1.3.0", "1.3.1")]


def test_damaged_member_is_an_anomaly_and_the_rest_is_reported(tmp_path: Path) -> None:
    import zipfile

    from tests.formats.test_archive import make_zip

    a = make_zip({"a.txt": b"abc", "b.txt": b"same"}, (2024, 1, 1, 0, 0, 0),
                 method=zipfile.ZIP_STORED)
    b = bytearray(make_zip({"a.txt": b"abc", "b.txt": b"same"}, (2024, 2, 1, 0, 0, 0),
                           method=zipfile.ZIP_STORED))
    b[b.index(b"abc")] = ord("x")  # the stored bytes no longer match the CRC
    entry = "rootfs/app.zip"
    report = _pair(tmp_path, [(entry, a, 0o644)], [(entry, bytes(b), 0o644)])
    (an,) = report.anomalies
    assert (an.section, an.entry, an.part, an.side) == ("ramdisk[1]", entry, "a.txt", "b")
    assert "CRC" in an.message
    rows = {(d.part, d.field) for d in report.divergences if d.entry == entry}
    assert rows == {("a.txt", "member mtime"), ("b.txt", "member mtime"),
                    ("a.txt", "member content")}


def test_not_an_archive_after_all_falls_back_to_content(tmp_path: Path) -> None:
    entry = "rootfs/fake.zip"
    report = _pair(tmp_path, [(entry, b"PK\x03\x04 not really a zip", 0o644)],
                   [(entry, b"PK\x03\x04 not really a zip!", 0o644)])
    got = {(d.field, d.category) for d in report.divergences if d.entry == entry}
    assert got == {("content", "content"), ("filesize", "derived")}


def test_rust_program_built_in_two_directories(tmp_path: Path) -> None:
    rustc = shutil.which("rustc")
    if rustc is None:
        pytest.skip("rustc is not installed")
    bins = []
    for folder in ("r1", "rust/longer"):
        d = tmp_path / folder
        d.mkdir(parents=True)
        (d / "main.rs").write_text('fn main() { println!("{}", std::env::args().count()); }\n')
        subprocess.run([rustc, "-g", "-o", "app", "main.rs"], cwd=d, check=True,
                       capture_output=True, timeout=600)
        bins.append((d / "app").read_bytes())
    report = _pair(tmp_path / "eif", [("rootfs/bin/app", bins[0], 0o755)],
                   [("rootfs/bin/app", bins[1], 0o755)])
    rows = [d for d in report.divergences if d.entry == "rootfs/bin/app"]
    assert not [d for d in rows if d.category == "content"], [(d.part, d.field) for d in rows]
    causes = {(d.part, d.field) for d in rows if d.is_cause}
    assert ("DW_AT_comp_dir", "rust comp_dir") in causes
    assert (".debug_str", "rust build path") in causes
    for d in rows:
        if d.is_cause:
            assert d.category == "build-path" and "--remap-path-prefix" in d.hint
    assert {(d.part, d.field) for d in rows if not d.is_cause} >= {
        (".note.gnu.build-id", "build-id from build path")}


def test_build_directory_in_other_files(tmp_path: Path) -> None:
    """A generated text file and a binary cache holding the build directory: `build path`
    rows naming both directories, not `content`."""
    def files(root: str) -> list[tuple[str, bytes | None, int]]:
        script = f"#!/bin/sh\nexec {root}/venv/bin/python -m app \"$@\"\n".encode()
        cache = b"\x00\x01" + (root.encode() + b"/lib/x.so").ljust(64, b"\0") + bytes(range(40))
        return [("rootfs/opt", None, 0o755), ("rootfs/opt/run", script, 0o755),
                ("rootfs/opt/cache.bin", cache, 0o644)]

    report = _pair(tmp_path, files("/build/a1"), files("/home/ci/work/b22"))
    for entry in ("rootfs/opt/run", "rootfs/opt/cache.bin"):
        (row,) = [d for d in report.divergences if d.entry == entry and d.is_cause]
        assert (row.field, row.category) == ("build path", "build-path")
        assert (row.a, row.b) == ("/build/a1", "/home/ci/work/b22")
    assert not [d for d in report.divergences if d.category == "content"]


def test_go_dependency_drift_reads_as_a_module_version(tmp_path: Path) -> None:
    """The same program built (with -trimpath) against example.com/greet v1.2.3 and v1.2.4,
    served from a file:// module proxy made here: one `go module` row, the rest derived."""
    import zipfile

    go = shutil.which("go")
    if go is None:
        pytest.skip("the go command is not installed")
    proxy = tmp_path / "proxy" / "example.com" / "greet" / "@v"
    proxy.mkdir(parents=True)
    mod = "module example.com/greet\n\ngo 1.18\n"
    (proxy / "list").write_text("v1.2.3\nv1.2.4\n")
    for v in ("v1.2.3", "v1.2.4"):
        (proxy / f"{v}.info").write_text(json.dumps({"Version": v,
                                                     "Time": "2024-01-01T00:00:00Z"}))
        (proxy / f"{v}.mod").write_text(mod)
        with zipfile.ZipFile(proxy / f"{v}.zip", "w") as z:
            z.writestr(f"example.com/greet@{v}/go.mod", mod)
            z.writestr(f"example.com/greet@{v}/greet.go",
                       'package greet\n\nfunc Hello() string { return "hi" }\n')
    env = {**os.environ, "GOPATH": str(tmp_path / "gopath"), "GOCACHE": str(tmp_path / "gc"),
           "GOPROXY": f"file://{tmp_path / 'proxy'}", "GOSUMDB": "off", "GONOSUMDB": "*",
           "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOWORK": "off"}
    bins = []
    for v in ("v1.2.3", "v1.2.4"):
        d = tmp_path / "app"
        d.mkdir(exist_ok=True)
        (d / "go.mod").write_text(f"module example.com/app\n\ngo 1.18\n\n"
                                  f"require example.com/greet {v}\n")
        (d / "go.sum").unlink(missing_ok=True)
        (d / "main.go").write_text('package main\n\nimport "example.com/greet"\n\n'
                                   "func main() { println(greet.Hello()) }\n")
        subprocess.run([go, "build", "-trimpath", "-o", "app", "."], cwd=d, env=env,
                       check=True, capture_output=True, timeout=600)
        bins.append((d / "app").read_bytes())
    report = _pair(tmp_path / "eif", [("rootfs/bin/app", bins[0], 0o755)],
                   [("rootfs/bin/app", bins[1], 0o755)])
    causes = [(d.part, d.field, d.a, d.b) for d in report.divergences if d.is_cause]
    assert causes == [("example.com/greet", "go module", "example.com/greet v1.2.3",
                       "example.com/greet v1.2.4")]
    assert "go.mod" in report.divergences[0].hint


@pytest.mark.slow
def test_a_large_jar_is_compared_in_bounded_memory(tmp_path: Path) -> None:
    """A jar holding one stored 64 MiB member whose timestamp differs: the member row is found
    with its bytes hashed in windows of the mapped image (hashing each member whole kept both
    sides resident: about 190 MB for an 80 MiB member)."""
    blob = random.Random(9).randbytes(64 << 20)
    images = []
    for side, stamp in (("a", (2024, 1, 1, 0, 0, 0)), ("b", (2024, 6, 1, 0, 0, 0))):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as jar:
            jar.writestr(zipfile.ZipInfo("big.bin", date_time=stamp), blob)
        images.append(make_eif(tmp_path / f"{side}.eif", ramdisks=[BOOT_CPIO, cpio([
            CpioMember("app", mode=S_IFDIR | 0o755, nlink=2),
            CpioMember("app/lib.jar", data=buf.getvalue())])]))
    run = run_measured(*images, "--json", "--no-remedies")
    assert run.code == 1, run.err
    assert run.rss_mb < 110, f"compare: {run.rss_mb:.0f} MB"
    rows = json.loads(run.text)["divergences"]
    assert [(r["part"], r["category"]) for r in rows if r["entry"] == "app/lib.jar"] == [
        ("big.bin", "timestamp")]
