"""eifdiff.errors: one root exception, FormatError's message shape, Anomaly rendering."""

from __future__ import annotations

import pytest

from eifdiff.errors import Anomaly, EifdiffError, FormatError


def test_format_error_shape() -> None:
    exc = FormatError("bad magic at offset 0", source="a.eif", offset=0)
    assert isinstance(exc, EifdiffError)
    assert str(exc) == "a.eif: bad magic at offset 0"
    assert (exc.source, exc.offset, exc.detail) == ("a.eif", 0, "bad magic at offset 0")
    bare = FormatError("x")
    assert str(bare) == "x" and bare.offset is None and bare.source == ""


def test_anomaly_str_and_frozen() -> None:
    a = Anomaly("ramdisk[1]:rootfs/bin/app", "checksum does not match", 6000)
    assert str(a) == "ramdisk[1]:rootfs/bin/app at offset 6000: checksum does not match"
    assert str(Anomaly("metadata", "not JSON")) == "metadata: not JSON"
    with pytest.raises(AttributeError):
        a.offset = 1  # type: ignore[misc]
    assert a == Anomaly("ramdisk[1]:rootfs/bin/app", "checksum does not match", 6000)
