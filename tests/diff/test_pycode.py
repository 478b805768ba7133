"""`.pyc` pairs explained (eifdiff/diff/pycode.py), with packages really installed twice by
`pip install --target` from a wheel built here (no index, no network)."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import py_compile
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from eifdiff.diff.pycode import DIFFERENT, FILENAMES, SAME, UNREADABLE, compare_pyc, source_of

FILES = {
    "tinypkg/__init__.py": b'def hello():\n    return [x for x in "hi"]\n',
    "tinypkg/util.py": b"X = 1\nclass K:\n    def f(self):\n        return lambda: X\n",
}


def make_wheel(folder: Path, name: str = "tinypkg", version: str = "1.0") -> Path:
    """A pure-Python wheel written with zipfile: the package files, METADATA, WHEEL, RECORD."""
    info = f"{name}-{version}.dist-info"
    files = dict(FILES)
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    files[f"{info}/METADATA"] = meta.encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n" \
                             b"Tag: py3-none-any\n"
    lines = []
    for n, d in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode()
        lines.append(f"{n},sha256={digest},{len(d)}")
    files[f"{info}/RECORD"] = ("\n".join(lines) + f"\n{info}/RECORD,,\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for n, d in files.items():
            z.writestr(n, d)
    return wheel


def pip_target(wheel: Path, target: Path) -> None:
    if importlib.util.find_spec("pip") is None:
        pytest.skip("pip is not installed in this Python")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                    "--target", str(target), str(wheel)], check=True, env=env,
                   capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def installed_twice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pip")
    wheel = make_wheel(root)
    pip_target(wheel, root / "t1")
    time.sleep(1.05 - time.time() % 1)  # the next second: another source mtime
    pip_target(wheel, root / "t2")
    return root / "t1", root / "t2"


def test_pip_target_twice_gives_mtime_and_compile_folder(installed_twice: tuple[Path, Path]
                                                          ) -> None:
    t1, t2 = installed_twice
    pycs = sorted(p.relative_to(t1) for p in t1.rglob("*.pyc"))
    assert len(pycs) == 2
    for rel in pycs:
        a, b = (t1 / rel).read_bytes(), (t2 / rel).read_bytes()
        assert a != b
        got = compare_pyc(a, b, f"opt/app/{rel}")
        assert got.code == FILENAMES and got.explained
        fields = {c.field: c for c in got.changes}
        assert set(fields) == {"pyc source mtime", "compiled in"}
        assert fields["pyc source mtime"].category == "timestamp"
        assert fields["pyc source mtime"].b - fields["pyc source mtime"].a >= 1  # type: ignore
        da, db = got.compiled_in[0]
        assert da.startswith("/tmp/pip-target-") and da.endswith("/lib/python")
        assert db.startswith("/tmp/pip-target-") and db.endswith("/lib/python") and da != db
        assert fields["compiled in"].category == "build-path"
        assert got.installed_at == "/opt/app"


def test_same_code_and_header_is_same(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_bytes(FILES["tinypkg/util.py"])
    py_compile.compile(str(src), cfile=str(tmp_path / "a.pyc"), dfile="/x/m.py", doraise=True)
    data = (tmp_path / "a.pyc").read_bytes()
    assert compare_pyc(data, data).code == SAME


def test_changed_code_is_content(tmp_path: Path) -> None:
    out = []
    for i, text in enumerate((b"X = 1\n", b"X = 2\n")):
        src = tmp_path / f"m{i}.py"
        src.write_bytes(text)
        py_compile.compile(str(src), cfile=str(tmp_path / f"{i}.pyc"), dfile=f"/d{i}/m.py",
                           doraise=True)
        out.append((tmp_path / f"{i}.pyc").read_bytes())
    got = compare_pyc(out[0], out[1], "app/m.pyc")
    assert got.code == DIFFERENT and not got.explained
    assert [c.field for c in got.changes if c.category == "content"] == ["code"]


def test_unreadable_side() -> None:
    got = compare_pyc(b"\x00" * 20, b"\x00" * 20)
    assert got.code == UNREADABLE and got.problem == "not a .pyc header"


def test_compiled_in_without_entry_name(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_bytes(b"def f():\n    return 1\n")
    out = []
    for where in ("/build/one/pkg/m.py", "/srv/two/pkg/m.py"):
        py_compile.compile(str(src), cfile=str(tmp_path / "x.pyc"), dfile=where, doraise=True)
        out.append((tmp_path / "x.pyc").read_bytes())
    got = compare_pyc(out[0], out[1])
    assert got.compiled_in == (("/build/one", "/srv/two"),) and got.installed_at is None


def test_source_of() -> None:
    assert source_of("a/__pycache__/m.cpython-311.pyc") == "a/m.py"
    assert source_of("a/m.pyc") == "a/m.py"
    assert source_of("a/m.py") is None
