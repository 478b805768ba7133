"""eifdiff.mapped: read-only maps and windowed streaming."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

import eifdiff.mapped as mapped_mod
from eifdiff.errors import EifdiffError
from eifdiff.mapped import MappedFile


def test_map_and_windows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mapped_mod, "WINDOW", 4096 * 3)
    data = bytes(range(256)) * 200 + b"tail"
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    with MappedFile.open(path) as mf:
        assert mf.size == len(data) and mf.path == str(path)
        assert bytes(mf.view) == data
        chunks = [bytes(c) for c in mf.windows(0, len(data))]
        assert b"".join(chunks) == data
        assert max(len(c) for c in chunks) == 4096 * 3 and len(chunks) == 5
        assert b"".join(bytes(c) for c in mf.windows(100, 20000)) == data[100:20000]
        assert list(mf.windows(50, 50)) == [] and list(mf.windows(60, 50)) == []
    assert mf.fd == -1


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    with MappedFile.open(path) as mf:
        assert mf.size == 0 and bytes(mf.view) == b""
        assert list(mf.windows(0, 0)) == []


def test_open_errors(tmp_path: Path) -> None:
    with pytest.raises(EifdiffError) as info:
        MappedFile.open(tmp_path / "missing.eif")
    assert str(info.value).startswith(str(tmp_path / "missing.eif") + ": cannot open")
    with pytest.raises(EifdiffError):
        MappedFile.open(tmp_path)  # a directory cannot be mapped


def test_close_with_live_slice(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abcdef")
    mf = MappedFile.open(path)
    part = mf.view[1:3]
    mf.close()  # must not raise although a slice is still alive
    assert bytes(part) == b"bc"
    mf.close()  # idempotent


@pytest.mark.parametrize("size", [0, 1, mapped_mod.WINDOW, 2 * mapped_mod.WINDOW + 5])
def test_sha256_and_write_of_a_view_go_in_counted_windows(
        tmp_path: Path, size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(size)
    counted: list[int] = []
    monkeypatch.setattr(mapped_mod, "touched", counted.append)
    assert mapped_mod.sha256_of(memoryview(data)) == hashlib.sha256(data).hexdigest()
    assert sum(counted) == size and all(n <= mapped_mod.WINDOW for n in counted)
    counted.clear()
    out = io.BytesIO()
    mapped_mod.write_view(out, memoryview(data))
    assert out.getvalue() == data
    assert sum(counted) == size and all(n <= mapped_mod.WINDOW for n in counted)
