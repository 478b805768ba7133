"""The progress line: silent unless stderr is a terminal and the inputs are large; a bar that
fills stage by stage, cleared at the end."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from eifdiff.progress import LARGE, Progress


def test_silent_for_small_files_or_no_terminal(tmp_path: Path) -> None:
    small = tmp_path / "small.eif"
    small.write_bytes(b"x" * 10)
    assert not Progress.for_files(str(small), str(small)).enabled
    assert not Progress.for_files(str(tmp_path / "missing")).enabled


def test_bar_fills_and_clears(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    with Progress(enabled=True) as p:
        p.stage("reading", steps=2)
        p.stage("comparing")
    text = err.getvalue()
    assert "[------------------------]" in text and "reading" in text
    assert "[############------------]" in text and "comparing" in text
    assert text.endswith("\r\x1b[K")
    big = tmp_path / "big.eif"
    with big.open("wb") as f:
        f.truncate(LARGE)
    monkeypatch.setattr("sys.stderr", type("Tty", (io.StringIO,), {"isatty": lambda s: True})())
    assert Progress.for_files(str(big)).enabled
