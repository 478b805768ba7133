"""Which toolchain made a file (eifdiff/formats/toolchain.py), on files the real compilers,
archivers and interpreters of this machine produce."""

from __future__ import annotations

import os
import py_compile
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from eifdiff.formats.toolchain import detect_toolchain


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def _build(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, timeout=600,
                   env={**os.environ, **(env or {})})


def test_gcc_c(tmp_path: Path) -> None:
    (tmp_path / "m.c").write_text("int main(void) { return 0; }\n")
    _build([_tool("gcc"), "-g", "-o", "m", "m.c"], tmp_path)
    got = detect_toolchain((tmp_path / "m").read_bytes())
    assert got is not None and got.name == "c" and got.evidence.startswith(".comment: GCC:")
    assert got.version is not None and got.version[0].isdigit()


def test_gxx_cpp(tmp_path: Path) -> None:
    (tmp_path / "m.cc").write_text("#include <string>\nint main() { std::string s(\"x\");"
                                   " return (int)s.size() - 1; }\n")
    _build([_tool("g++"), "-o", "m", "m.cc"], tmp_path)
    got = detect_toolchain((tmp_path / "m").read_bytes())
    assert got is not None and got.name == "c++"


def test_go(tmp_path: Path) -> None:
    go = _tool("go")
    (tmp_path / "go.mod").write_text("module example.com/t\n\ngo 1.18\n")
    (tmp_path / "main.go").write_text("package main\n\nfunc main() {}\n")
    _build([go, "build", "-o", "t", "."], tmp_path,
           {"GOFLAGS": "", "GOCACHE": str(tmp_path / "cache"), "GOPATH": str(tmp_path / "gp"),
            "GOPROXY": "off", "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"})
    got = detect_toolchain((tmp_path / "t").read_bytes())
    version = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout
    assert got is not None and got.name == "go" and got.evidence == ".go.buildinfo"
    assert got.version == version.strip()


def test_rust(tmp_path: Path) -> None:
    (tmp_path / "m.rs").write_text("fn main() { println!(\"hi\"); }\n")
    _build([_tool("rustc"), "-o", "m", "m.rs"], tmp_path)
    got = detect_toolchain((tmp_path / "m").read_bytes())
    assert got is not None and got.name == "rust" and "rustc version" in got.evidence


def test_jar_manifest(tmp_path: Path) -> None:
    javac, jar = _tool("javac"), _tool("jar")
    (tmp_path / "A.java").write_text("public class A {}\n")
    _build([javac, "-d", "classes", "A.java"], tmp_path)
    (tmp_path / "manifest.txt").write_text("Created-By: Apache Maven 3.9.6\n"
                                           "Build-Jdk-Spec: 17\n")
    _build([jar, "cfm", "a.jar", "manifest.txt", "-C", "classes", "."], tmp_path)
    got = detect_toolchain((tmp_path / "a.jar").read_bytes(), "app/a.jar")
    assert got is not None and (got.name, got.version, got.builder) == ("java", "17", "maven")
    _build([jar, "cf", "b.jar", "-C", "classes", "."], tmp_path)
    plain = detect_toolchain((tmp_path / "b.jar").read_bytes())
    assert plain is not None and plain.name == "java" and plain.builder is None
    assert "Created-By" in plain.evidence  # the JDK's own jar tool names itself


def test_wheel_and_pyc(tmp_path: Path) -> None:
    whl = tmp_path / "w.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("p-1.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: bdist_wheel (0.42.0)\n")
    got = detect_toolchain(whl.read_bytes(), "w.whl")
    assert got is not None and (got.name, got.builder) == ("python", "bdist_wheel")
    (tmp_path / "m.py").write_text("x = 1\n")
    py_compile.compile(str(tmp_path / "m.py"), cfile=str(tmp_path / "m.pyc"), doraise=True)
    import sys

    pyc = detect_toolchain((tmp_path / "m.pyc").read_bytes(), "a/m.pyc")
    assert pyc is not None and pyc.name == "python"
    assert pyc.version == f"{sys.version_info[0]}.{sys.version_info[1]}"


def test_nothing_to_tell() -> None:
    assert detect_toolchain(b"plain text") is None
    assert detect_toolchain(b"\x7fELF broken") is None
    assert detect_toolchain(b"PK\x03\x04 broken") is None
