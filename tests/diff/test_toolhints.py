"""Toolchain-aware fixes (eifdiff/diff/toolhints.py)."""

from __future__ import annotations

from eifdiff.diff.toolhints import HINTS, hint


def test_most_specific_first() -> None:
    assert "-trimpath" in hint("build-path", "go")
    assert "--remap-path-prefix" in hint("build-path", "rust")
    assert "-ffile-prefix-map" in hint("build-path", "c++")
    assert "compileall -d" in hint("pyc-path", "python")
    assert "SOURCE_DATE_EPOCH" in hint("pyc-mtime", "python")
    assert "-buildvcs=false" in hint("vcs-stamp", "go")
    assert "outputTimestamp" in hint("archive-time", "java", "maven")
    assert "preserveFileTimestamps" in hint("archive-time", "java", "gradle")
    assert "--date" in hint("archive-time", "java")


def test_fallbacks() -> None:
    assert hint("build-path", "cobol") == HINTS[("build-path",)]
    assert hint("archive-time", "java", "ant") == HINTS[("archive-time", "java")]
    assert hint("unknown-cause") == ""
