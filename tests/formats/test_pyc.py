"""`.pyc` headers and the marshal reader (eifdiff/formats/pyc.py), checked against every Python
3.8-3.13 interpreter present on the machine."""

from __future__ import annotations

import glob
import json
import marshal
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from eifdiff.errors import FormatError
from eifdiff.formats.pyc import (
    MAX_DEPTH,
    Atom,
    Code,
    Container,
    parse_pyc,
    parse_pyc_header,
    python_version,
    read_code,
)

SOURCE = '''\
"""doc"""
import os
BIG = 1267650600228229401496703205376
NEG = -1180591620717411303424
VALUES = (1.5, -0.0, 2j, b"\\x00raw", "caf\\u00e9", "\\U0001f600", None, True, False, ..., 7)

def outer(a, /, b, *, c=3):
    def inner(x):
        return [y * 2 for y in x if y in {1, 2, 3}]
    return inner(lambda: a + b + c)

class Thing:
    def method(self):
        return frozenset({"k"})
'''

DUMP = r'''
import json, py_compile, sys
src, out = sys.argv[1], sys.argv[2]
py_compile.compile(src, cfile=out, dfile=sys.argv[3], doraise=True)
code = compile(open(src).read(), sys.argv[3], "exec")
rows = []
def walk(c):
    rows.append([c.co_name, getattr(c, "co_qualname", c.co_name), c.co_filename,
                 c.co_firstlineno, c.co_flags, c.co_code.hex(), list(c.co_names)])
    for k in c.co_consts:
        if hasattr(k, "co_code"):
            walk(k)
walk(code)
consts = [repr(k) for k in code.co_consts if not hasattr(k, "co_code")]
print(json.dumps({"version": list(sys.version_info[:2]), "codes": rows, "consts": consts}))
'''


def interpreters() -> dict[tuple[int, int], str]:
    """Every Python 3.8-3.13 that runs here: the current one, `python3.N` on PATH, pyenv's."""
    found: dict[tuple[int, int], str] = {sys.version_info[:2]: sys.executable}
    candidates = [shutil.which(f"python3.{m}") for m in range(8, 14)]
    candidates += sorted(glob.glob(str(Path.home() / ".pyenv/versions/3.*/bin/python3")))
    for exe in filter(None, candidates):
        try:
            out = subprocess.run([exe, "-c", "import sys; print(*sys.version_info[:2])"],
                                 capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0:
            major, minor = map(int, out.stdout.split())
            if (3, 8) <= (major, minor) <= (3, 13):
                found.setdefault((major, minor), exe)
    return found


INTERPRETERS = interpreters()


@pytest.mark.parametrize("minor", range(8, 14))
def test_reader_matches_each_interpreter(minor: int, tmp_path: Path) -> None:
    exe = INTERPRETERS.get((3, minor))
    if exe is None:
        pytest.skip(f"Python 3.{minor} is not installed here")
    src = tmp_path / "mod.py"
    src.write_text(SOURCE)
    script = tmp_path / "dump.py"
    script.write_text(DUMP)
    out = subprocess.run([exe, str(script), str(src), str(tmp_path / "mod.pyc"),
                          "/opt/app/pkg/mod.py"], capture_output=True, text=True, check=True)
    want = json.loads(out.stdout)
    pyc = parse_pyc((tmp_path / "mod.pyc").read_bytes())
    assert pyc.version == (3, minor) == tuple(want["version"])
    assert pyc.header.flags == 0 and pyc.header.source_size == len(SOURCE.encode())
    got = [[c.name, c.qualname, c.filename, c.firstlineno, c.flags, c.bytecode.hex(),
            list(c.names)] for c in pyc.code.walk()]
    assert got == want["codes"]
    consts = [repr(k) for k in pyc.code.consts if not isinstance(k, Code)]
    assert consts == want["consts"]
    assert Atom("Ellipsis") in pyc.code.consts[[isinstance(k, tuple) for k in
                                                pyc.code.consts].index(True)]
    assert pyc.code.filenames == ("/opt/app/pkg/mod.py",)
    assert 2 ** 100 in pyc.code.consts and -(2 ** 70) in pyc.code.consts


def test_same_code_compiled_in_two_places(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text(SOURCE)
    import py_compile

    pycs = []
    for where in ("/tmp/pip-target-a1/lib/python/pkg/m.py",
                  "/tmp/pip-target-b2/lib/python/pkg/m.py"):
        out = tmp_path / f"{len(pycs)}.pyc"
        py_compile.compile(str(src), cfile=str(out), dfile=where, doraise=True)
        pycs.append(parse_pyc(out.read_bytes()).code)
    a, b = pycs
    assert a != b
    assert a.without_filenames() == b.without_filenames()
    assert a.filenames == ("/tmp/pip-target-a1/lib/python/pkg/m.py",)
    changed = compile(SOURCE.replace("BIG =", "BIG = 1 +"), "x", "exec")
    c = read_code(marshal.dumps(changed), sys.version_info[:2])
    assert c.without_filenames() != a.without_filenames()


def test_hash_based_header() -> None:
    head = struct.pack("<H2sI8s", 3495, b"\r\n", 3, bytes(range(8)))
    h = parse_pyc_header(head)
    assert h is not None and h.hash_based and h.check_source and h.version == (3, 11)
    assert h.source_hash == "0001020304050607" and h.source_mtime is None
    assert parse_pyc_header(head[:15]) is None
    assert parse_pyc_header(b"xx\r\x0a" + bytes(12)) is not None
    assert parse_pyc_header(struct.pack("<H2sI8s", 3495, b"\r\n", 4, bytes(8))) is None


def test_python_versions() -> None:
    assert python_version(3413) == (3, 8)
    assert python_version(3571) == (3, 13)
    assert python_version(3394) is None and python_version(3600) is None


def test_other_containers() -> None:
    data = marshal.dumps([1, {"a": (2,)}, {3}])
    reader_value = read_code.__globals__["_Reader"](data, (3, 11), 0).obj()
    assert reader_value == Container("list", (1, Container("dict", (("a", (2,)),)),
                                              Container("set", (3,))))


def _pyc(body: bytes, magic: int = 3495) -> bytes:
    return struct.pack("<H2sIII", magic, b"\r\n", 0, 0, 0) + body


@pytest.mark.parametrize(("body", "message"), [
    (b"", "1 bytes claimed"),
    (b"i\x01\x00", "4 bytes claimed"),
    (b"s\xff\xff\xff\x7f", "exceeds"),
    (b"(\x00\x00\x00\x10", "exceeds"),
    (b"r\x05\x00\x00\x00", "bad back-reference 5"),
    (b"\xa9\x01r\x00\x00\x00\x00", "bad back-reference 0"),  # a tuple holding itself
    (b"?", "unknown type code"),
    (b"l\xff\xff\x00\x00", "integer of"),
    (b"u\x02\x00\x00\x00\xff\xfe", "bad UTF-8"),
    (b"i\x01\x00\x00\x00", "does not hold a code object"),
    (b")\x01" * (MAX_DEPTH + 5) + b"N", "nested too deeply"),
])
def test_hostile_streams_fail_with_offsets(body: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message) as info:
        parse_pyc(_pyc(body))
    assert info.value.offset is not None and info.value.offset >= 16


def test_unknown_versions_are_refused() -> None:
    with pytest.raises(FormatError, match=r"unknown \.pyc magic"):
        parse_pyc(_pyc(b"N", magic=3000))
    with pytest.raises(FormatError, match=r"not a \.pyc"):
        parse_pyc(b"nope")


def test_truncations_never_crash() -> None:
    code = compile(SOURCE, "/x/m.py", "exec")
    data = _pyc(marshal.dumps(code), magic=struct.unpack("<H", _own_magic())[0])
    for cut in range(16, len(data), 7):
        with pytest.raises(FormatError):
            parse_pyc(data[:cut])


def _own_magic() -> bytes:
    import importlib.util

    return importlib.util.MAGIC_NUMBER[:2]



@pytest.mark.parametrize("kind", [b"f", b"x"])
def test_a_text_float_that_is_not_a_number_is_a_format_error(kind: bytes) -> None:
    """Old marshal text floats (`f`, and `x` for complex numbers) hold ASCII digits; anything
    else is damage, reported where it is, not a crash."""
    from eifdiff.errors import FormatError
    from eifdiff.formats.pyc import read_code

    garbage = b"\x03d\x02z"  # length 3, then bytes that are no number
    with pytest.raises(FormatError, match="is not a number"):
        read_code(kind + garbage + garbage, (3, 12))
