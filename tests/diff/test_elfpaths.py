"""Build paths across an ELF pair's sections (eifdiff/diff/elfpaths.py), on programs the real
Go and C toolchains build in two directories."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from eifdiff.diff.approws import PATH_FIELDS
from eifdiff.diff.buildpaths import common_directory
from eifdiff.diff.elfpaths import BUILD_PATH, CONTENT, DERIVED, elf_build_paths
from eifdiff.formats.cpio import S_IFDIR, CpioMember
from eifdiff.formats.toolchain import detect_toolchain
from eifdiff.rules import ELF, SECTION_PATHS, rule
from tests.builders import BOOT_CPIO, cpio, make_eif
from tests.helpers import run_measured

GO_MAIN = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n'
C_MAIN = '#include <stdio.h>\nint main(void) { puts(__FILE__); return 0; }\n'


def go_build(tmp: Path, folder: str, source: str = GO_MAIN) -> bytes:
    """`go build` (no -trimpath, GOFLAGS empty, no network) of a module with no
    dependencies in `tmp/folder`."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("the go command is not installed")
    d = tmp / folder
    d.mkdir(parents=True)
    (d / "go.mod").write_text("module example.com/hello\n\ngo 1.18\n")
    (d / "main.go").write_text(source)
    env = {**os.environ, "GOFLAGS": "", "GOCACHE": str(tmp / "gocache"),
           "GOPATH": str(tmp / "gopath"), "GOPROXY": "off", "GOTOOLCHAIN": "local",
           "CGO_ENABLED": "0", "GOWORK": "off"}
    subprocess.run([go, "build", "-o", "hello", "."], cwd=d, env=env, check=True,
                   capture_output=True, timeout=600)
    return (d / "hello").read_bytes()


@pytest.fixture(scope="module")
def go_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, bytes, bytes]:
    tmp = tmp_path_factory.mktemp("go")
    return (tmp, go_build(tmp, "src/app"), go_build(tmp, "work/longer-dir/app"),
            go_build(tmp, "src/bpp"))


def test_go_built_in_two_directories(go_pair: tuple[Path, bytes, bytes, bytes]) -> None:
    tmp, a, b, _ = go_pair
    assert a != b
    got = elf_build_paths(a, b)
    assert got.explained
    assert got.pairs == ((f"{tmp}/src", f"{tmp}/work/longer-dir"),)
    cats = {s.name: s.category for s in got.sections}
    assert cats[".gopclntab"] == BUILD_PATH and cats[".debug_line"] == BUILD_PATH
    assert cats[".note.go.buildid"] == DERIVED
    assert CONTENT not in cats.values()
    assert got.section(".debug_line").inflated  # type: ignore[union-attr]
    (kind, ida, idb), = got.build_ids
    assert kind == "go build ID" and ida != idb
    tool = detect_toolchain(a)
    assert tool is not None and tool.name == "go"
    assert "-trimpath" in rule(ELF, PATH_FIELDS[tool.name]).hint


def test_go_same_length_directories(go_pair: tuple[Path, bytes, bytes, bytes]) -> None:
    tmp, a, _, c = go_pair
    got = elf_build_paths(a, c)
    assert got.explained and got.pairs == ((f"{tmp}/src/app", f"{tmp}/src/bpp"),)
    assert {s.name: s.category for s in got.sections} == {
        ".gopclntab": BUILD_PATH, ".debug_line": BUILD_PATH, ".note.go.buildid": DERIVED}


def test_go_changed_source_is_not_explained(tmp_path: Path) -> None:
    a = go_build(tmp_path, "one/app")
    b = go_build(tmp_path, "two/app", GO_MAIN.replace("hello", "world"))
    got = elf_build_paths(a, b)
    assert not got.explained
    assert any(s.category == CONTENT for s in got.sections)


@pytest.mark.parametrize("folders", [("b1", "build/other"), ("src/x", "src/y"),
                                     ("a-rather-long-directory/x", "s")])
def test_c_built_in_two_directories(tmp_path: Path, folders: tuple[str, str]) -> None:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    out = []
    for folder in folders:
        d = tmp_path / folder
        d.mkdir(parents=True)
        (d / "m.c").write_text(C_MAIN)
        subprocess.run([gcc, "-g", "-O1", "-o", "m", str(d / "m.c")], cwd=d, check=True,
                       capture_output=True, timeout=300)
        out.append((d / "m").read_bytes())
    got = elf_build_paths(*out)
    assert got.explained, [(s.name, s.result.unexplained[:3]) for s in got.sections]
    da, db, _ = common_directory(f"{tmp_path}/{folders[0]}/m.c", f"{tmp_path}/{folders[1]}/m.c")
    assert got.pairs[0] == (da, db)
    cats = {s.name: s.category for s in got.sections}
    assert cats.get(".rodata") == BUILD_PATH  # __FILE__
    assert CONTENT not in cats.values()
    tool = detect_toolchain(out[0])
    assert tool is not None and tool.name == "c"
    assert tool.name not in PATH_FIELDS and "-ffile-prefix-map" in rule(ELF, SECTION_PATHS).hint


def test_go_changed_constant_in_code_is_not_a_moved_offset(tmp_path: Path) -> None:
    """An immediate 7 -> 8 in .text, built in two directories: the directories explain the
    tables, but the code change stays content (machine code takes exact moves only)."""
    src = 'package main\n\nimport "os"\n\nfunc main() { os.Exit(len(os.Args) + %d) }\n'
    a = go_build(tmp_path, "d1/app", src % 7)
    b = go_build(tmp_path, "dir-two/app", src % 8)
    got = elf_build_paths(a, b)
    assert not got.explained
    assert got.section(".text").category == CONTENT  # type: ignore[union-attr]
    assert got.pairs == ((f"{tmp_path}/d1", f"{tmp_path}/dir-two"),)


@pytest.mark.slow
def test_large_elf_files_built_in_two_directories_in_bounded_memory(tmp_path: Path) -> None:
    """Two 64 MiB executables (a large read-only blob) built in two directories: the build
    path is found with sections read as views of the image in windows. Copying each file and
    each section, and hashing whole sections, took over 600 MB for 100 MiB files."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    blob = tmp_path / "blob.bin"
    blob.write_bytes(random.Random(8).randbytes(64 << 20))
    source = ('__asm__(".section .rodata\\n.global blob\\nblob: .incbin \\"' + str(blob)
              + '\\"\\n.previous\\n");\nextern const char blob[];\n'
              'int main(void) { return blob[7]; }\n')
    images = []
    for side, folder in (("a", "build-a"), ("b", "build-bbbb")):
        work = tmp_path / folder
        work.mkdir()
        (work / "app.c").write_text(source)
        subprocess.run([gcc, "-g", "-O1", "-o", "app", "app.c"], cwd=work, check=True,
                       capture_output=True, timeout=300)
        images.append(make_eif(tmp_path / f"{side}.eif", ramdisks=[BOOT_CPIO, cpio([
            CpioMember("app", mode=S_IFDIR | 0o755, nlink=2),
            CpioMember("app/app", data=(work / "app").read_bytes(), mode=0o100755)])]))
    run = run_measured(*images, "--json")
    assert run.code == 1, run.err
    assert run.rss_mb < 150, f"compare: {run.rss_mb:.0f} MB"
    report = json.loads(run.text)
    (cause,) = report["root_causes"]
    assert "build-a" in cause["title"] and "build-bbbb" in cause["title"]
