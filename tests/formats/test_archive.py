"""Nested archives read with bounds (eifdiff/formats/archive.py)."""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import tarfile
import zipfile
import zlib
from calendar import timegm

import pytest

from eifdiff.errors import FormatError
from eifdiff.formats import archive
from eifdiff.formats.archive import detect, dos_epoch, extra_fields, read_archive, read_zip


def make_zip(members: dict[str, bytes], when: tuple[int, ...] = (2024, 1, 2, 3, 4, 6),
             method: int = zipfile.ZIP_DEFLATED, mode: int = 0o644) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, when)
            info.compress_type = method
            info.external_attr = mode << 16
            info.create_system = 3
            z.writestr(info, data)
    return buf.getvalue()


def make_tar(members: dict[str, bytes], mtime: int = 1700000000) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode, info.uname = len(data), mtime, 0o755, "builder"
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_zip_members_and_fields() -> None:
    data = make_zip({"a.txt": b"hello" * 100, "dir/b.bin": bytes(range(256))})
    arc = read_zip(data, "app.jar")
    assert arc.kind == "zip" and arc.anomalies == ()
    a, b = arc.members
    assert (a.name, a.index, a.size, a.kind, a.method) == ("a.txt", 0, 500, "file", 8)
    assert a.mtime == timegm((2024, 1, 2, 3, 4, 6)) and a.mode == 0o644
    assert a.crc == zlib.crc32(b"hello" * 100) and a.external_attr == 0o644 << 16
    assert a.digest == hashlib.sha256(b"hello" * 100).hexdigest()
    assert b.offset > a.offset and bytes(data[b.offset : b.offset + 4]) == b"PK\x03\x04"
    assert b.compressed_size > 0 and b.data_offset == b.offset + 30 + len("dir/b.bin")


def test_extended_timestamp_wins_over_dos_time() -> None:
    ut = struct.pack("<HHBi", 0x5455, 5, 1, 1234567890)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("x", (2020, 1, 1, 0, 0, 0))
        info.extra = ut
        z.writestr(info, b"x")
    (m,) = read_zip(buf.getvalue()).members
    assert m.mtime == 1234567890 and m.dos_time is not None
    assert m.extra == ((0x5455, ut[4:]),)


def test_bad_crc_is_an_anomaly() -> None:
    data = bytearray(make_zip({"a": b"abc"}, method=zipfile.ZIP_STORED))
    data[data.index(b"abc")] = ord("x")
    arc = read_zip(bytes(data), "w.whl")
    assert len(arc.members) == 1 and arc.members[0].digest is not None
    (an,) = arc.anomalies
    assert an.path == "w.whl:a" and "CRC" in an.message and an.offset == 31


def test_zip_bomb_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "MAX_TOTAL", 1 << 20)
    data = make_zip({"bomb": bytes(4 << 20)})
    arc = read_zip(data)
    assert arc.members == () or arc.members[0].digest is None
    assert "in total" in arc.anomalies[0].message


def test_member_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "MAX_MEMBERS", 3)
    arc = read_zip(make_zip({f"m{i}": b"" for i in range(6)}))
    assert len(arc.members) == 3 and "more than 3 members" in arc.anomalies[0].message


def test_truncated_zips() -> None:
    data = make_zip({"a": b"abc" * 50, "b": b"def"})
    with pytest.raises(FormatError, match="end-of-central-directory"):
        read_zip(data[:-30])
    lost = data[:20] + bytes(len(data) - 20)
    with pytest.raises(FormatError):
        read_zip(lost)
    # the local header area wiped, directory intact: anomalies, no crash
    cd = data.index(b"PK\x01\x02")
    arc = read_zip(bytes(cd) + data[cd:])
    assert len(arc.members) == 2 and len(arc.anomalies) == 2


def test_prepended_stub_is_followed() -> None:
    data = b"#!/bin/sh\nexit 0\n" + make_zip({"a": b"abc"})
    (m,) = read_zip(data).members
    assert m.digest is not None and data[m.offset : m.offset + 4] == b"PK\x03\x04"


def test_tar_and_tar_gz() -> None:
    raw = make_tar({"pkg/a": b"abc", "pkg/b": b"defg"})
    arc = read_archive(raw, "x.tar")
    assert arc is not None and arc.kind == "tar" and arc.wrapper is None
    a, b = arc.members
    assert (a.name, a.mtime, a.mode, a.owner, a.size) == ("pkg/a", 1700000000, 0o755,
                                                          "builder", 3)
    assert (b.index, b.size, b.offset) == (1, 4, 1024)
    assert raw[a.data_offset : a.data_offset + 3] == b"abc"
    gz = gzip.compress(raw, mtime=42)
    arc2 = read_archive(gz, "x.tar.gz")
    assert arc2 is not None and arc2.kind == "tar" and arc2.wrapper is not None
    assert arc2.wrapper.mtime == 42 and arc2.members == arc.members


def test_plain_gzip_is_one_member() -> None:
    arc = read_archive(gzip.compress(b"text\n", mtime=7), "share/doc/changelog.gz")
    assert arc is not None and arc.kind == "gzip"
    (m,) = arc.members
    assert (m.name, m.size, m.mtime) == ("changelog", 5, 7)


def test_damaged_tar_keeps_what_was_read() -> None:
    raw = make_tar({"a": b"abc", "b": b"x" * 600})  # headers at 0 and 1024
    arc = read_archive(raw[: 1024 + 300])  # the second header cut short
    assert arc is not None and [m.name for m in arc.members] == ["a"]
    assert [(x.message, x.offset) for x in arc.anomalies] == [
        ("300 bytes after the last member are not a tar header", 1024)]
    arc = read_archive(raw[: 1024 + 512 + 100])  # the second member's content cut short
    assert arc is not None and [m.name for m in arc.members] == ["a", "b"]
    assert arc.members[1].digest is None
    assert arc.anomalies[0].message == "600 bytes claimed past the archive's end"


def test_detect_and_helpers() -> None:
    assert detect(b"PK\x03\x04") == "zip" and detect(b"\x1f\x8b\x08") == "gzip"
    assert detect(bytes(257) + b"ustar") == "tar" and detect(b"ELF") is None
    assert read_archive(b"plain") is None
    assert dos_epoch(0, 0) is None
    assert dos_epoch((44 << 9) | (1 << 5) | 1, 0) == timegm((2024, 1, 1, 0, 0, 0))
    assert extra_fields(b"\x01\x00\x02\x00ab\x99") == ((1, b"ab"), (-1, b"\x99"))


def test_gzip_bomb_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "MAX_GZIP", 1 << 20)
    with pytest.raises(FormatError, match="inflates past"):
        read_archive(gzip.compress(bytes(4 << 20)), "bomb.gz")
